//! Brokers joining and leaving the cluster (`neo cluster add-broker`, `remove-broker`).
//!
//! A broker joins by starting with the others as its voters (`--voters`, its own id not
//! among them) and being added: it becomes a learner of the controller group, catches up,
//! then a voter, and registers itself; new replicas are placed on it from then on. A broker
//! leaves in two steps, each asked again until done: its replicas move to other brokers (one
//! reassignment per partition, the same replication factor), then it stops being a voter and
//! is unregistered.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::metadata::{MetadataCommand, VoterChange};

/// How long a broker to add may take to be heard from (it may be starting).
const JOIN_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// A broker to add, as `neo cluster add-broker` asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddBrokerRequest {
    pub id: u64,
    /// Its cluster RPC address.
    pub address: SocketAddr,
}

/// A broker to remove, as `neo cluster remove-broker` asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveBrokerRequest {
    pub id: u64,
}

/// Where a removal stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Removal {
    /// Replicas are still moving off the broker (this many partitions): ask again.
    Moving { partitions: usize },
    /// The broker holds nothing and is no longer part of the cluster.
    Removed,
}

impl Broker {
    /// Makes broker `id`, reached at `address`, a member of the cluster: a voter of the
    /// controller once it caught up. Returns once it is one (at once if it already was).
    pub async fn add_broker(&self, id: u64, address: SocketAddr) -> Result<(), BrokerError> {
        self.check_running()?;
        // A starting broker pings the voters it was given: unheard, it is not running or
        // cannot reach this one, and adding it would wait for it in vain.
        let recent = self.config().cluster.election_timeout * 2;
        let deadline = tokio::time::Instant::now() + JOIN_WAIT;
        while !self.cluster().heard_within(id, recent) {
            if tokio::time::Instant::now() >= deadline {
                return Err(BrokerError::Cluster(format!(
                    "broker {id} is not heard from: start it first, with this broker among its \
                     --voters"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        self.metadata()
            .change_voters(&VoterChange::Add {
                node: id,
                address: address.to_string(),
            })
            .await
    }

    /// Takes broker `id` out of the cluster: starts moving each of its replicas to another
    /// broker (the one holding the fewest replicas), and once it holds none, removes it from
    /// the controller's voters and unregisters it. Refused, before anything moves, when some
    /// partition would have nowhere to go.
    pub async fn remove_broker(&self, id: u64) -> Result<Removal, BrokerError> {
        self.check_running()?;
        let invalid = BrokerError::InvalidReplicaAssignment;
        let (known, held, mut load) = self.metadata().read(|s| {
            let mut load: BTreeMap<u64, usize> = s.brokers.keys().map(|b| (*b, 0)).collect();
            for record in s.topics.values() {
                for partition in 0..record.partitions {
                    for host in record.hosts_of(partition, u64::MAX) {
                        *load.entry(host).or_default() += 1;
                    }
                }
            }
            let held: Vec<_> = s
                .replicas_on(id)
                .into_iter()
                .filter_map(|(topic, partition)| {
                    let record = s.topics.get(&topic)?;
                    Some((
                        topic,
                        partition,
                        record.replicas_of(partition, u64::MAX),
                        record.reassigning.contains_key(&partition),
                    ))
                })
                .collect();
            (s.brokers.contains_key(&id), held, load)
        });
        if !known && !self.metadata().members().contains_key(&id) {
            return Err(invalid(format!("broker {id} is not in the cluster")));
        }
        let live = self.live_broker_ids();
        let mut moves = Vec::new();
        let mut moving = 0;
        for (topic, partition, replicas, reassigning) in held {
            moving += 1;
            if reassigning {
                // A move under way finishes first; the next request moves it again if needed.
                continue;
            }
            let replacement = live
                .iter()
                .copied()
                .filter(|b| *b != id && !replicas.contains(b))
                .min_by_key(|b| (load.get(b).copied().unwrap_or(0), *b));
            let Some(replacement) = replacement else {
                return Err(invalid(format!(
                    "{topic}-{partition} has {} replicas and no other live broker can take the \
                     one on broker {id}: add a broker, or lower its replicas with reassign",
                    replicas.len()
                )));
            };
            *load.entry(replacement).or_default() += 1;
            let target: Vec<u64> = replicas
                .iter()
                .map(|b| if *b == id { replacement } else { *b })
                .collect();
            moves.push((topic, partition, target));
        }
        for (topic, partition, target) in moves {
            tracing::info!(
                broker = id,
                topic,
                partition,
                ?target,
                "moving a replica off a broker being removed"
            );
            self.reassign(&topic, partition, target).await?;
        }
        if moving > 0 {
            return Ok(Removal::Moving { partitions: moving });
        }
        self.metadata()
            .change_voters(&VoterChange::Remove { node: id })
            .await?;
        if known {
            self.metadata()
                .apply(MetadataCommand::UnregisterBroker { id })
                .await?;
        }
        Ok(Removal::Removed)
    }
}

impl Broker {
    /// Tells the cluster RPC where every broker is: those registered in the metadata and the
    /// controller's members (a broker being added is one before it registers). Brokers that
    /// left are forgotten.
    pub(crate) fn follow_members(&self) {
        let node = self.config().node_id;
        let mut addresses: BTreeMap<u64, String> = self.metadata().members();
        self.metadata().read(|s| {
            for (id, record) in &s.brokers {
                addresses.insert(*id, record.cluster_address.clone());
            }
        });
        let transport = self.cluster().transport();
        for (id, address) in &addresses {
            match address.parse::<SocketAddr>() {
                Ok(addr) if *id != node => transport.set_peer(*id, addr),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(broker = id, address, error = %e, "a broker's cluster address does not parse")
                }
            }
        }
        for id in transport.peers() {
            if !addresses.contains_key(&id) {
                transport.remove_peer(id);
            }
        }
    }
}
