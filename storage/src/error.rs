//! Errors of the storage layer, in the caller's terms.

use std::path::PathBuf;

use neo_record::BatchError;

/// Failure of a partition-log operation.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    #[error("offset {offset} out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start: i64,
        log_end: i64,
    },
    #[error("segment {path} corrupt at byte {position}: {reason}")]
    SegmentCorrupt {
        path: PathBuf,
        position: u64,
        reason: String,
    },
    #[error("I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("log {0} is closed")]
    Closed(PathBuf),
}

impl LogError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LogError {
        let path = path.into();
        move |source| LogError::Io { path, source }
    }
}
