//! Why a record batch cannot be accepted.

/// A record batch that cannot be accepted as it is.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("batch truncated: needs {needed} bytes, {available} available")]
    Truncated { needed: usize, available: usize },
    #[error("unsupported record batch magic {0} (only v2 is stored)")]
    UnsupportedMagic(i8),
    #[error("invalid batch length {0}")]
    BadLength(i32),
    #[error("batch CRC mismatch: header says {expected:#010x}, content is {actual:#010x}")]
    CrcMismatch { expected: u32, actual: u32 },
    #[error("record count {count} does not match last offset delta {last_offset_delta}")]
    BadRecordCount { count: i32, last_offset_delta: i32 },
    #[error("record offset deltas are not dense: record {index} has delta {delta}")]
    OffsetGap { index: usize, delta: i64 },
    #[error("batch of {size} bytes exceeds max.message.bytes {max}")]
    TooLarge { size: usize, max: usize },
    #[error("empty produce: no record batch")]
    Empty,
    #[error("unknown compression codec {0}")]
    UnknownCompression(i16),
    #[error("malformed records: {0}")]
    Malformed(String),
}
