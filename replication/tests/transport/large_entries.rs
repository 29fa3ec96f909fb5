//! Entries that together exceed a frame reach a follower over several AppendEntries.

use openraft::BasicNode;

use crate::support::{
    Node, applied, leader_of, members, one_cluster_at_a_time, partition, start_nodes,
    transport_config, write,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_larger_together_than_a_frame_reach_a_new_follower_in_parts() {
    let _cluster = one_cluster_at_a_time().await;
    let config = neo_replication::transport::TransportConfig {
        max_frame_bytes: 32 << 10,
        snapshot_chunk_bytes: 16 << 10,
        ..transport_config()
    };
    let mut nodes = start_nodes(3, config).await;
    let group = partition(0);
    for node in &mut nodes {
        node.open_group(group, 0).await;
    }
    nodes[0]
        .raft(group)
        .initialize(members(&nodes[..2]))
        .await
        .unwrap();

    // Ten entries of 10 KiB: a node that joins now is sent them in one go unless the
    // transport cuts the request to what fits in 32 KiB.
    let pair: Vec<&Node> = nodes[..2].iter().collect();
    let values: Vec<String> = (0..10).map(|i| format!("{i}").repeat(10 << 10)).collect();
    for value in &values {
        write(&pair, group, value).await;
    }
    let leader_id = leader_of(&pair, group).await;
    let leader = nodes.iter().find(|n| n.id == leader_id).unwrap();
    let newcomer = &nodes[2];
    let address = BasicNode::new(newcomer.transport.local_addr());
    leader
        .raft(group)
        .add_learner(newcomer.id, address, true)
        .await
        .unwrap();

    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    applied(newcomer, group, &values).await;
    let frames = leader.transport.peer_stats(newcomer.id).frames_sent;
    assert!(
        frames >= 4,
        "ten 10 KiB entries in {frames} frames of at most 32 KiB"
    );
}
