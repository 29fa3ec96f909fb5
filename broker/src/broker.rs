//! The broker: owns topics and their partition logs, and serves the protocol-neutral API.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use futures_util::future::join_all;
use neo_record::now_ms;
use neo_storage::Flusher;
use parking_lot::{Mutex, RwLock};

use crate::acls::{AclBinding, AclFilter, Acls};
use crate::cluster::ClusterNode;
use crate::config::{BrokerConfig, ConfigEntry};
use crate::error::BrokerError;
use crate::gateway_calls::GatewayCalls;
use crate::groups::GroupCoordinator;
use crate::metadata::{BrokerRecord, MetadataCommand, MetadataStore};
use crate::metrics::BrokerMetrics;
use crate::partition::Partition;
use crate::producer_ids::ProducerIds;
use crate::queues::Queue;
use crate::remote_holders::RemoteHolders;
use crate::topic::Topic;
use crate::topic_name::is_cursor_topic;

/// Most partitions one topic may have.
pub const MAX_PARTITIONS: i32 = 10_000;

/// One broker: topics, partitions, and the API every front-end calls.
pub struct Broker {
    config: BrokerConfig,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Serializes topic creation, deletion and config changes with the metadata file.
    admin: tokio::sync::Mutex<()>,
    store: MetadataStore,
    cluster: Arc<ClusterNode>,
    cluster_id: String,
    groups: Arc<GroupCoordinator>,
    acls: Acls,
    /// Queues opened over topics (their cursors), by topic name.
    queues: Mutex<HashMap<String, Arc<Queue>>>,
    /// Other brokers' holders on the queues led here.
    remote_holders: Mutex<RemoteHolders>,
    /// A number drawn when this process opened the broker: its calls carry it, so the
    /// others tell its holders from an earlier process's.
    incarnation: u64,
    /// Why the storage failed under replication, once it did (see `storage_failure.rs`).
    storage_failure: tokio::sync::watch::Sender<Option<String>>,
    /// Front-ends answering their peers on other brokers, by service name.
    gateway_calls: RwLock<HashMap<String, Arc<dyn GatewayCalls>>>,
    producer_ids: ProducerIds,
    flusher: Arc<Flusher>,
    metrics: Arc<BrokerMetrics>,
    ready: AtomicBool,
    stopping: AtomicBool,
    maintenance: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Held while the local topics are brought in line with the metadata.
    reconciling: tokio::sync::Mutex<()>,
    /// Held while this broker's record is changed: front-ends registering their endpoints
    /// at once would each write the record without the other's.
    registering: tokio::sync::Mutex<()>,
    /// Partitions (topic, index) whose replica here is being changed (see `reassign`).
    changing_replicas: Mutex<std::collections::HashSet<(String, i32)>>,
    me: Weak<Broker>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("data_dir", &self.config.data_dir)
            .finish()
    }
}

impl Broker {
    /// Opens (recovering if needed) every topic under `config.data_dir`. Must run inside a
    /// tokio runtime (it starts the retention and flush task).
    pub async fn open(config: BrokerConfig) -> Result<Arc<Broker>, BrokerError> {
        let started = Instant::now();
        std::fs::create_dir_all(&config.data_dir).map_err(|source| BrokerError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        check_writable(&config.data_dir)?;
        let metrics =
            Arc::new(BrokerMetrics::new().map_err(|e| BrokerError::Metrics(e.to_string()))?);
        let fsync = metrics.fsync_seconds.clone();
        let flusher = Flusher::start(
            config.flush_threads,
            config.open_segments,
            Some(Box::new(move |d: std::time::Duration| {
                fsync.observe(d.as_secs_f64())
            })),
        );
        let cluster = Arc::new(ClusterNode::start(&config).await?);
        let store =
            MetadataStore::open(&config.data_dir, Arc::clone(&cluster), Arc::clone(&flusher))
                .await?;
        let cluster_id = store.cluster_id().await?;
        let producer_ids = ProducerIds::open();
        let acls = Acls::new(store.read(|s| s.acls.clone()));
        remove_deleted_dirs(&config.data_dir);
        let groups = GroupCoordinator::new(config.groups.clone());
        let broker = Arc::new_cyclic(|me| Broker {
            config,
            topics: RwLock::new(HashMap::new()),
            admin: tokio::sync::Mutex::new(()),
            store,
            cluster,
            cluster_id,
            groups,
            acls,
            queues: Mutex::new(HashMap::new()),
            remote_holders: Mutex::new(RemoteHolders::default()),
            incarnation: uuid::Uuid::new_v4().as_u64_pair().0 | 1,
            storage_failure: tokio::sync::watch::Sender::new(None),
            gateway_calls: RwLock::new(HashMap::new()),
            producer_ids,
            flusher,
            metrics,
            ready: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            maintenance: Mutex::new(None),
            reconciling: tokio::sync::Mutex::new(()),
            registering: tokio::sync::Mutex::new(()),
            changing_replicas: Mutex::default(),
            me: me.clone(),
        });
        // Other brokers may call this one (to propose a metadata change) as soon as it
        // leads the controller, which may be before it has opened.
        broker.answer_calls();
        broker.announce_incarnation();
        broker.register().await?;
        broker.reconcile().await?;
        broker.start_group_coordinator().await?;
        broker
            .metrics
            .recovery_seconds
            .set(started.elapsed().as_secs_f64());
        tracing::info!(
            topics = broker.topics.read().len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            data_dir = %broker.config.data_dir.display(),
            "logs recovered"
        );
        broker.follow_metadata();
        let weak = Arc::downgrade(&broker);
        broker
            .metrics
            .register_log_sizes(Arc::new(move || {
                weak.upgrade().map(|b| b.log_sizes()).unwrap_or_default()
            }))
            .map_err(|e| BrokerError::Metrics(e.to_string()))?;
        broker.register_scraped_figures()?;
        *broker.maintenance.lock() = Some(broker.start_maintenance());
        broker.ready.store(true, Ordering::Release);
        Ok(broker)
    }

    /// Registers the figures computed at scrape time: the cluster's and the queues'.
    fn register_scraped_figures(self: &Arc<Self>) -> Result<(), BrokerError> {
        let weak = Arc::downgrade(self);
        self.metrics
            .register_cluster_figures(Arc::new(move || {
                weak.upgrade()
                    .map(|b| b.cluster_figures())
                    .unwrap_or_default()
            }))
            .map_err(|e| BrokerError::Metrics(e.to_string()))?;
        let weak = Arc::downgrade(self);
        self.metrics
            .register_queue_depths(Arc::new(move || {
                weak.upgrade().map(|b| b.queue_depths()).unwrap_or_default()
            }))
            .map_err(|e| BrokerError::Metrics(e.to_string()))
    }

    /// The partitions whose replica here is being changed.
    pub(crate) fn changing_replicas(&self) -> &Mutex<std::collections::HashSet<(String, i32)>> {
        &self.changing_replicas
    }

    /// This broker, for the tasks it starts.
    pub(crate) fn weak_self(&self) -> Weak<Broker> {
        self.me.clone()
    }

    /// Held while topics are created, deleted or changed by this broker.
    pub(crate) async fn admin_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.admin.lock().await
    }

    /// Held while the local topics are brought in line with the metadata.
    pub(crate) fn reconciling(&self) -> &tokio::sync::Mutex<()> {
        &self.reconciling
    }

    /// The group commit every log of this broker shares.
    pub(crate) fn flusher(&self) -> &Arc<Flusher> {
        &self.flusher
    }

    /// Front-ends answering their peers on other brokers, by service name.
    pub(crate) fn gateway_calls(&self) -> &RwLock<HashMap<String, Arc<dyn GatewayCalls>>> {
        &self.gateway_calls
    }

    /// Other brokers' holders on the queues led here.
    pub(crate) fn remote_holders(&self) -> &Mutex<RemoteHolders> {
        &self.remote_holders
    }

    /// This process's incarnation (see the field).
    pub(crate) fn incarnation(&self) -> u64 {
        self.incarnation
    }

    pub(crate) fn storage_failure_watch(&self) -> &tokio::sync::watch::Sender<Option<String>> {
        &self.storage_failure
    }

    /// The queues opened here, by topic name.
    pub(crate) fn queues(&self) -> &Mutex<HashMap<String, Arc<Queue>>> {
        &self.queues
    }

    /// Adds a topic to the local ones.
    pub(crate) fn insert_topic(&self, topic: Arc<Topic>) {
        self.topics.write().insert(topic.name().to_string(), topic);
    }

    /// Takes a topic out of the local ones.
    pub(crate) fn remove_topic_entry(&self, name: &str) {
        self.topics.write().remove(name);
    }

    /// The brokers of the cluster (registered, this one included), by id.
    pub fn broker_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.store.read(|s| s.brokers.keys().copied().collect());
        if !ids.contains(&self.config.node_id) {
            ids.push(self.config.node_id);
            ids.sort_unstable();
        }
        ids
    }

    /// The brokers heard from lately (within two election timeouts), this one included: those
    /// new replicas are placed on.
    pub fn live_broker_ids(&self) -> Vec<u64> {
        let recent = self.config.cluster.election_timeout * 2;
        let mut ids = self.broker_ids();
        ids.retain(|id| self.cluster.heard_within(*id, recent));
        ids
    }

    /// Where clients of `protocol` reach each broker that registered an endpoint for it, by
    /// broker id.
    pub fn endpoints(&self, protocol: &str) -> Vec<(u64, String)> {
        self.store.read(|s| {
            s.brokers
                .iter()
                .filter_map(|(id, b)| b.endpoints.get(protocol).map(|e| (*id, e.clone())))
                .collect()
        })
    }

    /// The broker leading the controller group, if one is known.
    pub fn controller(&self) -> Option<u64> {
        self.store.controller_leader()
    }

    /// Tells the cluster where this broker is (and, with `endpoint`, where clients of a
    /// protocol reach it: `("kafka", "host:port")`).
    pub async fn register(&self) -> Result<(), BrokerError> {
        self.register_endpoint(None).await
    }

    /// Registers this broker with one more client endpoint.
    pub async fn register_endpoint(
        &self,
        endpoint: Option<(&str, String)>,
    ) -> Result<(), BrokerError> {
        let id = self.config.node_id;
        let _registering = self.registering.lock().await;
        let mut record = self
            .store
            .read(|s| s.brokers.get(&id).cloned())
            .unwrap_or_else(|| BrokerRecord {
                cluster_address: String::new(),
                endpoints: BTreeMap::new(),
            });
        let before = record.clone();
        record.cluster_address = self.cluster.advertised().to_string();
        if let Some((protocol, address)) = endpoint {
            record.endpoints.insert(protocol.to_string(), address);
        }
        if self.store.read(|s| s.brokers.contains_key(&id)) && record == before {
            return Ok(());
        }
        self.store
            .apply(MetadataCommand::RegisterBroker { id, broker: record })
            .await
    }

    /// Keeps the ACLs and the local topics in line with the metadata as it changes (changes
    /// made through other brokers included).
    fn follow_metadata(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        let mut changes = self.store.watch_changes();
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let Some(broker) = me.upgrade() else {
                    return;
                };
                broker.store.read(|s| broker.acls.follow(&s.acls));
                if let Err(e) = broker.reconcile().await {
                    tracing::warn!(error = %e, "cannot open or close replicas the metadata names");
                }
            }
        });
    }

    /// Calls `on_change` with `owner` after every metadata change (made through any broker)
    /// until `owner` is dropped: how front-ends follow what they keep in the metadata.
    pub fn follow_metadata_changes<T, F, Fut>(
        &self,
        owner: &Arc<T>,
        on_change: F,
    ) -> tokio::task::JoinHandle<()>
    where
        T: Send + Sync + 'static,
        F: Fn(Arc<T>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let owner = Arc::downgrade(owner);
        let mut changes = self.store.watch_changes();
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let Some(owner) = owner.upgrade() else {
                    return;
                };
                on_change(owner).await;
            }
        })
    }

    /// True once every log is recovered and the broker can serve.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The broker's metrics.
    pub fn metrics(&self) -> &BrokerMetrics {
        &self.metrics
    }

    /// This broker's place in its cluster.
    pub fn cluster(&self) -> &ClusterNode {
        &self.cluster
    }

    /// The broker's metadata: front-ends read their documents from it and change them with
    /// [`MetadataStore::apply`].
    pub fn metadata(&self) -> &MetadataStore {
        &self.store
    }

    /// The ACLs every front-end checks callers against.
    pub fn acls(&self) -> &Acls {
        &self.acls
    }

    /// Adds ACL bindings, durably.
    pub async fn create_acls(&self, bindings: &[AclBinding]) -> Result<(), BrokerError> {
        let _admin = self.admin.lock().await;
        self.store
            .apply(MetadataCommand::CreateAcls(bindings.to_vec()))
            .await?;
        self.acls.replace(self.store.read(|s| s.acls.clone()));
        Ok(())
    }

    /// Removes the ACL bindings each filter matches, durably; returns them per filter.
    pub async fn delete_acls(
        &self,
        filters: &[AclFilter],
    ) -> Result<Vec<Vec<AclBinding>>, BrokerError> {
        let _admin = self.admin.lock().await;
        let removed: Vec<Vec<AclBinding>> = filters.iter().map(|f| self.acls.describe(f)).collect();
        let doomed: Vec<AclBinding> = removed.iter().flatten().cloned().collect();
        self.store
            .apply(MetadataCommand::DeleteAcls(doomed))
            .await?;
        self.acls.replace(self.store.read(|s| s.acls.clone()));
        Ok(removed)
    }

    pub fn groups(&self) -> &Arc<GroupCoordinator> {
        &self.groups
    }

    /// A producer id never handed out before (InitProducerId).
    pub async fn new_producer_id(&self) -> Result<i64, BrokerError> {
        self.producer_ids.next(&self.store).await
    }

    /// The cluster id, stable across restarts of the data directory.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The configuration the broker runs with.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    pub(crate) fn check_running(&self) -> Result<(), BrokerError> {
        if self.stopping.load(Ordering::Acquire) {
            return Err(BrokerError::ShuttingDown);
        }
        Ok(())
    }

    /// Every topic, sorted by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        let mut topics: Vec<_> = self.topics.read().values().cloned().collect();
        topics.sort_by(|a, b| a.name().cmp(b.name()));
        topics
    }

    /// The topic called `name`, if any.
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(name).cloned()
    }

    /// Topic `name`, or UnknownTopicOrPartition.
    pub(crate) fn existing_topic(&self, name: &str) -> Result<Arc<Topic>, BrokerError> {
        self.topic(name)
            .ok_or_else(|| BrokerError::UnknownTopicOrPartition {
                topic: name.to_string(),
                partition: -1,
            })
    }

    /// Every config of a topic with its effective value.
    pub fn describe_topic_configs(&self, name: &str) -> Result<Vec<ConfigEntry>, BrokerError> {
        Ok(self.existing_topic(name)?.describe_configs())
    }

    fn log_sizes(&self) -> Vec<(String, i64, i64)> {
        self.topics()
            .iter()
            .map(|t| {
                let parts = t.partitions();
                let segments = parts.iter().map(|p| p.log().segment_count() as i64).sum();
                let bytes = parts.iter().map(|p| p.log().size_bytes() as i64).sum();
                (t.name().to_string(), segments, bytes)
            })
            .collect()
    }

    /// Runs retention and `flush.ms` checks on every partition once.
    pub fn run_maintenance(&self, retention: bool, cleaning: bool) {
        let now = now_ms();
        let topics: Vec<_> = self.topics.read().values().cloned().collect();
        for topic in topics {
            // Most ticks have nothing to do for most topics: an idle partition costs no work.
            let busy = topic.with_config(|c| {
                retention || c.flush_ms != i64::MAX || cleaning && c.is_compacted()
            });
            if !busy {
                continue;
            }
            let config = topic.config();
            for partition in topic.partitions() {
                partition.log().flush_if_due(now);
                if cleaning && config.is_compacted() {
                    partition.compact_if_grown(now, config.delete_retention_ms);
                }
                if retention && is_cursor_topic(topic.name()) {
                    self.trim_cursor_log(&partition);
                }
                if retention {
                    match partition.apply_retention(now) {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(
                            topic = topic.name(),
                            partition = partition.index(),
                            segments = n,
                            "retention deleted segments"
                        ),
                        Err(e) => {
                            tracing::warn!(topic = topic.name(), partition = partition.index(), error = %e, "retention failed")
                        }
                    }
                }
            }
        }
    }

    /// Hands every partition this broker leads, and the controller if it leads it, to another
    /// replica (graceful shutdown: clients move to the new leaders without waiting out an
    /// election). Partitions without another replica stay.
    pub async fn hand_over_leadership(&self) {
        let wait = self.config.cluster.election_timeout;
        let led: Vec<Arc<Partition>> = self
            .topics()
            .iter()
            .flat_map(|topic| topic.partitions())
            .filter(|p| p.replica().is_leader())
            .collect();
        let moved = join_all(
            led.iter()
                .map(|p| async move { p.replica().hand_over(wait).await }),
        )
        .await;
        let moved = moved.iter().filter(|moved| **moved).count();
        let controller = self.store.hand_over(wait).await;
        tracing::info!(
            partitions = moved,
            of = led.len(),
            controller,
            "leadership handed over"
        );
    }

    /// Stops the background task, flushes every log and writes clean-shutdown markers.
    pub async fn shutdown(&self) -> Result<(), BrokerError> {
        if self.stopping.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.ready.store(false, Ordering::Release);
        // Cursor changes are written while this broker still leads the queues.
        let queues: Vec<(String, Arc<Queue>)> = self.queues.lock().drain().collect();
        for (topic, queue) in queues {
            if let Err(e) = queue.close().await {
                tracing::warn!(topic, error = %e, "the last changes of a queue cursor were not written");
            }
        }
        self.hand_over_leadership().await;
        if let Some(task) = self.maintenance.lock().take() {
            task.abort();
        }
        let _admin = self.admin.lock().await;
        let mut first_error = None;
        let partitions: Vec<_> = self
            .topics()
            .iter()
            .flat_map(|topic| topic.partitions())
            .collect();
        let stopped = join_all(partitions.iter().map(|p| p.retire())).await;
        for (partition, result) in partitions.iter().zip(stopped) {
            if let Err(e) = result {
                tracing::error!(topic = partition.topic(), partition = partition.index(), error = %e, "stopping the partition's group failed");
            }
        }
        let closing = partitions.clone();
        let closed = tokio::task::spawn_blocking(move || {
            crate::parallel::map(&closing, |partition| partition.log().close())
        })
        .await
        .unwrap_or_default();
        for (partition, result) in partitions.iter().zip(closed) {
            if let Err(e) = result {
                tracing::error!(topic = partition.topic(), partition = partition.index(), error = %e, "close failed");
                first_error.get_or_insert(e.into());
            }
        }
        self.groups.close();
        if let Err(e) = self.store.close().await {
            tracing::error!(error = %e, "closing the metadata log failed");
            first_error.get_or_insert(e);
        }
        self.cluster.shutdown();
        self.flusher.stop();
        tracing::info!("broker stopped cleanly");
        first_error.map_or(Ok(()), Err)
    }
}

fn check_writable(dir: &std::path::Path) -> Result<(), BrokerError> {
    let probe = dir.join(".write-probe");
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|source| BrokerError::DataDir {
            path: dir.to_path_buf(),
            source,
        })
}

fn remove_deleted_dirs(data_dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().ends_with("-delete") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
