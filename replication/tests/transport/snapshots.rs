//! A node that joins after the log was purged catches up from a snapshot of files.

use openraft::BasicNode;
use openraft::async_runtime::watch::WatchReceiver;

use crate::support::{
    Node, applied, eventually, leader_of, members, one_cluster_at_a_time, partition,
    segment_content, start_nodes, transport_config, write,
};

/// Bigger than several chunks, not a multiple of the chunk size.
const SEGMENT_BYTES: usize = 300_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_node_catches_up_from_a_snapshot_of_files() {
    let _cluster = one_cluster_at_a_time().await;
    let config = neo_replication::transport::TransportConfig {
        snapshot_chunk_bytes: 64 << 10,
        ..transport_config()
    };
    let mut nodes = start_nodes(3, config).await;
    let group = partition(0);
    for node in &mut nodes {
        node.open_group(group, SEGMENT_BYTES).await;
    }
    let first_two = members(&nodes[..2]);
    nodes[0].raft(group).initialize(first_two).await.unwrap();

    let pair: Vec<&Node> = nodes[..2].iter().collect();
    let values = ["a", "b", "c", "d", "e"];
    for value in values {
        write(&pair, group, value).await;
    }
    let leader_id = leader_of(&pair, group).await;
    let leader = nodes.iter().find(|n| n.id == leader_id).unwrap();
    let raft = leader.raft(group);
    let applied_before = raft.metrics().borrow_watched().last_applied;
    raft.trigger().snapshot().await.unwrap();
    let snapshot = eventually("the leader's snapshot", || async {
        let snapshot = raft.metrics().borrow_watched().snapshot;
        (snapshot >= applied_before).then_some(snapshot).flatten()
    })
    .await;
    raft.trigger().purge_log(snapshot.index).await.unwrap();
    eventually("the leader's log purged", || async {
        (raft.metrics().borrow_watched().purged == Some(snapshot)).then_some(())
    })
    .await;

    // The entries node 3 needs are gone from the leader's log: only the snapshot can bring it.
    let newcomer = &nodes[2];
    let address = BasicNode::new(newcomer.transport.local_addr());
    raft.add_learner(newcomer.id, address, true).await.unwrap();
    applied(newcomer, group, &values).await;

    let files = newcomer.groups[&group]
        .state_machine
        .snapshot_files()
        .await
        .expect("an installed snapshot");
    let segment = files
        .files
        .iter()
        .find(|f| f.name == "segment.log")
        .unwrap();
    assert_eq!(segment.len, SEGMENT_BYTES as u64);
    let staging = newcomer.dir.path().join("staging");
    assert!(!segment.path.starts_with(&staging), "moved out of staging");
    assert_eq!(
        std::fs::read(&segment.path).unwrap(),
        segment_content(SEGMENT_BYTES)
    );
    assert_eq!(
        std::fs::read_dir(staging).unwrap().count(),
        0,
        "staging emptied"
    );
}
