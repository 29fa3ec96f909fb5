//! neo-storage: the partition log.
//!
//! A partition is a directory of segments named by base offset. Each segment holds a `.log` of
//! Kafka RecordBatch v2 batches exactly as producers sent them, a sparse memory-mapped `.index`
//! (offset → byte position) and a sparse `.timeindex` (timestamp → offset).

pub mod batch_header;
pub mod codec;
pub mod error;

pub use error::{BatchError, LogError};
