//! One partition of a topic: its log and the high watermark readers may see.

use std::sync::atomic::{AtomicBool, Ordering};

use neo_storage::PartitionLog;

/// A topic partition.
#[derive(Debug)]
pub struct Partition {
    topic: String,
    index: i32,
    log: PartitionLog,
    durable: AtomicBool,
}

impl Partition {
    pub(crate) fn new(topic: &str, index: i32, log: PartitionLog, durable: bool) -> Partition {
        Partition {
            topic: topic.to_string(),
            index,
            log,
            durable: AtomicBool::new(durable),
        }
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition number.
    pub fn index(&self) -> i32 {
        self.index
    }

    /// The partition's log.
    pub fn log(&self) -> &PartitionLog {
        &self.log
    }

    /// The offset readers may read up to (exclusive). On a durable topic that is the fsynced
    /// end, so a consumer never sees a record that a crash could take back.
    pub fn high_watermark(&self) -> i64 {
        if self.durable.load(Ordering::Acquire) {
            self.log.durable_offset()
        } else {
            self.log.log_end_offset()
        }
    }

    /// Whether acknowledgements and reads wait for fsync.
    pub fn is_durable(&self) -> bool {
        self.durable.load(Ordering::Acquire)
    }

    pub(crate) fn set_durable(&self, durable: bool) {
        self.durable.store(durable, Ordering::Release);
    }
}
