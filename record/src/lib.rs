//! neo-record: Kafka's RecordBatch v2, the one record format of every Neo log.
//!
//! The batch header ([`batch_header`]), the records inside a batch and the four compression
//! codecs ([`codec`]), and the wall clock timestamps are taken from ([`now_ms`]). The storage
//! engine, the front-ends and the native SDK all build and read batches with it.

pub mod batch_header;
mod clock;
pub mod codec;
mod error;

pub use clock::now_ms;
pub use error::BatchError;
