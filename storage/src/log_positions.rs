//! What a log publishes to its waiters: its end, its durable offset, its companion's syncs.

/// The positions of a log that waiters care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPositions {
    /// Offset the next append gets.
    pub log_end: i64,
    /// Every offset below this is fsynced.
    pub durable: i64,
    /// The companion file's writes counted up to this are synced (see `Companion`).
    pub companion_synced: u64,
    /// An fsync failed: nothing further is acknowledged as durable.
    pub failed: bool,
}
