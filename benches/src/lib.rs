//! Shared set-up for Neo's benchmarks: record batches of a given shape.

use neo_storage::codec::{BatchBuilder, Compression};

/// An uncompressed batch of `record_size`-byte values filling about `batch_bytes`.
pub fn batch_of(record_size: usize, batch_bytes: usize) -> Vec<u8> {
    let value = vec![b'x'; record_size];
    let mut builder = BatchBuilder::new(Compression::None, 1_700_000_000_000);
    // Each record costs its value plus ~8 bytes of framing.
    let count = (batch_bytes / (record_size + 8)).max(1);
    for _ in 0..count {
        builder.push(1_700_000_000_000, None, Some(&value), &[]);
    }
    builder.build().map(|b| b.to_vec()).unwrap_or_default()
}
