//! The leader-epoch cache: kept by appends, truncation, a moving log start and replaced
//! segments; written down and found again after a clean close, a crash with a torn tail, a
//! missing or wrong file; and Kafka's OffsetForLeaderEpoch answers from it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs::OpenOptions;
use std::path::Path;

use common::*;
use neo_storage::{EpochEndOffset, EpochEntry, LogConfig, PartitionLog};
use proptest::prelude::*;

const CHECKPOINT: &str = "leader-epoch-checkpoint";

fn entries(log: &PartitionLog) -> Vec<(i32, i64)> {
    log.leader_epochs()
        .iter()
        .map(|e: &EpochEntry| (e.epoch, e.start_offset))
        .collect()
}

fn answer(epoch: i32, end_offset: i64) -> Option<EpochEndOffset> {
    Some(EpochEndOffset { epoch, end_offset })
}

/// Appends a batch of `records` records under `epoch`; returns its base offset.
fn append(log: &PartitionLog, epoch: i32, records: usize) -> i64 {
    log.set_leader_epoch(epoch);
    let bytes = sized_batch(epoch as u64, records, 100, 1000);
    log.append(&mut bytes.clone()).unwrap().base_offset
}

/// The cache the batches the log returns say (what a rebuild must find).
fn expected(log: &PartitionLog) -> Vec<(i32, i64)> {
    let mut cache: Vec<(i32, i64)> = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let slice = log.read(offset, 1 << 20, i64::MAX).unwrap();
        let mut rest = &slice.records[..];
        while !rest.is_empty() {
            let header = neo_record::batch_header::BatchHeader::parse(rest).unwrap();
            let epoch = header.partition_leader_epoch;
            if epoch >= 0 && cache.last().is_none_or(|(e, _)| epoch > *e) {
                cache.push((epoch, header.base_offset));
            }
            rest = &rest[header.total_len()..];
        }
        offset = slice.next_offset;
    }
    if let Some(first) = cache.first_mut() {
        first.1 = first.1.max(log.log_start_offset());
    }
    cache
}

fn reopen(dir: &Path, config: &LogConfig) -> PartitionLog {
    PartitionLog::open(dir, config.clone(), flusher()).unwrap()
}

#[test]
fn appends_record_the_first_offset_of_each_newer_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), small_segments(), flusher()).unwrap();
    assert!(entries(&log).is_empty());
    assert!(
        !dir.path().join(CHECKPOINT).exists(),
        "nothing to write yet"
    );
    append(&log, 1, 3); // 0..3
    append(&log, 1, 2); // 3..5
    append(&log, 4, 5); // 5..10
    append(&log, 2, 1); // 10: an older epoch, as a follower may store: no entry
    append(&log, 6, 2); // 11..13
    assert_eq!(entries(&log), [(1, 0), (4, 5), (6, 11)]);

    assert_eq!(log.end_offset_for_epoch(6, None), answer(6, 13));
    assert_eq!(log.end_offset_for_epoch(4, None), answer(4, 11));
    assert_eq!(log.end_offset_for_epoch(1, None), answer(1, 5));
    assert_eq!(log.end_offset_for_epoch(3, None), answer(1, 5));
    assert_eq!(log.end_offset_for_epoch(0, None), answer(0, 0));
    assert_eq!(log.end_offset_for_epoch(7, None), None);
    assert_eq!(log.end_offset_for_epoch(-1, None), None);
    // A leader elected in epoch 9 that has written nothing yet: its epoch starts at the end.
    assert_eq!(log.end_offset_for_epoch(9, Some(9)), answer(9, 13));
    assert_eq!(log.end_offset_for_epoch(7, Some(9)), answer(6, 13));
    assert_eq!(log.end_offset_for_epoch(6, Some(9)), answer(6, 13));
    assert_eq!(log.end_offset_for_epoch(10, Some(9)), None);
    assert_eq!(log.end_offset_for_epoch(4, Some(6)), answer(4, 11));

    log.close().unwrap();
    let log = reopen(dir.path(), &small_segments());
    assert_eq!(entries(&log), [(1, 0), (4, 5), (6, 11)]);
}

#[test]
fn truncation_removes_the_epochs_of_the_cut_records() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments();
    let log = PartitionLog::open(dir.path(), config.clone(), flusher()).unwrap();
    append(&log, 1, 4); // 0..4
    append(&log, 2, 4); // 4..8
    append(&log, 2, 4); // 8..12
    append(&log, 5, 4); // 12..16
    log.truncate_to(13).unwrap(); // cut at the batch holding 13: 12
    assert_eq!(entries(&log), [(1, 0), (2, 4)]);
    assert_eq!(log.end_offset_for_epoch(2, None), answer(2, 12));
    log.truncate_to(9).unwrap(); // cut at 8
    assert_eq!(entries(&log), [(1, 0), (2, 4)]);
    assert_eq!(log.end_offset_for_epoch(1, None), answer(1, 4));
    log.truncate_to(4).unwrap();
    assert_eq!(entries(&log), [(1, 0)]);
    // A follower takes the new leader's records from there.
    assert_eq!(append(&log, 7, 2), 4);
    assert_eq!(entries(&log), [(1, 0), (7, 4)]);
    drop(log);
    let log = reopen(dir.path(), &config);
    assert_eq!(entries(&log), [(1, 0), (7, 4)]);
}

#[test]
fn a_moving_log_start_keeps_the_epoch_that_covers_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments();
    let log = PartitionLog::open(dir.path(), config.clone(), flusher()).unwrap();
    for epoch in [1, 1, 2, 3, 3, 3] {
        append(&log, epoch, 10);
    }
    assert_eq!(entries(&log), [(1, 0), (2, 20), (3, 30)]);
    log.delete_records(25).unwrap();
    assert_eq!(entries(&log), [(2, 25), (3, 30)]);
    assert_eq!(log.end_offset_for_epoch(1, None), answer(1, 25));
    log.delete_records(45).unwrap();
    assert_eq!(entries(&log), [(3, 45)]);
    drop(log);
    let log = reopen(dir.path(), &config);
    assert_eq!(entries(&log), [(3, 45)]);
    assert_eq!(entries(&log), expected(&log));
}

#[test]
fn a_torn_tail_takes_its_new_epoch_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig::default();
    let log = PartitionLog::open(dir.path(), config.clone(), flusher()).unwrap();
    append(&log, 1, 3);
    append(&log, 2, 3);
    append(&log, 3, 3); // its entry is written down before the batch
    drop(log); // a crash: no clean-shutdown marker
    let path = dir.path().join(format!("{:020}.log", 0));
    let len = std::fs::metadata(&path).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    let log = reopen(dir.path(), &config);
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(entries(&log), [(1, 0), (2, 3)]);
    assert_eq!(log.end_offset_for_epoch(3, None), None);
    assert_eq!(log.end_offset_for_epoch(2, None), answer(2, 6));
    drop(log);
    let saved = std::fs::read_to_string(dir.path().join(CHECKPOINT)).unwrap();
    assert_eq!(
        saved, "0\n2\n1 0\n2 3\n",
        "the cut entry is gone from the file too"
    );
}

#[test]
fn a_missing_or_wrong_file_is_rebuilt_from_the_batches() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments();
    let log = PartitionLog::open(dir.path(), config.clone(), flusher()).unwrap();
    for epoch in [0, 0, 3, 3, 8, 8, 8, 9] {
        append(&log, epoch, 7);
    }
    let want = [(0, 0), (3, 14), (8, 28), (9, 49)];
    assert_eq!(entries(&log), want);
    assert!(log.segment_count() > 1);
    log.close().unwrap();
    let file = dir.path().join(CHECKPOINT);
    for wrong in [
        None,
        Some("garbage"),
        Some("0\n2\n0 0\n3 14\n"), // an epoch missing at the end
        Some("0\n4\n0 0\n3 15\n8 28\n9 49\n"), // one that starts mid-batch
        Some("0\n4\n0 0\n4 14\n8 28\n9 49\n"), // one of the wrong epoch
        Some("0\n5\n0 0\n3 14\n8 28\n9 49\n11 56\n"), // one past the end: cut, not rebuilt
    ] {
        match wrong {
            None => std::fs::remove_file(&file).unwrap(),
            Some(text) => std::fs::write(&file, text).unwrap(),
        }
        let log = reopen(dir.path(), &config);
        assert_eq!(entries(&log), want, "after {wrong:?}");
        log.close().unwrap();
        let saved = std::fs::read_to_string(&file).unwrap();
        assert_eq!(saved, "0\n4\n0 0\n3 14\n8 28\n9 49\n", "after {wrong:?}");
    }
}

#[test]
fn replaced_segments_bring_their_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_segments();
    let leader = PartitionLog::open(&dir.path().join("leader"), config.clone(), flusher()).unwrap();
    for epoch in [1, 1, 2, 2, 2, 4, 4, 4, 4, 5] {
        append(&leader, epoch, 9);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while leader.sealed_segments(i64::MAX).0.len() + 1 < leader.segment_count() {
        assert!(
            std::time::Instant::now() < deadline,
            "segments never sealed"
        );
        leader.request_sync();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (linked, end) = leader
        .link_sealed_segments(leader.log_end_offset(), &dir.path().join("copy"))
        .unwrap();
    assert!(!linked.is_empty());
    let replica =
        PartitionLog::open(&dir.path().join("replica"), config.clone(), flusher()).unwrap();
    append(&replica, 7, 3); // a divergent history the copy replaces
    replica.replace_segments(&linked, 10, end).unwrap();
    let want = expected(&replica);
    assert_eq!(entries(&replica), want);
    assert_eq!(want.first(), Some(&(1, 10)));
    replica.close().unwrap();
    let replica = reopen(&dir.path().join("replica"), &config);
    assert_eq!(entries(&replica), want);
}

#[derive(Debug, Clone)]
enum Op {
    /// Appends a batch; the epoch goes up by the given step (0: same epoch). Epochs never go
    /// down in a Raft log (an older one stored after a newer one is the unit test's case).
    Append {
        step: i32,
        records: usize,
    },
    Truncate(u8),
    DeleteRecords(u8),
    ReopenClean,
    ReopenAfterCrash,
    TearTail(u8),
    LoseFile,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0i32..3, 1usize..5).prop_map(|(step, records)| Op::Append { step, records }),
        2 => any::<u8>().prop_map(Op::Truncate),
        1 => any::<u8>().prop_map(Op::DeleteRecords),
        1 => Just(Op::ReopenClean),
        1 => Just(Op::ReopenAfterCrash),
        1 => any::<u8>().prop_map(Op::TearTail),
        1 => Just(Op::LoseFile),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_cache_always_says_what_the_batches_say(ops in proptest::collection::vec(op(), 1..50)) {
        let dir = tempfile::tempdir().unwrap();
        let config = small_segments();
        let mut log = PartitionLog::open(dir.path(), config.clone(), flusher()).unwrap();
        let mut epoch = 0i32;
        for op in ops {
            match op {
                Op::Append { step, records } => {
                    epoch += step;
                    append(&log, epoch, records);
                }
                Op::Truncate(x) => {
                    let span = log.log_end_offset() - log.log_start_offset();
                    log.truncate_to(log.log_start_offset() + i64::from(x) * span / 255).unwrap();
                }
                Op::DeleteRecords(x) => {
                    let span = log.log_end_offset() - log.log_start_offset();
                    log.delete_records(log.log_start_offset() + i64::from(x) * span / 255).unwrap();
                }
                Op::ReopenClean => {
                    log.close().unwrap();
                    log = reopen(dir.path(), &config);
                }
                Op::ReopenAfterCrash => {
                    drop(log);
                    log = reopen(dir.path(), &config);
                }
                Op::TearTail(x) => {
                    drop(log);
                    let last = std::fs::read_dir(dir.path())
                        .unwrap()
                        .map(|e| e.unwrap().path())
                        .filter(|p| p.extension().is_some_and(|e| e == "log"))
                        .max()
                        .unwrap();
                    let len = std::fs::metadata(&last).unwrap().len();
                    let cut = len - len.min(u64::from(x));
                    OpenOptions::new().write(true).open(&last).unwrap().set_len(cut).unwrap();
                    log = reopen(dir.path(), &config);
                }
                Op::LoseFile => {
                    log.close().unwrap();
                    let _ = std::fs::remove_file(dir.path().join(CHECKPOINT));
                    log = reopen(dir.path(), &config);
                }
            }
            prop_assert_eq!(entries(&log), expected(&log));
        }
    }
}
