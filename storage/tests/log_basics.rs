//! The partition log's contract, case by case.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use neo_storage::{LogConfig, LogError, PartitionLog, TimestampType};

#[test]
fn appends_get_dense_offsets_and_read_back_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default(), flusher()).unwrap();
    let mut expected = Vec::new();
    for tag in 0..10u64 {
        let mut b = batch(tag, 3, 1000 + tag as i64);
        let info = log.append(&mut b).unwrap();
        assert_eq!(info.base_offset, tag as i64 * 3);
        assert_eq!(info.last_offset, tag as i64 * 3 + 2);
        expected.push((info.base_offset, batch(tag, 3, 1000 + tag as i64)));
    }
    assert_eq!(log.log_end_offset(), 30);
    let expected: Vec<_> = expected.into_iter().map(|(o, b)| (o, zero(b))).collect();
    assert_eq!(read_all(&log, 0), expected);
    // An offset inside a batch returns the whole batch that contains it.
    let slice = log.read(4, 1, i64::MAX).unwrap();
    let got = split_batches(&slice.records);
    assert_eq!(
        got.len(),
        1,
        "max_bytes smaller than a batch still returns one whole batch"
    );
    assert_eq!(got[0].0, 3);
    assert_eq!(slice.next_offset, 6);
}

fn zero(mut b: Vec<u8>) -> Vec<u8> {
    b[..8].fill(0);
    b[12..16].copy_from_slice(&(-1i32).to_be_bytes());
    b
}

#[test]
fn reads_outside_the_log_are_out_of_range_and_the_end_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default(), flusher()).unwrap();
    log.append(&mut batch(0, 5, 0)).unwrap();
    assert!(log.read(5, 1024, i64::MAX).unwrap().records.is_empty());
    assert!(matches!(
        log.read(6, 1024, i64::MAX),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.read(-1, 1024, i64::MAX),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    // The upper bound (a high watermark) hides batches at or above it.
    assert!(log.read(0, 1024, 0).unwrap().records.is_empty());
}

#[test]
fn invalid_batches_are_rejected_and_leave_the_log_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        max_message_bytes: 2000,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(dir.path(), config, flusher()).unwrap();
    log.append(&mut batch(0, 2, 0)).unwrap();
    let mut corrupt = batch(1, 2, 0);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert!(matches!(
        log.append(&mut corrupt),
        Err(LogError::InvalidBatch(
            neo_record::BatchError::CrcMismatch { .. }
        ))
    ));
    let mut magic = batch(1, 2, 0);
    magic[16] = 1;
    assert!(matches!(
        log.append(&mut magic),
        Err(LogError::InvalidBatch(
            neo_record::BatchError::UnsupportedMagic(1)
        ))
    ));
    let mut truncated = batch(1, 2, 0);
    truncated.truncate(truncated.len() - 3);
    assert!(log.append(&mut truncated).is_err());
    let mut huge = sized_batch(1, 3, 1000, 0);
    assert!(matches!(
        log.append(&mut huge),
        Err(LogError::InvalidBatch(
            neo_record::BatchError::TooLarge { .. }
        ))
    ));
    assert!(log.append(&mut []).is_err());
    // A valid batch followed by garbage: nothing of the request is appended.
    let mut mixed = batch(2, 2, 0);
    mixed.extend_from_slice(&[1, 2, 3]);
    assert!(log.append(&mut mixed).is_err());
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(read_all(&log, 0).len(), 1);
}

#[test]
fn several_batches_in_one_append_get_consecutive_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default(), flusher()).unwrap();
    let mut both = batch(0, 2, 0);
    both.extend(batch(1, 3, 0));
    let info = log.append(&mut both).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.batches),
        (0, 4, 2)
    );
    let got = read_all(&log, 0);
    assert_eq!(got.iter().map(|b| b.0).collect::<Vec<_>>(), vec![0, 2]);
}

#[test]
fn segments_roll_by_size_and_reads_cross_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small_segments(), flusher()).unwrap();
    for tag in 0..100 {
        log.append(&mut sized_batch(tag, 4, 50, 0)).unwrap();
    }
    assert!(log.segment_count() > 5, "segments: {}", log.segment_count());
    let got = read_all(&log, 0);
    assert_eq!(got.len(), 100);
    for (i, (base, _)) in got.iter().enumerate() {
        assert_eq!(*base, i as i64 * 4);
    }
    // Random access into the middle of the log finds the right batch through the index.
    for offset in [0, 1, 57, 200, 398, 399] {
        let slice = log.read(offset, 1, i64::MAX).unwrap();
        let (base, _) = split_batches(&slice.records)[0];
        assert_eq!(base, offset / 4 * 4);
    }
}

#[test]
fn segments_roll_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: Some(0),
        ..LogConfig::default()
    };
    let log = PartitionLog::open(dir.path(), config, flusher()).unwrap();
    for tag in 0..3 {
        log.append(&mut batch(tag, 1, 0)).unwrap();
    }
    assert_eq!(log.segment_count(), 3);
}

#[test]
fn offset_for_timestamp_finds_the_first_record_at_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small_segments(), flusher()).unwrap();
    // Batch t has records at 10t, 10t+1, 10t+2 (offsets 3t..3t+2).
    for t in 0..50 {
        log.append(&mut batch(t, 3, t as i64 * 10)).unwrap();
    }
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 0)));
    assert_eq!(log.offset_for_timestamp(101).unwrap(), Some((31, 101)));
    assert_eq!(log.offset_for_timestamp(103).unwrap(), Some((33, 110)));
    assert_eq!(log.offset_for_timestamp(492).unwrap(), Some((149, 492)));
    assert_eq!(log.offset_for_timestamp(493).unwrap(), None);
    assert_eq!(log.max_timestamp().unwrap(), Some((492, 149)));
}

#[test]
fn log_append_time_stamps_batches_with_valid_crc() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(dir.path(), config, flusher()).unwrap();
    let info = log.append(&mut batch(0, 2, 5)).unwrap();
    let stamped = info.log_append_time.expect("log append time");
    let slice = log.read(0, 1024, i64::MAX).unwrap();
    let header = neo_record::batch_header::validate(&slice.records).unwrap();
    assert!(header.is_log_append_time());
    assert_eq!(header.max_timestamp, stamped);
}

#[test]
fn delete_records_moves_the_start_and_drops_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small_segments(), flusher()).unwrap();
    for tag in 0..100 {
        log.append(&mut sized_batch(tag, 4, 50, 0)).unwrap();
    }
    let before = log.segment_count();
    assert_eq!(log.delete_records(201).unwrap(), 201);
    assert_eq!(log.log_start_offset(), 201);
    assert!(log.segment_count() < before);
    assert!(matches!(
        log.read(100, 10, i64::MAX),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.delete_records(1000),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    log.close().unwrap();
    let log = PartitionLog::open(dir.path(), small_segments(), flusher()).unwrap();
    assert_eq!(
        log.log_start_offset(),
        201,
        "the log start offset survives a restart"
    );
    assert_eq!(read_all(&log, 201)[0].0, 200);
}

#[test]
fn retention_by_bytes_and_by_time_deletes_oldest_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_bytes: Some(20_000),
        retention_ms: None,
        ..small_segments()
    };
    let log = PartitionLog::open(dir.path(), config.clone(), flusher()).unwrap();
    for tag in 0..200 {
        log.append(&mut sized_batch(tag, 4, 50, neo_record::now_ms()))
            .unwrap();
    }
    let deleted = log.apply_retention(neo_record::now_ms()).unwrap();
    assert!(deleted > 0);
    assert!(log.size_bytes() <= 20_000 + 4096);
    assert_eq!(log.log_end_offset(), 800);
    let start = log.log_start_offset();
    assert_eq!(read_all(&log, start).first().unwrap().0, start);

    // Old timestamps: everything expires, including the active segment, which is rolled.
    log.set_config(LogConfig {
        retention_bytes: None,
        retention_ms: Some(60_000),
        ..config
    });
    log.append(&mut sized_batch(999, 1, 10, 1000)).unwrap();
    log.apply_retention(neo_record::now_ms() + 3_600_000)
        .unwrap();
    assert_eq!(log.log_start_offset(), log.log_end_offset());
    assert_eq!(log.segment_count(), 1);
    let mut next = batch(1000, 1, neo_record::now_ms());
    assert_eq!(log.append(&mut next).unwrap().base_offset, 801);
}

#[test]
fn truncate_to_cuts_at_a_batch_boundary_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small_segments(), flusher()).unwrap();
    for tag in 0..100 {
        log.append(&mut sized_batch(tag, 4, 50, 0)).unwrap();
    }
    log.truncate_to(202).unwrap();
    assert_eq!(
        log.log_end_offset(),
        200,
        "cut before the batch that holds offset 202"
    );
    let got = read_all(&log, 0);
    assert_eq!(got.len(), 50);
    let info = log.append(&mut batch(7, 2, 0)).unwrap();
    assert_eq!(info.base_offset, 200);
    log.truncate_to(0).unwrap();
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.append(&mut batch(8, 1, 0)).unwrap().base_offset, 0);
}

#[test]
fn clean_reopen_keeps_everything_and_skips_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small_segments(), flusher()).unwrap();
    for tag in 0..100 {
        log.append(&mut sized_batch(tag, 4, 50, 1000 + tag as i64))
            .unwrap();
    }
    let before = read_all(&log, 0);
    log.close().unwrap();
    assert!(
        log.append(&mut batch(0, 1, 0)).is_err(),
        "a closed log takes no appends"
    );
    let (log, report) =
        PartitionLog::open_with_report(dir.path(), small_segments(), flusher()).unwrap();
    assert!(report.clean);
    assert_eq!(report.segments_scanned, 0);
    assert_eq!(read_all(&log, 0), before);
    assert_eq!(log.log_end_offset(), 400);
    assert_eq!(log.offset_for_timestamp(1050).unwrap(), Some((200, 1050)));
    assert_eq!(log.append(&mut batch(100, 1, 0)).unwrap().base_offset, 400);
}

#[test]
fn missing_or_damaged_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small_segments(), flusher()).unwrap();
    for tag in 0..100 {
        log.append(&mut sized_batch(tag, 4, 50, 0)).unwrap();
    }
    let before = read_all(&log, 0);
    log.close().unwrap();
    let mut indexes: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "index"))
        .collect();
    indexes.sort();
    std::fs::remove_file(&indexes[1]).unwrap();
    std::fs::write(&indexes[2], [0xffu8; 16]).unwrap();
    let log = PartitionLog::open(dir.path(), small_segments(), flusher()).unwrap();
    assert_eq!(read_all(&log, 0), before);
    for offset in [5, 13, 21, 399] {
        let (base, _) = split_batches(&log.read(offset, 1, i64::MAX).unwrap().records)[0];
        assert_eq!(base, offset / 4 * 4);
    }
}

#[tokio::test]
async fn durable_appends_wait_for_fsync_and_share_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default(), flusher()).unwrap();
    let mut tasks = Vec::new();
    for tag in 0..64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            log.append_durable(&mut batch(tag, 1, 0)).await.unwrap()
        }));
    }
    for t in tasks {
        let info = t.await.unwrap();
        assert!(log.durable_offset() > info.last_offset);
    }
    assert_eq!(log.durable_offset(), 64);
}

#[tokio::test]
async fn relaxed_flush_acknowledges_written_and_flushes_every_n_messages() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush: neo_storage::FlushPolicy {
            messages: 10,
            ms: None,
        },
        ..LogConfig::default()
    };
    let log = PartitionLog::open(dir.path(), config, flusher()).unwrap();
    let mut rx = log.subscribe();
    for tag in 0..10 {
        log.append(&mut batch(tag, 1, 0)).unwrap();
    }
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        rx.wait_for(|p| p.durable >= 10),
    )
    .await
    .expect("flush after 10 messages")
    .unwrap();
}
