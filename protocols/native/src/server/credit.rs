//! A subscription's credit: what the server may still push before the client grants more.

use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::Notify;

/// Credit in the subscription's unit (bytes for a partition, records for a queue).
#[derive(Debug)]
pub(crate) struct Credit {
    available: AtomicI64,
    limit: i64,
    granted: Notify,
}

impl Credit {
    pub(crate) fn new(initial: u32, limit: u32) -> Credit {
        Credit {
            available: AtomicI64::new(i64::from(initial.min(limit))),
            limit: i64::from(limit),
            granted: Notify::new(),
        }
    }

    /// Adds credit, never beyond the limit.
    pub(crate) fn grant(&self, amount: u32) {
        let limit = self.limit;
        let _ = self
            .available
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                Some(now.saturating_add(i64::from(amount)).min(limit))
            });
        // Every waiter: the pushes of a group subscription share one credit.
        self.granted.notify_waiters();
    }

    /// Spends credit (a push may overdraw by its last batch).
    pub(crate) fn spend(&self, amount: usize) {
        let amount = i64::try_from(amount).unwrap_or(i64::MAX);
        self.available.fetch_sub(amount, Ordering::AcqRel);
    }

    /// Waits until some credit is available and returns it.
    pub(crate) async fn wait_positive(&self) -> u64 {
        loop {
            // Registered before the check, so a grant between the two is not missed.
            let granted = self.granted.notified();
            tokio::pin!(granted);
            granted.as_mut().enable();
            let now = self.available.load(Ordering::Acquire);
            if now > 0 {
                return now as u64;
            }
            granted.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Credit;

    #[tokio::test]
    async fn a_grant_wakes_every_waiter() {
        let credit = std::sync::Arc::new(Credit::new(0, 1000));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let credit = std::sync::Arc::clone(&credit);
                tokio::spawn(async move { credit.wait_positive().await })
            })
            .collect();
        tokio::task::yield_now().await;
        credit.grant(10);
        for waiter in waiters {
            let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await;
            assert_eq!(got.unwrap().unwrap(), 10);
        }
    }

    #[tokio::test]
    async fn credit_is_capped_and_overdrawn_credit_waits_for_a_grant() {
        let credit = Credit::new(100, 1000);
        assert_eq!(credit.wait_positive().await, 100);
        credit.spend(150);
        credit.grant(40);
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(20), credit.wait_positive());
        assert!(waiting.await.is_err());
        credit.grant(5000);
        assert_eq!(credit.wait_positive().await, 1000);
    }
}
