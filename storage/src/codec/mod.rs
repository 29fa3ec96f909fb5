//! The record-batch codec: records inside a batch, the four compression codecs, and a builder.

mod builder;
mod compression;
mod decode;
mod record;
mod varint;

pub use builder::BatchBuilder;
pub use compression::{Compression, compress, decompress};
pub use decode::{
    MAX_DECOMPRESSED, check_offset_deltas, decode_records, decode_records_with_limit,
};
pub use record::{Header, Record};

#[cfg(test)]
mod tests;
