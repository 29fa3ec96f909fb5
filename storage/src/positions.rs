//! The offsets a log publishes (log start, log end, durable) and the watch that wakes waiters.

use std::sync::atomic::Ordering;

use tokio::sync::watch;

use crate::log::PartitionLog;
use crate::log_positions::LogPositions;

impl PartitionLog {
    /// The first offset still in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.inner.log_start.load(Ordering::Acquire)
    }

    /// The offset the next append gets.
    pub fn log_end_offset(&self) -> i64 {
        self.inner.log_end.load(Ordering::Acquire)
    }

    /// Every offset below this is fsynced.
    pub fn durable_offset(&self) -> i64 {
        self.inner.positions.borrow().durable
    }

    /// Watches the log end and durable offsets (wakes long-polling readers).
    pub fn subscribe(&self) -> watch::Receiver<LogPositions> {
        self.inner.positions.subscribe()
    }
}
