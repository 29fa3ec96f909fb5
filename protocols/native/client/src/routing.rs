//! What a client knows of the cluster: each broker's native address and each partition's
//! leader, learnt from Metadata, so that a partition's produce and subscriptions go to the
//! broker leading it; refreshed when a request finds the leadership moved or its broker gone.

use std::collections::HashMap;
use std::time::Duration;

use neo_native::wire::{BrokerInfo, TopicLeaders};
use parking_lot::{Mutex, RwLock};
use tokio::time::Instant;

use crate::client::Client;

/// Shortest time between two Metadata requests: the requests failing together during a
/// failover ask once.
pub(crate) const REFRESH_INTERVAL: Duration = Duration::from_millis(100);

/// The cluster as last learnt, and the connections to brokers other than the bootstrap one.
#[derive(Default)]
pub(crate) struct Routing {
    known: RwLock<Known>,
    /// A client (one connection) per broker address other than the bootstrap one.
    peers: Mutex<HashMap<String, Client>>,
    /// When Metadata was last asked; held while one is asked, so only one is.
    refreshed: tokio::sync::Mutex<Option<Instant>>,
}

/// Brokers' addresses and partitions' leaders by broker id.
#[derive(Debug, Default)]
struct Known {
    brokers: HashMap<i64, String>,
    leaders: HashMap<(String, i32), i64>,
}

impl Routing {
    /// The native address of the broker leading `topic`/`partition`, if known.
    pub(crate) fn leader_address(&self, topic: &str, partition: i32) -> Option<String> {
        let known = self.known.read();
        let leader = known.leaders.get(&(topic.to_string(), partition))?;
        known.brokers.get(leader).cloned()
    }

    /// Takes what a Metadata answer says.
    pub(crate) fn learn(&self, brokers: Vec<BrokerInfo>, topics: Vec<TopicLeaders>) {
        let mut known = self.known.write();
        known.brokers = brokers.into_iter().map(|b| (b.id, b.address)).collect();
        known.leaders.clear();
        for topic in topics {
            for (partition, leader) in topic.leaders.into_iter().enumerate() {
                if leader >= 0
                    && let Ok(partition) = i32::try_from(partition)
                {
                    known
                        .leaders
                        .insert((topic.name.clone(), partition), leader);
                }
            }
        }
    }

    /// Every known broker address.
    pub(crate) fn addresses(&self) -> Vec<String> {
        self.known.read().brokers.values().cloned().collect()
    }

    /// The client of the broker at `address`, if one was opened.
    pub(crate) fn peer(&self, address: &str) -> Option<Client> {
        self.peers.lock().get(address).cloned()
    }

    /// Keeps `client` as the one for `address` (unless another task kept one first).
    pub(crate) fn keep_peer(&self, address: &str, client: Client) -> Client {
        self.peers
            .lock()
            .entry(address.to_string())
            .or_insert(client)
            .clone()
    }

    /// Waits for its turn to ask Metadata; `None` when it was asked within
    /// [`REFRESH_INTERVAL`] (what it learnt is recent enough).
    pub(crate) async fn refresh_turn(
        &self,
    ) -> Option<tokio::sync::MutexGuard<'_, Option<Instant>>> {
        let turn = self.refreshed.lock().await;
        match *turn {
            Some(at) if at.elapsed() < REFRESH_INTERVAL => None,
            _ => Some(turn),
        }
    }

    /// Closes the connections to the other brokers.
    pub(crate) fn close(&self) -> Vec<Client> {
        self.peers.lock().drain().map(|(_, c)| c).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaders_are_found_by_partition_and_unknown_ones_left_out() {
        let routing = Routing::default();
        routing.learn(
            vec![
                BrokerInfo {
                    id: 1,
                    address: "a:1".into(),
                },
                BrokerInfo {
                    id: 2,
                    address: "b:2".into(),
                },
            ],
            vec![TopicLeaders {
                name: "t".into(),
                leaders: vec![2, -1, 1, 3],
            }],
        );
        assert_eq!(routing.leader_address("t", 0).as_deref(), Some("b:2"));
        assert_eq!(routing.leader_address("t", 1), None);
        assert_eq!(routing.leader_address("t", 2).as_deref(), Some("a:1"));
        // A leader whose address is not known (no native listener registered).
        assert_eq!(routing.leader_address("t", 3), None);
        assert_eq!(routing.leader_address("u", 0), None);
    }
}
