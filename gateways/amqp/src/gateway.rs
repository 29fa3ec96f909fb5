//! What the gateway's connections share: the broker, the topology, the open queues.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use neo_broker::queue_handle::QueueHandle;
use neo_broker::queues::{CursorConfig, QueueConfig};
use neo_broker::{Broker, BrokerError};
use parking_lot::Mutex;

use crate::alarm::DiskAlarm;
use crate::config::AmqpConfig;
use crate::consumers::ConsumerRegistry;
use crate::topology::{QueueInfo, Topology, topic_for_queue};
use crate::topology_store::TopologyStore;

/// What every connection of the gateway shares.
#[derive(Debug)]
pub struct Gateway {
    pub broker: Arc<Broker>,
    pub config: AmqpConfig,
    pub topology: Topology,
    /// The durable part of the topology as the broker's metadata holds it.
    stored: TopologyStore,
    pub consumers: ConsumerRegistry,
    pub alarm: DiskAlarm,
    /// When each queue was last used (declared, consumed from, read with basic.get), for
    /// `x-expires`.
    last_used: Mutex<HashMap<String, Instant>>,
    ids: AtomicU64,
}

impl Gateway {
    /// A gateway over `broker`; queues already on the log (topics `amqp.*`) are declared
    /// again, durable, so their messages are there after a restart.
    pub async fn new(broker: Arc<Broker>, config: AmqpConfig) -> Gateway {
        let topology = Topology::default();
        let (stored, durable) = TopologyStore::load(&broker).await;
        topology.restore(durable);
        for topic in broker.topics() {
            let Some(name) = queue_for_topic(topic.name()) else {
                continue;
            };
            if topology.queue(&name).is_some() {
                continue;
            }
            topology.declare_queue(
                &name,
                QueueInfo {
                    durable: true,
                    auto_delete: false,
                    owner: None,
                    topic: topic.name().to_string(),
                    args: Default::default(),
                },
            );
        }
        // Ids unique in the cluster: a channel's holds and a server-named queue may be on
        // another broker.
        let first_id = broker.config().node_id.wrapping_shl(40).wrapping_add(1);
        Gateway {
            alarm: DiskAlarm::new(&broker.config().data_dir, config.disk_free_limit_bytes),
            broker,
            config,
            topology,
            stored,
            consumers: ConsumerRegistry::default(),
            last_used: Mutex::new(HashMap::new()),
            ids: AtomicU64::new(first_id),
        }
    }

    /// Takes up the declarations and deletions other brokers of the cluster store, as the
    /// metadata changes, until the gateway is dropped.
    pub fn follow_topology(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        self.broker
            .follow_metadata_changes(self, |gateway: Arc<Gateway>| async move {
                gateway
                    .stored
                    .follow(&gateway.broker, &gateway.topology)
                    .await
            })
    }

    /// Stores the durable exchanges, queues and bindings, after a change to them.
    pub async fn persist(&self) {
        self.stored
            .write(&self.broker, || self.topology.durable())
            .await;
    }

    /// Notes that queue `name` was used now (`x-expires` counts from the last use).
    pub fn touch(&self, name: &str) {
        self.last_used
            .lock()
            .insert(name.to_string(), Instant::now());
    }

    /// A consumer of queue `name` ended: an auto-delete queue goes with its last consumer.
    pub fn consumer_gone(self: &Arc<Self>, name: &str, id: u64) {
        self.touch(name);
        let left = self.consumers.remove(name, id);
        if left == 0 && self.topology.queue(name).is_some_and(|q| q.auto_delete) {
            let gateway = Arc::clone(self);
            let name = name.to_string();
            tokio::spawn(async move { gateway.delete_queue(&name).await });
        }
    }

    /// Removes a queue, its bindings and its topic; its consumers get basic.cancel.
    pub async fn delete_queue(&self, name: &str) {
        let Some(info) = self.topology.queue(name) else {
            return;
        };
        self.topology.delete_queue(name);
        self.consumers.cancel_all(name);
        self.last_used.lock().remove(name);
        self.persist().await;
        if let Err(e) = self.broker.delete_topic(&info.topic).await {
            tracing::warn!(queue = name, error = %e, "amqp: cannot delete a queue's topic");
        }
    }

    /// Queues with `x-expires` unused (no consumers, no use) for longer than it.
    pub(crate) fn expired_queues(&self) -> Vec<String> {
        let mut last_used = self.last_used.lock();
        self.topology
            .queues_with(|q| q.args.expires_ms.is_some())
            .into_iter()
            .filter(|(name, info)| {
                let since = last_used
                    .entry(name.clone())
                    .or_insert_with(Instant::now)
                    .elapsed();
                let expires =
                    Duration::from_millis(info.args.expires_ms.unwrap_or(0).max(0) as u64);
                self.consumers.count(name) == 0 && since >= expires
            })
            .map(|(name, _)| name)
            .collect()
    }

    /// A number unique in the cluster (connections, consumers, channels' holders,
    /// server-named queues).
    pub fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// The queue behind an AMQP queue name (its topic and cursor), served by the broker
    /// leading it.
    pub fn queue(&self, info: &QueueInfo) -> QueueHandle {
        let config = QueueConfig {
            cursor: CursorConfig {
                max_deliveries: info.args.delivery_limit,
                ordered: false,
            },
            ttl_ms: info.args.message_ttl_ms,
            ..QueueConfig::default()
        };
        self.broker.queue_handle(&info.topic, config)
    }

    /// Creates the topic of a newly declared queue.
    pub async fn create_queue_topic(&self, topic: &str) -> Result<(), BrokerError> {
        if self.broker.topic(topic).is_some() {
            return Ok(());
        }
        match self
            .broker
            .create_topic(
                topic,
                1,
                self.broker.queue_replication_factor(),
                BTreeMap::new(),
                false,
            )
            .await
        {
            Ok(_) | Err(BrokerError::TopicAlreadyExists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The AMQP queue name of a topic that holds one (see [`topic_for_queue`]).
fn queue_for_topic(topic: &str) -> Option<String> {
    let rest = topic.strip_prefix("amqp.")?;
    let decoded = rest.strip_prefix('x').and_then(|hex| {
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect();
        String::from_utf8(bytes?).ok()
    });
    decoded
        .into_iter()
        .chain(std::iter::once(rest.to_string()))
        .find(|name| topic_for_queue(name) == topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_round_trip_through_topic_names() {
        for name in ["jobs", "a b", "ünïcode", "x41"] {
            assert_eq!(
                queue_for_topic(&topic_for_queue(name)).as_deref(),
                Some(name)
            );
        }
        assert_eq!(queue_for_topic("orders"), None);
    }
}
