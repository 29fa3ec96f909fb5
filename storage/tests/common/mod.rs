//! Shared helpers for the storage tests: batches built with the crate's own codec.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use neo_record::codec::{BatchBuilder, Compression};
use neo_storage::{Flusher, LogConfig, PartitionLog};

/// A batch of `count` records whose values say which batch and record they are.
pub fn batch(tag: u64, count: usize, timestamp: i64) -> Vec<u8> {
    let mut builder = BatchBuilder::new(Compression::None, timestamp);
    for i in 0..count {
        let value = format!("batch-{tag}-record-{i}");
        builder.push(
            timestamp + i as i64,
            Some(format!("k{i}").as_bytes()),
            Some(value.as_bytes()),
            &[],
        );
    }
    builder.build().expect("build batch").to_vec()
}

/// A batch with the given total payload size per record.
pub fn sized_batch(tag: u64, count: usize, record_size: usize, timestamp: i64) -> Vec<u8> {
    let mut builder = BatchBuilder::new(Compression::None, timestamp);
    let mut value = vec![b'x'; record_size];
    let tag_bytes = tag.to_be_bytes();
    value[..8.min(record_size)].copy_from_slice(&tag_bytes[..8.min(record_size)]);
    for _ in 0..count {
        builder.push(timestamp, None, Some(&value), &[]);
    }
    builder.build().expect("build batch").to_vec()
}

/// Splits whole batches read from the log into (base offset, bytes with offset and epoch zeroed).
pub fn split_batches(bytes: &[u8]) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 12 <= bytes.len() {
        let base = i64::from_be_bytes(bytes[pos..pos + 8].try_into().unwrap());
        let len = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize + 12;
        let mut b = bytes[pos..pos + len].to_vec();
        neo_record::batch_header::validate(&b).expect("only whole, valid batches are returned");
        b[..8].fill(0);
        b[12..16].copy_from_slice(&(-1i32).to_be_bytes());
        out.push((base, b));
        pos += len;
    }
    assert_eq!(pos, bytes.len(), "read returned a partial batch");
    out
}

/// Reads every batch from `from` to the end of the log.
pub fn read_all(log: &PartitionLog, from: i64) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = from;
    let end = log.log_end_offset();
    while offset < end {
        let slice = log.read(offset, 64 * 1024, i64::MAX).expect("read");
        if slice.records.is_empty() {
            break;
        }
        out.extend(split_batches(&slice.records));
        offset = slice.next_offset;
    }
    out
}

/// A config with tiny segments so rolls happen often.
pub fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        max_index_bytes: 4096,
        ..LogConfig::default()
    }
}

pub fn flusher() -> Arc<Flusher> {
    Flusher::new(2)
}
