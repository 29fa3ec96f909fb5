//! neo-storage: the partition log.
//!
//! A partition is a directory of segments named by base offset. Each segment holds a `.log` of
//! Kafka RecordBatch v2 batches exactly as producers sent them, a sparse memory-mapped `.index`
//! (offset → byte position) and a sparse `.timeindex` (timestamp → offset). One writer appends;
//! readers run concurrently and only ever see whole batches. Durability is group-committed by a
//! shared [`Flusher`].

mod checkpoint;
mod compaction;
pub mod config;
pub mod error;
mod flusher;
mod log;
mod offset_index;
mod recovery;
mod retention;
mod segment;
mod sparse_index;
mod time_index;
mod time_lookup;

pub use compaction::CompactionReport;
pub use config::{FlushPolicy, LogConfig, TimestampType};
pub use error::LogError;
pub use flusher::{Flusher, SyncObserver};
pub use log::{AppendInfo, LogPositions, PartitionLog, ReadSlice};
pub use recovery::RecoveryReport;
