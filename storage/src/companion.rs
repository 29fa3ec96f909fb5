//! A file kept beside a log whose writes must become durable together with the log's (the
//! Raft sidecar of a partition): every sync of the log syncs it too, in the same flusher
//! round, so appenders waiting for both share one group commit instead of an fsync each.

/// A file the log's flusher syncs with the log.
pub trait Companion: Send + Sync {
    /// A count that grows with every write to the file (a sync that starts after reading it
    /// covers every write counted).
    fn written(&self) -> u64;
    /// Makes every write so far durable.
    fn sync(&self) -> std::io::Result<()>;
}
