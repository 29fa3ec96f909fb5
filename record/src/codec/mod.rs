//! The record-batch codec: records inside a batch, the four compression codecs, a builder, and re-encoding.

mod builder;
mod compression;
mod decode;
mod record;
mod reencode;
mod varint;

pub use builder::BatchBuilder;
pub use compression::{Compression, compress, decompress};
pub use decode::{
    MAX_DECOMPRESSED, check_offset_deltas, decode_records, decode_records_with_limit,
};
pub use record::{Header, Record};
pub use reencode::recompress;

#[cfg(test)]
mod tests;
