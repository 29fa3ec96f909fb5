//! Copying sealed segments between logs (a replica catching up from a snapshot), and the
//! retention steps a replicated log takes apart: moving the log start, deleting segments.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use neo_storage::{LogConfig, PartitionLog, SEGMENT_EXTENSIONS, SealedSegment};
use proptest::prelude::*;

/// Appends `batches` batches of `records` records each; waits until every rolled segment is
/// synced and sealed.
fn filled(dir: &Path, config: LogConfig, batches: u64, records: usize) -> PartitionLog {
    let log = PartitionLog::open(dir, config, flusher()).unwrap();
    for tag in 0..batches {
        log.append(&mut batch(tag, records, 1_000 + tag as i64))
            .unwrap();
    }
    wait_sealed(&log);
    log
}

/// Waits until every segment but the active one is sealed.
fn wait_sealed(log: &PartitionLog) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        log.request_sync();
        let (listed, _) = log.sealed_segments(i64::MAX);
        let below_active = log.segment_count() - 1;
        let skipped = log_segments_below_start(log);
        if listed.len() + skipped >= below_active {
            return;
        }
        assert!(Instant::now() < deadline, "segments never sealed");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Segments wholly below the log start (kept by a replicated log, not listed).
fn log_segments_below_start(log: &PartitionLog) -> usize {
    let (all, _) = log.sealed_segments(i64::MAX);
    let start = log.log_start_offset();
    all.iter().filter(|s| s.next_offset <= start).count()
}

fn assert_contiguous(listed: &[SealedSegment], end: i64, listed_end: i64) {
    for pair in listed.windows(2) {
        assert_eq!(pair[0].next_offset, pair[1].base_offset, "{listed:?}");
    }
    for segment in listed {
        assert!(segment.base_offset < segment.next_offset);
        assert!(segment.next_offset <= end);
    }
    if let Some(last) = listed.last() {
        assert_eq!(last.next_offset, listed_end);
    }
    assert!(listed_end <= end.max(listed_end));
}

#[test]
fn linked_sealed_segments_are_byte_identical_and_replace_another_log() {
    let source_dir = tempfile::tempdir().unwrap();
    let source = filled(source_dir.path(), small_segments(), 200, 3);
    let hw = source.log_end_offset();
    let snapshot = tempfile::tempdir().unwrap();
    let (linked, end) = source.link_sealed_segments(hw, snapshot.path()).unwrap();
    assert!(linked.len() >= 3, "several sealed segments: {linked:?}");
    assert_contiguous(&linked, hw, end);
    assert_eq!(end, source.active_segment_base());
    for segment in &linked {
        assert!(segment.files.iter().all(|f| f.starts_with(snapshot.path())));
        for (copy, extension) in segment.files.iter().zip(SEGMENT_EXTENSIONS) {
            let original = source_dir.path().join(neo_storage::segment_file_name(
                segment.base_offset,
                extension,
            ));
            assert_eq!(
                std::fs::read(copy).unwrap(),
                std::fs::read(original).unwrap()
            );
        }
    }

    // A replica with a diverging log of its own takes the copies: it then holds exactly them.
    let replica_dir = tempfile::tempdir().unwrap();
    let replica = filled(replica_dir.path(), small_segments(), 7, 1);
    replica.replace_segments(&linked, 0, end).unwrap();
    assert_eq!(replica.log_end_offset(), end);
    assert_eq!(replica.log_start_offset(), 0);
    let expected: Vec<_> = read_all(&source, 0)
        .into_iter()
        .filter(|(base, _)| *base < end)
        .collect();
    assert_eq!(read_all(&replica, 0), expected);
    // It takes appends where the copies end, and keeps all of it over a restart.
    let info = replica.append(&mut batch(99, 2, 5_000)).unwrap();
    assert_eq!(info.base_offset, end);
    replica.close().unwrap();
    drop(replica);
    drop(snapshot);
    let reopened = PartitionLog::open(replica_dir.path(), small_segments(), flusher()).unwrap();
    assert_eq!(reopened.log_end_offset(), end + 2);
    assert_eq!(
        read_all(&reopened, 0)
            .into_iter()
            .filter(|(base, _)| *base < end)
            .collect::<Vec<_>>(),
        expected
    );
    for segment in &linked {
        let name = neo_storage::segment_file_name(segment.base_offset, "log");
        assert_eq!(
            std::fs::read(replica_dir.path().join(&name)).unwrap(),
            std::fs::read(source_dir.path().join(&name)).unwrap()
        );
    }
}

#[test]
fn the_active_segment_and_segments_past_the_end_are_not_listed() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled(dir.path(), small_segments(), 200, 3);
    let (all, all_end) = log.sealed_segments(i64::MAX);
    assert_eq!(all_end, log.active_segment_base());
    let cut = all[1].next_offset - 1;
    let (some, some_end) = log.sealed_segments(cut);
    assert_eq!(some.len(), 1, "only segments ending at or before {cut}");
    assert_eq!(some_end, all[1].base_offset);
    let (none, none_end) = log.sealed_segments(0);
    assert!(none.is_empty());
    assert_eq!(none_end, 0);
}

#[test]
fn a_moved_log_start_keeps_segments_until_they_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled(dir.path(), small_segments(), 200, 3);
    let segments = log.segment_count();
    let (listed, _) = log.sealed_segments(i64::MAX);
    let start = listed[2].base_offset + 1;
    assert_eq!(log.move_log_start(start).unwrap(), start);
    assert_eq!(log.log_start_offset(), start);
    assert_eq!(log.segment_count(), segments, "nothing deleted yet");
    assert!(
        log.read(0, 1024, i64::MAX).is_err(),
        "readers start at {start}"
    );
    assert!(
        log.read_retained(0, 1024, i64::MAX).is_ok(),
        "replication still reads"
    );
    let (after, _) = log.sealed_segments(i64::MAX);
    assert_eq!(
        after.first().map(|s| s.base_offset),
        Some(listed[2].base_offset)
    );
    // Only segments wholly below the given offset go.
    assert_eq!(
        log.remove_segments_below(listed[1].next_offset - 1)
            .unwrap(),
        1
    );
    assert_eq!(log.remove_segments_below(listed[1].next_offset).unwrap(), 1);
    assert_eq!(log.segment_count(), segments - 2);
    assert_eq!(
        log.remove_segments_below(start).unwrap(),
        0,
        "{start} is in the next one"
    );
    assert_eq!(log.log_start_offset(), start);
}

#[test]
fn the_retention_point_is_where_retention_would_start_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_bytes: Some(4096 * 3),
        ..small_segments()
    };
    let log = filled(dir.path(), config, 200, 3);
    let segments = log.segment_count();
    let point = log.retention_point(neo_record::now_ms()).unwrap();
    assert!(point > 0);
    assert!(log.segment_count() >= segments, "nothing deleted");
    let removed = log.apply_retention(neo_record::now_ms()).unwrap();
    assert!(removed > 0);
    assert_eq!(log.log_start_offset(), point);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever the batches, segment size and end: the listing is contiguous, and a fresh log
    /// given the copies reads back the same batches.
    #[test]
    fn copies_read_back_like_the_source(
        batches in 1u64..80,
        records in 1usize..6,
        segment_bytes in 1024u64..8192,
        end_fraction in 0.0f64..1.2,
    ) {
        let config = LogConfig { segment_bytes, ..small_segments() };
        let source_dir = tempfile::tempdir().unwrap();
        let source = filled(source_dir.path(), config.clone(), batches, records);
        let end = (source.log_end_offset() as f64 * end_fraction) as i64;
        let (listed, listed_end) = source.sealed_segments(end);
        assert_contiguous(&listed, end, listed_end);
        prop_assert!(listed_end <= source.log_end_offset());
        let snapshot = tempfile::tempdir().unwrap();
        let (linked, linked_end) = source.link_sealed_segments(end, snapshot.path()).unwrap();
        prop_assert_eq!(linked_end, listed_end);
        prop_assert_eq!(linked.len(), listed.len());
        let replica_dir = tempfile::tempdir().unwrap();
        let replica = PartitionLog::open(replica_dir.path(), config, flusher()).unwrap();
        let start = listed.first().map_or(listed_end, |s| s.base_offset);
        replica.replace_segments(&linked, start, listed_end).unwrap();
        let expected: Vec<_> = read_all(&source, 0)
            .into_iter()
            .filter(|(base, _)| *base < listed_end)
            .collect();
        prop_assert_eq!(read_all(&replica, start), expected);
        prop_assert_eq!(replica.log_end_offset(), listed_end);
    }
}
