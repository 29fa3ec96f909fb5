//! One writer and several readers at once: readers never see a partial or invalid batch.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use neo_storage::{LogConfig, PartitionLog};

#[test]
fn readers_running_beside_the_writer_only_see_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 64 * 1024,
        index_interval_bytes: 512,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(dir.path(), config, flusher()).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|r| {
            let log = log.clone();
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut reads = 0u64;
                let mut offset = 0i64;
                let deadline = Instant::now() + Duration::from_secs(60);
                while !done.load(Ordering::Acquire) && Instant::now() < deadline {
                    let end = log.log_end_offset();
                    let slice = log.read(offset, 8 * 1024 + r * 1000, i64::MAX).unwrap();
                    for (base, bytes) in split_batches(&slice.records) {
                        assert!(base <= offset.max(base));
                        let count = i32::from_be_bytes(bytes[57..61].try_into().unwrap());
                        assert_eq!(base % 5, 0, "batches of 5 records start at multiples of 5");
                        assert_eq!(count, 5);
                    }
                    offset = if slice.next_offset >= end {
                        (reads as i64 * 7) % end.max(1)
                    } else {
                        slice.next_offset
                    };
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for tag in 0..3000 {
        log.append(&mut sized_batch(tag, 5, 20 + (tag as usize % 200), 0))
            .unwrap();
    }
    done.store(true, Ordering::Release);
    for reader in readers {
        assert!(reader.join().unwrap() > 0);
    }
    assert_eq!(log.log_end_offset(), 15_000);
}
