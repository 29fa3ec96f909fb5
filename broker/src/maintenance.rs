//! The background task: `flush.ms` every second, the holds of gone brokers' consumers
//! released, a storage failure under replication noticed, retention every `maintenance_interval`,
//! compaction of compacted topics every `cleaner_interval`, leaders handed back to their
//! preferred replicas every `leader_rebalance_interval`.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::broker::Broker;

impl Broker {
    /// Starts the background task; it ends when the broker is dropped or the task aborted.
    pub(crate) fn start_maintenance(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(run(Arc::downgrade(self)))
    }
}

async fn run(broker: Weak<Broker>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_retention = Instant::now();
    let mut last_cleaning = Instant::now();
    let mut last_rebalance = Instant::now();
    loop {
        tick.tick().await;
        let Some(broker) = broker.upgrade() else {
            return;
        };
        let retention = last_retention.elapsed() >= broker.config().maintenance_interval;
        if retention {
            last_retention = Instant::now();
        }
        let cleaning = last_cleaning.elapsed() >= broker.config().cleaner_interval;
        if cleaning {
            last_cleaning = Instant::now();
        }
        if retention {
            broker.groups().expire_offsets().await;
        }
        broker.release_gone_holders().await;
        broker.check_storage();
        if let Some(every) = broker.config().cluster.leader_rebalance_interval
            && last_rebalance.elapsed() >= every
        {
            last_rebalance = Instant::now();
            broker.prefer_leaders().await;
        }
        let b = broker.clone();
        // Retention and compaction write and delete files: keep that off the async workers.
        let _ = tokio::task::spawn_blocking(move || b.run_maintenance(retention, cleaning)).await;
    }
}

impl Broker {
    /// Hands each partition this broker leads to its preferred replica (the first of its set,
    /// where assignment spread the leaders) when that replica is in sync: after a broker
    /// restarts, the leadership it lost comes back to it. A queue's cursor topic goes to the
    /// queue's leader.
    pub async fn prefer_leaders(&self) {
        let node = self.config().node_id;
        let lag = self.config().cluster.replica_lag_time_max;
        let wait = self.config().cluster.election_timeout;
        for topic in self.topics() {
            for partition in topic.partitions() {
                let group = partition.replica();
                if !group.is_leader() {
                    continue;
                }
                let preferred = match self.queue_topic_of(topic.name()) {
                    // A queue's cursor follows the queue's leader, wherever that is.
                    Some(queue_topic) => queue_topic.and_then(|t| self.placement(&t, 0).leader),
                    None => self
                        .placement(&topic, partition.index())
                        .replicas
                        .first()
                        .copied(),
                };
                if let Some(preferred) = preferred
                    && preferred != node
                    && group.in_sync(lag).contains(&preferred)
                    && !group.transfer_to(preferred, wait).await
                {
                    tracing::debug!(
                        topic = topic.name(),
                        partition = partition.index(),
                        preferred,
                        "the preferred replica did not take the leadership"
                    );
                }
            }
        }
    }
}
