//! Partition groups of three replicas over the cluster transport (real sockets on 127.0.0.N):
//! a follower that was away while the leader purged its Raft log catches up from a snapshot of
//! sealed segments; retention on the leader keeps what a lagging follower still needs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use neo_record::codec::{BatchBuilder, Compression};
use neo_replication::group_id::GroupId;
use neo_replication::partition::append_gate::OpenGate;
use neo_replication::partition::group::{PartitionGroup, PartitionTiming};
use neo_replication::transport::{ClusterTransport, TransportConfig};
use neo_replication::types::NodeId;
use neo_storage::{Flusher, LogConfig, PartitionLog};
use tempfile::TempDir;
use tokio::time::Instant;

const GROUP: GroupId = GroupId::Partition {
    topic_id: 0x5eed,
    partition: 0,
};

/// Segments of a few dozen batches, so a test fills many.
fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        max_index_bytes: 4096,
        ..LogConfig::default()
    }
}

fn batch(n: u64) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None, 1_000);
    b.push(
        1_000,
        None,
        Some(format!("record number {n:08}").as_bytes()),
        &[],
    );
    b.build().unwrap().freeze()
}

struct Replica {
    id: NodeId,
    transport: ClusterTransport,
    dir: TempDir,
    flusher: Arc<Flusher>,
    open: Option<(PartitionGroup, PartitionLog)>,
}

impl Replica {
    fn partition_dir(&self) -> PathBuf {
        self.dir.path().join("t-0")
    }

    fn group(&self) -> &PartitionGroup {
        &self.open.as_ref().expect("replica running").0
    }

    fn log(&self) -> &PartitionLog {
        &self.open.as_ref().expect("replica running").1
    }

    async fn start(&mut self, timing: PartitionTiming) {
        let log =
            PartitionLog::open(&self.partition_dir(), log_config(), self.flusher.clone()).unwrap();
        let group = PartitionGroup::open(
            "t-0".into(),
            log.clone(),
            Arc::new(OpenGate),
            false,
            self.id,
            self.transport.network(GROUP),
            timing,
        )
        .await
        .unwrap();
        group.register_with(&self.transport, GROUP);
        self.open = Some((group, log));
    }

    async fn stop(&mut self) {
        if let Some((group, log)) = self.open.take() {
            self.transport.unregister(GROUP);
            group.shutdown().await.unwrap();
            log.close().unwrap();
        }
    }
}

async fn replicas(timing: PartitionTiming) -> Vec<Replica> {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
    let mut replicas = Vec::new();
    for n in 1..=3u8 {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, n));
        let dir = tempfile::tempdir().unwrap();
        let config = TransportConfig {
            cluster_id: "neo-test".into(),
            local_address: Some(ip),
            snapshot_chunk_bytes: 1500,
            ..TransportConfig::default()
        };
        let transport = ClusterTransport::start(
            NodeId::from(n),
            SocketAddr::new(ip, 0),
            dir.path().join("staging"),
            config,
        )
        .await
        .unwrap();
        replicas.push(Replica {
            id: NodeId::from(n),
            transport,
            dir,
            flusher: Flusher::new(1),
            open: None,
        });
    }
    let addresses: Vec<(NodeId, SocketAddr)> = replicas
        .iter()
        .map(|r| (r.id, r.transport.local_addr()))
        .collect();
    for replica in &replicas {
        for &(id, addr) in &addresses {
            if id != replica.id {
                replica.transport.set_peer(id, addr);
            }
        }
    }
    for replica in &mut replicas {
        replica.start(timing).await;
    }
    let members: BTreeMap<NodeId, String> = addresses
        .iter()
        .map(|(id, addr)| (*id, addr.to_string()))
        .collect();
    replicas[0].group().form(members).await.unwrap();
    replicas
}

async fn eventually<T, F, Fut>(what: &str, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = condition().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The index of the replica leading among the running ones.
async fn leader(replicas: &[Replica]) -> usize {
    eventually("a leader", || async {
        replicas
            .iter()
            .position(|r| r.open.is_some() && r.group().is_leader())
    })
    .await
}

/// Writes batches `from..to` through the leader, each committed (again through a new leader
/// if the leadership moved meanwhile).
async fn write(replicas: &[Replica], from: u64, to: u64) {
    for n in from..to {
        eventually(&format!("batch {n} committed"), || async {
            let leader = leader(replicas).await;
            let proposed = replicas[leader].group().propose(batch(n)).await.ok()?;
            proposed.committed().await.then_some(())
        })
        .await;
    }
}

/// Held by each test: clusters measure time (elections) on a machine of two cores.
async fn one_cluster_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static CLUSTERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    CLUSTERS.lock().await
}

/// Waits until the running replicas agree on the high watermark; returns it.
async fn same_high_watermark(replicas: &[Replica]) -> i64 {
    eventually("the same high watermark", || async {
        let leader = leader(replicas).await;
        let hw = replicas[leader].group().high_watermark();
        replicas
            .iter()
            .filter(|r| r.open.is_some())
            .all(|r| r.group().high_watermark() == hw)
            .then_some(hw)
    })
    .await
}

fn segment_logs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn has_snapshot(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let name = e.unwrap().file_name();
        let name = name.to_string_lossy();
        name.starts_with("raft.snapshot-") && name != "raft.snapshot-building"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_away_while_the_log_was_purged_catches_up_from_sealed_segments() {
    let timing = PartitionTiming {
        entries_kept_after_snapshot: 10,
        ..PartitionTiming::default()
    };
    let _cluster = one_cluster_at_a_time().await;
    let mut replicas = replicas(timing).await;
    write(&replicas, 0, 5).await;
    let leader = leader(&replicas).await;
    let away = (leader + 1) % 3;
    eventually("the follower has the first batches", || async {
        (replicas[away].group().high_watermark() == 5).then_some(())
    })
    .await;
    replicas[away].stop().await;

    // Many segments roll; each roll takes a snapshot and the log is purged below them.
    write(&replicas, 5, 400).await;
    let leader = self::leader(&replicas).await;
    let leader_dir = replicas[leader].partition_dir();
    assert!(replicas[leader].log().segment_count() > 5);
    // Snapshots and purges follow the rolls in the background.
    eventually(
        "the leader took a snapshot and purged the entries the follower lacks",
        || async {
            (has_snapshot(&leader_dir) && replicas[leader].group().needed_from() > 5).then_some(())
        },
    )
    .await;

    replicas[away].start(timing).await;
    let hw = same_high_watermark(&replicas).await;
    assert!(hw >= 400);
    let away_dir = replicas[away].partition_dir();
    assert!(has_snapshot(&away_dir), "the follower installed a snapshot");
    // It got no entry from the start: its Raft log begins after the snapshot.
    assert!(replicas[away].group().needed_from() > 5);

    // Both logs end the same, and every segment file is byte for byte the leader's.
    eventually("the same log end", || async {
        (replicas[away].log().log_end_offset() == replicas[leader].log().log_end_offset())
            .then_some(())
    })
    .await;
    assert_eq!(segment_logs(&away_dir), segment_logs(&leader_dir));

    // And it goes on with entries.
    write(&replicas, 400, 420).await;
    assert!(same_high_watermark(&replicas).await >= hw + 20);
    for replica in &mut replicas {
        replica.stop().await;
        replica.transport.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_on_the_leader_keeps_what_a_lagging_follower_needs() {
    let timing = PartitionTiming {
        entries_kept_after_snapshot: 1_000,
        ..PartitionTiming::default()
    };
    let _cluster = one_cluster_at_a_time().await;
    let mut replicas = replicas(timing).await;
    write(&replicas, 0, 5).await;
    let leader = leader(&replicas).await;
    let away = (leader + 1) % 3;
    eventually("the follower has the first batches", || async {
        (replicas[away].group().high_watermark() == 5).then_some(())
    })
    .await;
    replicas[away].stop().await;
    write(&replicas, 5, 200).await;

    let leader = self::leader(&replicas).await;
    let log = replicas[leader].log().clone();
    let segments = log.segment_count();
    log.set_config(LogConfig {
        retention_bytes: Some(4096),
        ..log_config()
    });
    let group = replicas[leader].group();
    assert_eq!(group.apply_retention(neo_record::now_ms()).unwrap(), 0);
    assert!(
        log.log_start_offset() > 5,
        "readers no longer see old records"
    );
    assert!(log.segment_count() >= segments, "no segment deleted");
    assert!(log.read_retained(5, 1024, i64::MAX).is_ok());

    // The follower comes back and catches up entry by entry from what was kept.
    replicas[away].start(timing).await;
    assert!(same_high_watermark(&replicas).await >= 200);
    assert!(
        replicas[away].group().needed_from() <= 5,
        "it got entries, not a snapshot"
    );
    for replica in &mut replicas {
        replica.stop().await;
        replica.transport.shutdown();
    }
}
