//! Compaction keeps the latest record of each key at its original offset, survives reopening
//! (clean and unclean), and leaves the active segment alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use neo_record::codec::{BatchBuilder, Compression, decode_records};
use neo_storage::{Flusher, LogConfig, PartitionLog};

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 200,
        ..LogConfig::default()
    }
}

/// Every record of the log: offset -> (key, value).
fn contents(log: &PartitionLog) -> BTreeMap<i64, (Option<String>, Option<String>)> {
    let text = |b: Option<bytes::Bytes>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
    let mut out = BTreeMap::new();
    log.for_each_batch(0, |batch| {
        let header = neo_record::batch_header::validate(batch).unwrap();
        for r in decode_records(batch).unwrap() {
            out.insert(r.offset(header.base_offset), (text(r.key), text(r.value)));
        }
    })
    .unwrap();
    out
}

fn append(log: &PartitionLog, codec: Compression, records: &[(Option<&str>, Option<&str>)]) {
    let mut b = BatchBuilder::new(codec, 1_000).producer(7, 0, 0);
    for (key, value) in records {
        b.push(1_000, key.map(str::as_bytes), value.map(str::as_bytes), &[]);
    }
    log.append(&mut b.build().unwrap()).unwrap();
}

#[test]
fn only_the_latest_record_of_each_key_stays_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let flusher = Flusher::new(1);
    let log = PartitionLog::open(dir.path(), config(), flusher.clone()).unwrap();
    // offsets 0..=2, 3..=5, ... in segments of a few batches each.
    append(
        &log,
        Compression::None,
        &[
            (Some("a"), Some("a1")),
            (Some("b"), Some("b1")),
            (None, Some("free")),
        ],
    );
    append(
        &log,
        Compression::Gzip,
        &[
            (Some("a"), Some("a2")),
            (Some("c"), Some("c1")),
            (Some("b"), None),
        ],
    );
    append(
        &log,
        Compression::Lz4,
        &[
            (Some("a"), Some("a3")),
            (Some("a"), Some("a4")),
            (Some("c"), Some("c2")),
        ],
    );
    for i in 0..6 {
        append(
            &log,
            Compression::None,
            &[(Some(&format!("fill{i}")), Some("x"))],
        );
    }
    let before = contents(&log);
    let end = log.log_end_offset();
    assert!(
        log.segment_count() > 2,
        "several segments: {}",
        log.segment_count()
    );

    let report = log.compact(2_000, 86_400_000).unwrap();
    assert!(report.records_removed >= 4, "{report:?}");
    let after = contents(&log);
    // The latest of each key and the keyless record remain, at their offsets; the tombstone
    // of b is recent and stays. (The active segment holds only fill records, each its own key.)
    for (offset, record) in &before {
        let superseded = before
            .iter()
            .any(|(o, r)| o > offset && r.0.is_some() && r.0 == record.0);
        assert_eq!(
            after.contains_key(offset),
            !superseded,
            "offset {offset} {record:?}"
        );
        if let Some(kept) = after.get(offset) {
            assert_eq!(kept, record);
        }
    }
    assert_eq!(log.log_end_offset(), end);
    // Reads from a removed offset start at the next record.
    let slice = log.read(0, 1 << 20, end).unwrap();
    assert!(!slice.records.is_empty());

    // Again: nothing more to remove.
    assert_eq!(log.compact(2_000, 86_400_000).unwrap().records_removed, 0);

    // Reopened after a clean close, and after an unclean one (indexes rebuilt, no cut).
    log.close().unwrap();
    drop(log);
    let log = PartitionLog::open(dir.path(), config(), flusher.clone()).unwrap();
    assert_eq!(contents(&log), after);
    assert_eq!(log.log_end_offset(), end);
    drop(log);
    let log = PartitionLog::open(dir.path(), config(), flusher).unwrap();
    assert_eq!(contents(&log), after);
    append(&log, Compression::None, &[(Some("a"), Some("a5"))]);
    assert_eq!(log.log_end_offset(), end + 1);
}

#[test]
fn old_tombstones_go_and_a_crash_before_the_rename_leaves_the_old_segment() {
    let dir = tempfile::tempdir().unwrap();
    let flusher = Flusher::new(1);
    let log = PartitionLog::open(dir.path(), config(), flusher.clone()).unwrap();
    append(
        &log,
        Compression::None,
        &[(Some("a"), Some("a1")), (Some("a"), None)],
    );
    for i in 0..8 {
        append(
            &log,
            Compression::None,
            &[(Some(&format!("fill{i}")), Some("x"))],
        );
    }
    // A leftover of a compaction cut short is ignored and removed on open.
    std::fs::write(dir.path().join("00000000000000000000.cleaned.tmp"), b"torn").unwrap();
    drop(log);
    let log = PartitionLog::open(dir.path(), config(), flusher).unwrap();
    assert!(!dir.path().join("00000000000000000000.cleaned.tmp").exists());
    // Tombstones older than delete.retention.ms are removed too.
    log.compact(1_000_000, 1_000).unwrap();
    let after = contents(&log);
    assert!(
        !after.contains_key(&0) && !after.contains_key(&1),
        "{after:?}"
    );
    assert!(after.contains_key(&2));
}

#[test]
fn a_bound_leaves_the_segments_above_it_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), config(), Flusher::new(1)).unwrap();
    for i in 0..12 {
        let value = format!("v{i}");
        append(&log, Compression::None, &[(Some("k"), Some(&value))]);
    }
    assert!(log.segment_count() > 3, "{}", log.segment_count());
    let before = contents(&log);
    // Offsets from 5 on may still be sent to another replica as written.
    log.compact_below(2_000, 86_400_000, 5).unwrap();
    let after = contents(&log);
    for offset in 5..log.log_end_offset() {
        assert_eq!(after.get(&offset), before.get(&offset), "offset {offset}");
    }
    assert!(after.len() < before.len(), "something below the bound went");
    for (offset, record) in &after {
        assert_eq!(before.get(offset), Some(record));
    }
}
