//! A roll does its slow I/O after the writer's lock (the old segment is sealed, synced and the
//! directory fsynced by the flusher; the next segment's files are made ahead under temporary
//! names). A crash can stop it between any two of those steps; each test leaves the files as
//! such a crash would and checks that the log reopens with every batch and takes appends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs::OpenOptions;
use std::path::Path;

use common::*;
use neo_storage::{LogConfig, PartitionLog};

fn config() -> LogConfig {
    LogConfig {
        retention_ms: None,
        ..small_segments()
    }
}

/// Appends until the log has several segments; returns the batches written (zeroed offsets).
fn fill(dir: &Path) -> Vec<(i64, Vec<u8>)> {
    let log = PartitionLog::open(dir, config(), flusher()).unwrap();
    let mut written = Vec::new();
    for tag in 0..40u64 {
        let bytes = sized_batch(tag, 3, 100, 1000 + tag as i64);
        let info = log.append(&mut bytes.clone()).unwrap();
        written.push((info.base_offset, zero(bytes)));
    }
    assert!(log.segment_count() >= 4);
    log.close().unwrap();
    written
}

fn zero(mut b: Vec<u8>) -> Vec<u8> {
    b[..8].fill(0);
    b[12..16].copy_from_slice(&(-1i32).to_be_bytes());
    b
}

fn files_with(dir: &Path, extension: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(extension))
        .collect();
    files.sort();
    files
}

/// Turns a clean shutdown into a crash whose last sync covered nothing.
fn crash_before_any_sync(dir: &Path) {
    std::fs::remove_file(dir.join(".clean_shutdown")).unwrap();
    std::fs::write(dir.join("recovery-point-offset"), b"0").unwrap();
}

fn reopens_whole(dir: &Path, written: &[(i64, Vec<u8>)]) {
    let log = PartitionLog::open(dir, config(), flusher()).unwrap();
    assert_eq!(read_all(&log, 0), written);
    let end = written.last().map_or(0, |(base, _)| base + 3);
    assert_eq!(log.log_end_offset(), end);
    let info = log.append(&mut sized_batch(99, 1, 10, 0)).unwrap();
    assert_eq!(info.base_offset, end);
    assert_eq!(read_all(&log, 0).len(), written.len() + 1);
    log.close().unwrap();
}

#[test]
fn a_crash_before_the_flusher_seals_rolled_segments_rebuilds_and_trims_their_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let written = fill(dir.path());
    // Rolled but not sealed: the indexes of every segment still have their preallocated size.
    let capacity = u64::from(config().max_index_bytes);
    for (extension, entry) in [(".index", 8), (".timeindex", 12)] {
        for path in files_with(dir.path(), extension) {
            let file = OpenOptions::new().write(true).open(&path).unwrap();
            file.set_len(capacity / entry * entry).unwrap();
        }
    }
    crash_before_any_sync(dir.path());
    reopens_whole(dir.path(), &written);
    // Recovery trimmed the sealed segments' indexes as a seal would have.
    let indexes = files_with(dir.path(), ".index");
    for path in indexes.iter().take(indexes.len() - 1) {
        let len = std::fs::metadata(path).unwrap().len();
        assert!(
            len < capacity / 8 * 8,
            "{} still {len} bytes",
            path.display()
        );
    }
}

#[test]
fn untrimmed_indexes_below_the_recovery_point_are_rebuilt_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let written = fill(dir.path());
    for path in files_with(dir.path(), ".index") {
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(u64::from(config().max_index_bytes) / 8 * 8)
            .unwrap();
    }
    // The recovery point says everything was synced (the data was), the indexes disagree.
    std::fs::remove_file(dir.path().join(".clean_shutdown")).unwrap();
    reopens_whole(dir.path(), &written);
}

#[test]
fn a_crash_before_the_spare_segment_is_used_leaves_files_that_open_removes() {
    let dir = tempfile::tempdir().unwrap();
    let written = fill(dir.path());
    for extension in ["log", "index", "timeindex"] {
        std::fs::write(
            dir.path().join(format!("next-segment.{extension}.tmp")),
            b"",
        )
        .unwrap();
    }
    crash_before_any_sync(dir.path());
    drop(PartitionLog::open(dir.path(), config(), flusher()).unwrap());
    assert!(files_with(dir.path(), ".tmp").is_empty());
    reopens_whole(dir.path(), &written);
}

#[test]
fn a_crash_between_the_renames_of_a_roll_loses_no_batch() {
    let dir = tempfile::tempdir().unwrap();
    let written = fill(dir.path());
    // The new segment's log was renamed into place, its indexes were not.
    let last_index = files_with(dir.path(), ".index").pop().unwrap();
    let last_time = files_with(dir.path(), ".timeindex").pop().unwrap();
    std::fs::rename(&last_index, dir.path().join("next-segment.index.tmp")).unwrap();
    std::fs::rename(&last_time, dir.path().join("next-segment.timeindex.tmp")).unwrap();
    crash_before_any_sync(dir.path());
    reopens_whole(dir.path(), &written);
    // And a roll whose segment appeared, empty, before any batch reached it.
    let logs = files_with(dir.path(), ".log");
    let end = {
        let log = PartitionLog::open(dir.path(), config(), flusher()).unwrap();
        let end = log.log_end_offset();
        log.close().unwrap();
        end
    };
    let empty = dir.path().join(format!("{end:020}.log"));
    assert!(!logs.contains(&empty));
    std::fs::write(&empty, b"").unwrap();
    crash_before_any_sync(dir.path());
    let log = PartitionLog::open(dir.path(), config(), flusher()).unwrap();
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(
        log.append(&mut sized_batch(7, 1, 10, 0))
            .unwrap()
            .base_offset,
        end
    );
}

#[test]
fn the_next_segment_is_made_ahead_and_the_roll_renames_it_into_place() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config(), flusher()).unwrap();
    let spare = dir.path().join("next-segment.log.tmp");
    // Past half of the 4 KiB segment: the flusher makes the next one's files.
    log.append(&mut sized_batch(1, 10, 250, 0)).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !spare.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no spare segment made"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let end = log.log_end_offset();
    log.append(&mut sized_batch(2, 6, 250, 0)).unwrap();
    assert_eq!(log.segment_count(), 2);
    assert!(!spare.exists());
    assert!(dir.path().join(format!("{end:020}.log")).exists());
    // The new segment starts with empty indexes: small appends fill it, not one each.
    for tag in 3..6 {
        log.append(&mut sized_batch(tag, 1, 100, 0)).unwrap();
    }
    assert_eq!(log.segment_count(), 2);
    assert_eq!(read_all(&log, 0).len(), 5);
    assert_eq!(log.read(end + 6, 1, i64::MAX).unwrap().next_offset, end + 7);
}
