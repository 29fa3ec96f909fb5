//! What every protocol is asked to do, and the brokers to do it against.

use std::time::{Duration, Instant};

use indicatif::ProgressBar;

/// The workload, the same for every protocol.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Records in the produce and consume phases.
    pub records: u64,
    /// Bytes of each record's value.
    pub size: usize,
    /// Records (and RPC calls) per second in the fixed-rate phases.
    pub rate: u64,
    /// Length of each fixed-rate phase, in seconds.
    pub seconds: u64,
    /// Wait for durability (fsync) before acknowledging, rather than for the leader.
    pub durable: bool,
    /// Records the Kafka producer may hold unacknowledged (`queue.buffering.max.messages`):
    /// the produce phase's ack latency is mostly the wait in this queue.
    pub kafka_queue: u64,
}

impl Workload {
    /// When the `i`th record (or call) of a fixed-rate phase begun at `origin` is due.
    pub fn due(&self, origin: Instant, i: u64) -> Instant {
        origin + Duration::from_secs_f64(i as f64 / self.rate.max(1) as f64)
    }

    /// A payload of `size` bytes starting with `stamp` (µs since the phase's origin).
    pub fn stamped(&self, stamp: u64) -> Vec<u8> {
        let mut payload = stamp.to_be_bytes().to_vec();
        payload.resize(self.size.max(8), b'x');
        payload
    }
}

/// Reads the stamp of [`Workload::stamped`].
pub fn stamp_of(payload: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = payload.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// Writes dirty pages out (`sync`) so that the writeback of an earlier phase does not compete
/// with the next one for the CPU; failures only make the figures noisier.
pub fn settle_writeback() {
    let _ = std::process::Command::new("sync").status();
}

/// Starts a phase on the progress bar: `message`, counting from 0 to `length`.
pub fn phase(bar: &ProgressBar, message: &'static str, length: u64) {
    bar.set_message(message);
    bar.set_length(length);
    bar.set_position(0);
}
