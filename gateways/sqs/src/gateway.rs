//! The gateway's shared state: the broker, the queue registry (stored as broker metadata),
//! the open queues, and queue names, URLs and ARNs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use neo_broker::queues::{CursorConfig, QueueConfig};
use neo_broker::{Broker, BrokerError};
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use crate::config::SqsConfig;
use crate::error::SqsError;
use crate::move_tasks::MoveTasks;
use crate::queue_attributes::QueueAttributes;
use crate::queue_state::QueueState;
use crate::registry::{QueueMeta, Registry, queue_for_topic, topic_for_queue};
use crate::registry_store;
use crate::request::Request;

/// How long a deleted queue's name stays taken.
pub const DELETED_RECENTLY_MS: i64 = 60_000;

/// Topic settings of SQS queues: batches of ten 1 MiB messages fit, and the log keeps
/// records at least as long as the longest SQS retention (14 days).
const TOPIC_CONFIGS: &[(&str, &str)] = &[
    ("max.message.bytes", "16777216"),
    ("retention.ms", "1209600000"),
];

/// What every request shares.
#[derive(Debug)]
pub struct Gateway {
    pub broker: Arc<Broker>,
    pub config: SqsConfig,
    base_url: String,
    registry: RwLock<Registry>,
    /// The queues stored in the metadata as this gateway last read it.
    stored: Mutex<BTreeSet<String>>,
    /// Held while a queue's stored metadata changes: changes are stored in the order they
    /// are made in memory.
    writing: tokio::sync::Mutex<()>,
    states: Mutex<HashMap<String, Arc<QueueState>>>,
    deleted: Mutex<HashMap<String, i64>>,
    pub moves: MoveTasks,
    /// Turns true when the gateway stops (long polls return at once).
    pub shutdown: watch::Receiver<bool>,
}

impl Gateway {
    /// A gateway over `broker`, with the queues stored before; `port` is the one listened
    /// on (for queue URLs when no advertised URL is configured).
    pub async fn new(
        broker: Arc<Broker>,
        config: SqsConfig,
        port: u16,
        shutdown: watch::Receiver<bool>,
    ) -> Gateway {
        let registry = registry_store::load(&broker).await;
        let stored = registry_store::stored(&broker).queues.into_keys().collect();
        let base_url = config
            .advertised_url
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{port}"))
            .trim_end_matches('/')
            .to_string();
        Gateway {
            broker,
            config,
            base_url,
            registry: RwLock::new(registry),
            stored: Mutex::new(stored),
            writing: tokio::sync::Mutex::new(()),
            states: Mutex::new(HashMap::new()),
            deleted: Mutex::new(HashMap::new()),
            moves: MoveTasks::default(),
            shutdown,
        }
    }

    /// Takes up the queues other brokers of the cluster create, change and delete, as the
    /// metadata changes, until the gateway is dropped.
    pub fn follow_registry(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        self.broker
            .follow_metadata_changes(self, |gateway: Arc<Gateway>| async move {
                gateway.follow_stored().await
            })
    }

    /// Brings the registry in line with the queues stored in the metadata.
    async fn follow_stored(&self) {
        let _writing = self.writing.lock().await;
        let now = registry_store::stored(&self.broker).queues;
        let mut known = self.stored.lock();
        let mut registry = self.registry.write();
        for gone in known.iter().filter(|name| !now.contains_key(*name)) {
            registry.queues.remove(gone);
            self.states.lock().remove(gone);
        }
        *known = now.keys().cloned().collect();
        registry.queues.extend(now);
    }

    /// The URL of queue `name`.
    pub fn url_of(&self, name: &str) -> String {
        format!("{}/{}/{name}", self.base_url, self.config.account_id)
    }

    /// The ARN of queue `name`.
    pub fn arn_of(&self, name: &str) -> String {
        format!(
            "arn:aws:sqs:{}:{}:{name}",
            self.config.region, self.config.account_id
        )
    }

    /// The queue an ARN names, if it is one of this gateway's.
    pub fn queue_of_arn(&self, arn: &str) -> Option<QueueMeta> {
        let name = arn.rsplit(':').next()?;
        (self.arn_of(name) == arn)
            .then(|| self.lookup(name))
            .flatten()
    }

    /// The queue named `name`: registered, or a topic `sqs.<name>` made from Kafka (taken
    /// on with default attributes).
    pub fn lookup(&self, name: &str) -> Option<QueueMeta> {
        if let Some(meta) = self.registry.read().queues.get(name) {
            return Some(meta.clone());
        }
        let topic = topic_for_queue(name);
        let found = self.broker.topic(&topic)?;
        queue_for_topic(found.name())?;
        let now = neo_record::now_ms() / 1000;
        let meta = QueueMeta {
            name: name.to_string(),
            topic,
            attributes: QueueAttributes::create(name.ends_with(".fifo"), &BTreeMap::new()).ok()?,
            tags: BTreeMap::new(),
            created: now,
            modified: now,
        };
        // Not stored: a queue taken on from its topic is taken on again, the same, after a
        // restart; it is stored once its attributes or tags change.
        self.registry
            .write()
            .queues
            .entry(name.to_string())
            .or_insert_with(|| meta.clone());
        Some(meta)
    }

    /// Every queue, by name (topics `sqs.*` made from Kafka included).
    pub fn all(&self) -> Vec<QueueMeta> {
        for topic in self.broker.topics() {
            if let Some(name) = queue_for_topic(topic.name())
                && !self.registry.read().queues.contains_key(name)
            {
                self.lookup(name);
            }
        }
        self.registry.read().queues.values().cloned().collect()
    }

    /// The queue a request is about: its `QueueUrl`, else the URL path it was sent to.
    pub async fn resolve(
        &self,
        request: &Request,
    ) -> Result<(QueueMeta, Arc<QueueState>), SqsError> {
        let name = request.queue_name()?;
        let meta = self.lookup(&name).ok_or(SqsError::QueueDoesNotExist)?;
        let state = self.state(&meta).await?;
        Ok((meta, state))
    }

    /// The open queue behind `meta` (its cursor loaded: see [`Broker::queue`]).
    pub async fn state(&self, meta: &QueueMeta) -> Result<Arc<QueueState>, SqsError> {
        let config = QueueConfig {
            cursor: CursorConfig {
                max_deliveries: None,
                ordered: meta.is_fifo(),
            },
            ..QueueConfig::default()
        };
        let queue = self
            .broker
            .queue(&meta.topic, config)
            .await
            .map_err(|e| match e {
                BrokerError::UnknownTopicOrPartition { .. } => SqsError::QueueDoesNotExist,
                other => SqsError::from(other),
            })?;
        if let Some(state) = self.states.lock().get(&meta.name)
            && Arc::ptr_eq(&state.queue, &queue)
        {
            return Ok(Arc::clone(state));
        }
        // Rebuilt before the state is shared (and outside the map's lock: it reads the log).
        let state = QueueState::new(queue);
        if meta.is_fifo() {
            state.rebuild_dedup(meta.attributes.dedup_per_group(), neo_record::now_ms());
        }
        let mut states = self.states.lock();
        let state = match states.get(&meta.name) {
            Some(known) if Arc::ptr_eq(&known.queue, &state.queue) => Arc::clone(known),
            _ => {
                let state = Arc::new(state);
                states.insert(meta.name.clone(), Arc::clone(&state));
                state
            }
        };
        Ok(state)
    }

    /// Registers a new queue and creates its topic.
    pub async fn create(&self, meta: QueueMeta) -> Result<(), SqsError> {
        if self.broker.topic(&meta.topic).is_none() {
            let configs = TOPIC_CONFIGS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            match self
                .broker
                .create_topic(
                    &meta.topic,
                    1,
                    self.broker.queue_replication_factor(),
                    configs,
                    false,
                )
                .await
            {
                Ok(_) | Err(BrokerError::TopicAlreadyExists(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let _writing = self.writing.lock().await;
        registry_store::put(&self.broker, &meta).await?;
        self.registry.write().queues.insert(meta.name.clone(), meta);
        Ok(())
    }

    /// Changes a queue's stored attributes or tags.
    pub async fn update(
        &self,
        name: &str,
        change: impl FnOnce(&mut QueueMeta),
    ) -> Result<(), SqsError> {
        let _writing = self.writing.lock().await;
        let mut meta = self
            .registry
            .read()
            .queues
            .get(name)
            .cloned()
            .ok_or(SqsError::QueueDoesNotExist)?;
        change(&mut meta);
        registry_store::put(&self.broker, &meta).await?;
        self.registry.write().queues.insert(name.to_string(), meta);
        Ok(())
    }

    /// Removes a queue, its topic and its messages.
    pub async fn delete(&self, name: &str) -> Result<(), SqsError> {
        let writing = self.writing.lock().await;
        let meta = self
            .registry
            .read()
            .queues
            .get(name)
            .cloned()
            .ok_or(SqsError::QueueDoesNotExist)?;
        registry_store::remove(&self.broker, name).await?;
        self.registry.write().queues.remove(name);
        drop(writing);
        self.states.lock().remove(name);
        self.deleted
            .lock()
            .insert(name.to_string(), neo_record::now_ms());
        match self.broker.delete_topic(&meta.topic).await {
            Ok(()) | Err(BrokerError::UnknownTopicOrPartition { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether `name` was deleted less than a minute ago.
    pub fn deleted_recently(&self, name: &str) -> bool {
        let now = neo_record::now_ms();
        let mut deleted = self.deleted.lock();
        deleted.retain(|_, at| now - *at < DELETED_RECENTLY_MS);
        deleted.contains_key(name)
    }
}
