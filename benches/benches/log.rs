//! Partition-log benchmarks, each beside its baseline from the same run:
//! - append vs a plain `write` of the same bytes to a file (flush disabled);
//! - read of whole batches;
//! - durable appends: 64 concurrent appenders sharing fsyncs (group commit) vs one appender
//!   that fsyncs every append;
//! - opening a 1 GiB log after a clean shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use neo_benches::batch_of;
use neo_storage::{FlushPolicy, Flusher, LogConfig, PartitionLog};

/// Restart from empty after this many bytes, so a run does not fill the disk.
const RESET_BYTES: u64 = 256 << 20;

fn no_flush() -> LogConfig {
    LogConfig {
        flush: FlushPolicy {
            messages: u64::MAX,
            ms: None,
        },
        // Kafka's default `segment.bytes`: the append bench stays in one segment, like the
        // raw-file baseline beside it.
        segment_bytes: 1 << 30,
        max_message_bytes: 4 << 20,
        retention_ms: None,
        ..LogConfig::default()
    }
}

fn shapes() -> Vec<(&'static str, usize, usize)> {
    vec![
        ("100B/16KiB", 100, 16 << 10),
        ("1KiB/16KiB", 1024, 16 << 10),
        ("100B/1MiB", 100, 1 << 20),
        ("1KiB/1MiB", 1024, 1 << 20),
    ]
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    for (name, record, batch) in shapes() {
        let bytes = batch_of(record, batch);
        group.throughput(Throughput::Bytes(bytes.len() as u64));

        group.bench_with_input(
            BenchmarkId::new("raw_file_write", name),
            &bytes,
            |b, bytes| {
                let dir = tempfile::tempdir().unwrap();
                let mut file = File::create(dir.path().join("raw")).unwrap();
                let mut written = 0u64;
                b.iter(|| {
                    file.write_all(bytes).unwrap();
                    written += bytes.len() as u64;
                    if written >= RESET_BYTES {
                        file.set_len(0).unwrap();
                        file.seek(SeekFrom::Start(0)).unwrap();
                        written = 0;
                    }
                });
            },
        );

        group.bench_with_input(BenchmarkId::new("log_append", name), &bytes, |b, bytes| {
            let dir = tempfile::tempdir().unwrap();
            let log = PartitionLog::open(dir.path(), no_flush(), Flusher::new(1)).unwrap();
            let mut buf = bytes.clone();
            let mut written = 0u64;
            b.iter(|| {
                log.append(&mut buf).unwrap();
                written += buf.len() as u64;
                if written >= RESET_BYTES {
                    log.truncate_to(0).unwrap();
                    written = 0;
                }
            });
        });
    }
    group.finish();
}

fn read(c: &mut Criterion) {
    let mut group = c.benchmark_group("read");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for (name, record, batch) in shapes() {
        let bytes = batch_of(record, batch);
        let dir = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(dir.path(), no_flush(), Flusher::new(1)).unwrap();
        let mut buf = bytes.clone();
        while log.size_bytes() < 64 << 20 {
            log.append(&mut buf).unwrap();
        }
        let end = log.log_end_offset();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(BenchmarkId::new("log_read", name), |b| {
            let mut offset = 0;
            b.iter(|| {
                let slice = log.read(offset, bytes.len(), i64::MAX).unwrap();
                offset = if slice.next_offset >= end {
                    0
                } else {
                    slice.next_offset
                };
                slice.records.len()
            });
        });
    }
    group.finish();
}

/// Durable appends of one 100-byte record: `appenders` tasks at once, `total` appends in all.
fn durable_appends(
    log: &PartitionLog,
    runtime: &tokio::runtime::Runtime,
    appenders: usize,
    total: usize,
) -> Duration {
    let bytes = batch_of(100, 100);
    let started = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..appenders)
            .map(|_| {
                let log = log.clone();
                let mut buf = bytes.clone();
                tokio::spawn(async move {
                    for _ in 0..total / appenders {
                        log.append_durable(&mut buf).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    started.elapsed()
}

fn group_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_append");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for appenders in [1usize, 64] {
        let per_iter = if appenders == 1 { 100 } else { 6400 };
        group.throughput(Throughput::Elements(per_iter as u64));
        group.bench_function(
            BenchmarkId::new("flush.messages=1", format!("{appenders}_appenders")),
            |b| {
                let dir = tempfile::tempdir().unwrap();
                let config = LogConfig {
                    flush: FlushPolicy::DURABLE,
                    ..LogConfig::default()
                };
                let log = PartitionLog::open(dir.path(), config, Flusher::new(2)).unwrap();
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| durable_appends(&log, &runtime, appenders, per_iter))
                        .sum()
                });
            },
        );
    }
    group.finish();
}

fn open_clean_1gib(c: &mut Criterion) {
    let mut group = c.benchmark_group("open");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    {
        let config = LogConfig {
            segment_bytes: 128 << 20,
            ..no_flush()
        };
        let log = PartitionLog::open(dir.path(), config, Flusher::new(1)).unwrap();
        let mut buf = batch_of(1024, 1 << 20);
        while log.size_bytes() < 1 << 30 {
            log.append(&mut buf).unwrap();
        }
        log.close().unwrap();
    }
    group.bench_function("clean_shutdown_1GiB", |b| {
        let flusher = Flusher::new(1);
        // Only the open is timed; the close that writes the clean-shutdown marker is not.
        b.iter_custom(|iters| {
            let mut opening = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let log = PartitionLog::open(dir.path(), no_flush(), flusher.clone()).unwrap();
                opening += started.elapsed();
                log.close().unwrap();
            }
            opening
        });
    });
    group.finish();
}

criterion_group!(benches, append, read, group_commit, open_clean_1gib);
criterion_main!(benches);
