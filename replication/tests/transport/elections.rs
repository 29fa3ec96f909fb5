//! Groups elect, replicate, and get past the loss of a leader's node.

use neo_replication::group_id::GroupId;

use crate::support::{
    Node, applied, leader_of, members, one_cluster_at_a_time, partition, start_nodes,
    transport_config, write,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_elect_replicate_and_survive_the_loss_of_a_leader_node() {
    let _cluster = one_cluster_at_a_time().await;
    let mut nodes = start_nodes(3, transport_config()).await;
    let groups: Vec<GroupId> = (0..10)
        .map(partition)
        .chain([GroupId::Controller])
        .collect();
    for node in &mut nodes {
        for &group in &groups {
            node.open_group(group, 0).await;
        }
    }
    let membership = members(&nodes);
    for (i, &group) in groups.iter().enumerate() {
        // Spread who starts each group, so that leaders spread too.
        nodes[i % 3]
            .raft(group)
            .initialize(membership.clone())
            .await
            .unwrap();
    }

    let all: Vec<&Node> = nodes.iter().collect();
    for &group in &groups {
        write(&all, group, "before").await;
    }
    for node in &nodes {
        for &group in &groups {
            applied(node, group, &["before"]).await;
        }
    }

    let victim = leader_of(&all, GroupId::Controller).await;
    let mut led_by_victim = Vec::new();
    for &group in &groups {
        if leader_of(&all, group).await == victim {
            led_by_victim.push(group);
        }
    }
    let victim_index = nodes.iter().position(|n| n.id == victim).unwrap();
    nodes[victim_index].kill().await;

    let survivors: Vec<&Node> = nodes.iter().filter(|n| n.id != victim).collect();
    for &group in &led_by_victim {
        let new_leader = leader_of(&survivors, group).await;
        assert_ne!(new_leader, victim, "{group}");
    }
    for &group in &groups {
        write(&survivors, group, "after").await;
    }
    for node in &survivors {
        for &group in &groups {
            applied(node, group, &["before", "after"]).await;
        }
    }
}
