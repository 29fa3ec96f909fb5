//! Idle groups between two nodes cost one heartbeat frame per interval, not one per group
//! (besides the one ping per interval each node sends each peer).

use std::time::Duration;

use neo_replication::transport::TransportConfig;
use tokio::time::Instant;

use crate::support::{
    Node, applied, leader_of, members, one_cluster_at_a_time, partition, start_nodes,
    transport_config, write,
};

const GROUPS: u32 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_groups_between_two_nodes_send_one_heartbeat_frame_per_interval() {
    let _cluster = one_cluster_at_a_time().await;
    // A longer interval than the default: the groups run in one debug-built process on a
    // shared machine, where a heartbeat round trip can take most of 150 ms.
    let config = TransportConfig {
        heartbeat_interval: Duration::from_millis(300),
        ..transport_config()
    };
    let interval = config.heartbeat_interval;
    let mut nodes = start_nodes(3, config).await;
    let groups: Vec<_> = (0..GROUPS).map(partition).collect();
    for node in &mut nodes {
        for &group in &groups {
            node.open_group(group, 0).await;
        }
    }
    let membership = members(&nodes);
    for (i, &group) in groups.iter().enumerate() {
        nodes[i % 3]
            .raft(group)
            .initialize(membership.clone())
            .await
            .unwrap();
    }
    let all: Vec<&Node> = nodes.iter().collect();
    for &group in &groups {
        write(&all, group, "x").await;
    }
    for node in &nodes {
        for &group in &groups {
            applied(node, group, &["x"]).await;
        }
    }
    let mut led = [0u64; 3];
    for &group in &groups {
        let leader = leader_of(&all, group).await;
        led[nodes.iter().position(|n| n.id == leader).unwrap()] += 1;
    }

    // Every group is idle: what crosses the wire now is heartbeats. Count them over a window
    // of many intervals (the measurement is the point; nothing is waited for here).
    let pairs: Vec<(usize, usize)> = (0..3)
        .flat_map(|a| (0..3).filter(move |&b| b != a).map(move |b| (a, b)))
        .collect();
    let stats = |nodes: &[Node]| {
        pairs
            .iter()
            .map(|&(a, b)| nodes[a].transport.peer_stats(nodes[b].id))
            .collect::<Vec<_>>()
    };
    let started = Instant::now();
    let before = stats(&nodes);
    tokio::time::sleep(interval * 30).await;
    let after = stats(&nodes);
    let intervals = started.elapsed().as_secs_f64() / interval.as_secs_f64();

    for (i, &(a, b)) in pairs.iter().enumerate() {
        let frames = after[i].frames_sent - before[i].frames_sent;
        let heartbeat_frames = after[i].heartbeat_frames_sent - before[i].heartbeat_frames_sent;
        let heartbeats = after[i].heartbeats_sent - before[i].heartbeats_sent;
        println!(
            "node {} -> node {}: leads {} groups; {intervals:.1} intervals: {frames} frames, \
             {heartbeat_frames} of them heartbeat frames carrying {heartbeats} heartbeats",
            nodes[a].id, nodes[b].id, led[a]
        );
        // The counters move while frames flow: a batch on either edge of the window may be
        // counted as a batch and not yet as a frame written, or the other way round.
        let pings = intervals.ceil() as u64 + 2;
        assert!(
            frames <= heartbeat_frames + pings,
            "{frames} frames, {heartbeat_frames} of heartbeats: only heartbeats and pings while idle"
        );
        if led[a] == 0 {
            assert_eq!(heartbeat_frames, 0);
            continue;
        }
        // One frame per interval when every led group's heartbeat makes the window; a busy
        // machine (two cores shared with other work) splits a few bursts in two.
        let per_interval = heartbeat_frames as f64 / intervals;
        assert!(
            (0.5..=2.0).contains(&per_interval),
            "{per_interval:.2} heartbeat frames per interval from node {} to node {}",
            nodes[a].id,
            nodes[b].id
        );
        let per_frame = heartbeats as f64 / heartbeat_frames as f64;
        assert!(
            per_frame >= led[a] as f64 / 3.0,
            "{per_frame:.1} heartbeats per frame for {} groups",
            led[a]
        );
    }
}
