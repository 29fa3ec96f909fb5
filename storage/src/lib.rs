//! neo-storage: the partition log.
//!
//! A partition is a directory of segments named by base offset. Each segment holds a `.log` of
//! Kafka RecordBatch v2 batches exactly as producers sent them, a sparse memory-mapped `.index`
//! (offset → byte position) and a sparse `.timeindex` (timestamp → offset). One writer appends;
//! readers run concurrently and only ever see whole batches. Durability is group-committed by a
//! shared [`Flusher`].

mod append;
mod checkpoint;
mod compaction;
mod companion;
mod companion_sync;
pub mod config;
mod durability;
mod epoch_cache;
pub mod error;
mod flusher;
mod leader_epochs;
mod log;
mod log_positions;
mod offset_index;
mod positions;
mod read;
mod recovery;
mod retention;
mod roll;
mod segment;
mod segment_cache;
mod segment_copy;
mod segment_files;
mod segment_load;
mod spare;
mod sparse_index;
mod time_index;
mod time_lookup;
mod truncate;

pub use append::AppendInfo;
pub use compaction::CompactionReport;
pub use companion::Companion;
pub use config::{FlushPolicy, LogConfig, TimestampType};
pub use epoch_cache::{EpochEndOffset, EpochEntry};
pub use error::LogError;
pub use flusher::{Flusher, SyncObserver};
pub use log::PartitionLog;
pub use log_positions::LogPositions;
pub use read::ReadSlice;
pub use recovery::RecoveryReport;
pub use segment_cache::{DEFAULT_OPEN_SEGMENTS, SegmentCache};
pub use segment_copy::{SEGMENT_EXTENSIONS, SealedSegment};
pub use segment_files::segment_file_name;
