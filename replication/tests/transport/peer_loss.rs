//! A peer whose process stops is known lost at once (its connection closes), long before its
//! silence would tell: what lets brokers stop naming a dead broker as a partition's leader.

use std::time::Duration;

use tokio::time::Instant;

use crate::support::{one_cluster_at_a_time, start_nodes, transport_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_peer_is_known_lost_at_once() {
    let _cluster = one_cluster_at_a_time().await;
    let config = transport_config();
    let interval = config.heartbeat_interval;
    let mut nodes = start_nodes(2, config).await;
    // Pings connect the two nodes both ways.
    let deadline = Instant::now() + Duration::from_secs(10);
    while nodes[0].transport.last_heard(2).is_none() || nodes[1].transport.last_heard(1).is_none() {
        assert!(
            Instant::now() < deadline,
            "the nodes never heard each other"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(interval * 2).await;
    assert_eq!(nodes[0].transport.connection_lost_since(2), None);

    let stopped = Instant::now();
    nodes[1].kill().await;
    let deadline = stopped + interval / 2;
    let lost = loop {
        if let Some(at) = nodes[0].transport.connection_lost_since(2) {
            break at;
        }
        assert!(
            Instant::now() < deadline,
            "not known lost within half an interval"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let heard = nodes[0].transport.last_heard(2).unwrap();
    assert!(heard < lost, "nothing was heard from it since");
}
