//! A broker whose storage failed under its replication (a full or failing disk stops the
//! Raft node of a partition for good) stops as a whole, as a Kafka broker whose only log
//! directory failed halts: its partitions' leadership moves to the other replicas, and a
//! restart recovers the log from disk once the disk is usable again. Half a broker, serving
//! some partitions and silently not others, would be worse.

use tokio::sync::watch;

use crate::broker::Broker;

impl Broker {
    /// Looks for a partition whose replication stopped by itself; the first found is
    /// reported through [`Broker::storage_failed`].
    pub(crate) fn check_storage(&self) {
        if self.check_running().is_err() || self.storage_failure_watch().borrow().is_some() {
            return;
        }
        let controller = self
            .metadata()
            .controller_failure()
            .map(|e| format!("the controller: {e}"));
        let failed = controller.or_else(|| {
            self.topics().iter().find_map(|topic| {
                topic.partitions().iter().find_map(|p| {
                    p.replica()
                        .failure()
                        .map(|e| format!("{}-{}: {e}", topic.name(), p.index()))
                })
            })
        });
        if let Some(reason) = failed {
            tracing::error!(reason, "storage failed under replication: the broker stops");
            self.storage_failure_watch().send_replace(Some(reason));
        }
    }

    /// Resolves, with the reason, once the broker's storage failed under its replication:
    /// the process is to stop (and be restarted).
    pub async fn storage_failed(&self) -> String {
        let mut failed: watch::Receiver<Option<String>> = self.storage_failure_watch().subscribe();
        match failed.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            Err(_) => std::future::pending().await,
        }
    }
}
