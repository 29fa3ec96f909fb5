//! The background task: `flush.ms` every second, retention every `maintenance_interval`,
//! compaction of compacted topics every `cleaner_interval`.

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
        let b = broker.clone();
        // Retention and compaction write and delete files: keep that off the async workers.
        let _ = tokio::task::spawn_blocking(move || b.run_maintenance(retention, cleaning)).await;
    }
}
