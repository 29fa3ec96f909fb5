//! A partition's only replica, with no Raft group: batches take dense offsets, the high
//! watermark is what is fsynced, refused and duplicate batches take no offset, and a partition
//! that was a group keeps its term as the leader epoch, its Raft files gone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod partition_support;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use neo_record::batch_header::BatchHeader;
use neo_replication::no_peers::NoPeers;
use neo_replication::partition::append_gate::OpenGate;
use neo_replication::partition::group::{PartitionGroup, PartitionTiming};
use neo_replication::partition::solo::SoloReplica;
use neo_replication::types::Admitted;
use neo_storage::{Flusher, LogConfig, PartitionLog};
use partition_support::{Gate, batch};

fn open_log(dir: &Path) -> PartitionLog {
    PartitionLog::open(&dir.join("t-0"), LogConfig::default(), Flusher::new(1)).unwrap()
}

#[tokio::test]
async fn appends_commit_once_fsynced() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path());
    let solo = SoloReplica::open(
        "t-0".into(),
        log.clone(),
        Arc::new(Gate::default()),
        true,
        1,
    )
    .unwrap();
    assert_eq!(solo.leadership(), (Some(1), 0));
    let (admitted, commit) = solo.append(batch(&["a", "b"])).unwrap();
    assert_eq!(
        admitted,
        Admitted::Appended {
            base_offset: 0,
            last_offset: 1,
            log_append_time: None
        }
    );
    assert!(commit.committed().await);
    assert!(solo.high_watermark() >= 2);
    let (refused, _) = solo.append(batch(&["no"])).unwrap();
    assert_eq!(refused, Admitted::Refused(Bytes::from("refused")));
    let (dup, commit) = solo.append(batch(&["dup"])).unwrap();
    assert!(matches!(dup, Admitted::Duplicate { .. }));
    assert!(commit.committed().await);
    let (next, commit) = solo.append(batch(&["c"])).unwrap();
    assert!(matches!(next, Admitted::Appended { base_offset: 2, .. }));
    assert!(commit.committed().await);
    assert_eq!(solo.high_watermark(), 3);

    // A topic that relaxes durability: readable (and committed) once written.
    solo.set_durable(false);
    let (_, commit) = solo.append(batch(&["d"])).unwrap();
    assert_eq!(solo.high_watermark(), 4);
    assert!(commit.committed().await);
    solo.close();
    assert!(solo.append(batch(&["e"])).is_err());
    log.close().unwrap();
}

#[tokio::test]
async fn a_partition_that_was_a_group_keeps_its_term_as_the_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path());
    let group = PartitionGroup::open(
        "t-0".into(),
        log.clone(),
        Arc::new(OpenGate),
        true,
        1,
        NoPeers,
        PartitionTiming::default(),
    )
    .await
    .unwrap();
    group.lead_alone().await.unwrap();
    let proposed = group.propose(batch(&["x"])).await.unwrap();
    assert!(proposed.committed().await);
    let term = group.term();
    assert!(term > 0);
    group.shutdown().await.unwrap();
    log.close().unwrap();
    drop(group);
    drop(log);

    let log = open_log(dir.path());
    let solo = SoloReplica::open("t-0".into(), log.clone(), Arc::new(OpenGate), true, 1).unwrap();
    assert_eq!(solo.leadership(), (Some(1), term));
    let (admitted, commit) = solo.append(batch(&["y"])).unwrap();
    assert!(matches!(
        admitted,
        Admitted::Appended { base_offset: 1, .. }
    ));
    assert!(commit.committed().await);
    let stored = log.read(1, 1 << 20, 2).unwrap().records;
    let header = BatchHeader::parse(&stored).unwrap();
    assert_eq!(header.partition_leader_epoch as u64, term);
    let mut left: Vec<String> = std::fs::read_dir(dir.path().join("t-0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("raft."))
        .collect();
    left.sort();
    assert_eq!(left, ["raft.vote"]);
    solo.close();
    log.close().unwrap();
}
