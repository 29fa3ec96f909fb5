//! A partition group of one: batches take dense offsets and the term as their leader epoch,
//! the high watermark follows commits, refused and duplicate batches take no offset, and a
//! restart keeps the log and the sidecar in agreement.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod partition_support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use neo_record::batch_header::BatchHeader;
use neo_replication::no_peers::NoPeers;
use neo_replication::partition::group::{PartitionGroup, PartitionTiming};
use neo_replication::types::Admitted;
use neo_storage::{Flusher, LogConfig, PartitionLog};
use partition_support::{Gate, batch};

async fn open(dir: &Path, gate: Arc<Gate>) -> (PartitionGroup, PartitionLog) {
    let log = PartitionLog::open(&dir.join("t-0"), LogConfig::default(), Flusher::new(1)).unwrap();
    let group = PartitionGroup::open(
        "t-0".into(),
        log.clone(),
        gate,
        true,
        1,
        NoPeers,
        PartitionTiming::default(),
    )
    .await
    .unwrap();
    group.lead_alone().await.unwrap();
    (group, log)
}

#[tokio::test]
async fn batches_take_dense_offsets_and_commit_moves_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Gate::default());
    let (group, log) = open(dir.path(), Arc::clone(&gate)).await;
    let first = group.propose(batch(&["a", "b"])).await.unwrap();
    assert_eq!(
        first.admitted,
        Admitted::Appended {
            base_offset: 0,
            last_offset: 1,
            log_append_time: None
        }
    );
    assert!(first.committed().await);
    assert_eq!(group.high_watermark(), 2);
    let refused = group.propose(batch(&["no"])).await.unwrap();
    assert_eq!(refused.admitted, Admitted::Refused(Bytes::from("refused")));
    let dup = group.propose(batch(&["dup"])).await.unwrap();
    assert!(matches!(dup.admitted, Admitted::Duplicate { .. }));
    let next = group.propose(batch(&["c"])).await.unwrap();
    assert_eq!(
        next.admitted,
        Admitted::Appended {
            base_offset: 2,
            last_offset: 2,
            log_append_time: None
        }
    );
    assert!(next.committed().await);
    assert_eq!(group.high_watermark(), 3);
    assert_eq!(log.log_end_offset(), 3);
    let stored = log.read(2, 1 << 20, 3).unwrap().records;
    let header = BatchHeader::parse(&stored).unwrap();
    assert_eq!(
        i64::from(header.partition_leader_epoch),
        group.term() as i64
    );
    assert_eq!(gate.seen.load(Ordering::Relaxed), 2);
    group.shutdown().await.unwrap();
    log.close().unwrap();
    drop(group);

    // After a restart the same group leads again, the committed records are still readable
    // and new batches follow them.
    let (group, log) = open(dir.path(), Arc::new(Gate::default())).await;
    let again = group.propose(batch(&["d"])).await.unwrap();
    assert_eq!(
        again.admitted,
        Admitted::Appended {
            base_offset: 3,
            last_offset: 3,
            log_append_time: None
        }
    );
    assert!(again.committed().await);
    assert_eq!(group.high_watermark(), 4);
    group.shutdown().await.unwrap();
    log.close().unwrap();
}

#[tokio::test]
async fn data_written_before_the_group_existed_counts_as_committed() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(
        &dir.path().join("t-0"),
        LogConfig::default(),
        Flusher::new(1),
    )
    .unwrap();
    let mut old = batch(&["x", "y", "z"]).to_vec();
    log.append(&mut old).unwrap();
    log.close().unwrap();
    drop(log);
    let (group, log) = open(dir.path(), Arc::new(Gate::default())).await;
    assert_eq!(group.high_watermark(), 3);
    let next = group.propose(batch(&["w"])).await.unwrap();
    assert!(matches!(
        next.admitted,
        Admitted::Appended { base_offset: 3, .. }
    ));
    group.shutdown().await.unwrap();
    log.close().unwrap();
}
