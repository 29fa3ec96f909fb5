//! Shared set-up for Neo's benchmarks: record batches of a given shape, counts from the
//! environment, and the process's resident memory.

use neo_record::codec::{BatchBuilder, Compression};

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

/// The number in the environment variable `var`, or `default`.
pub fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// This process's resident memory in KiB (0 where /proc is missing).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
