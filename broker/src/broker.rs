//! The broker: owns topics and their partition logs, and serves the protocol-neutral API.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures_util::future::join_all;
use neo_record::now_ms;
use neo_replication::group_id::GroupId;
use neo_replication::partition::group::{PartitionGroup, PartitionTiming};
use neo_storage::{Flusher, PartitionLog};
use parking_lot::{Mutex, RwLock};

use crate::acls::{AclBinding, AclFilter, Acls};
use crate::cluster::ClusterNode;
use crate::config::{BrokerConfig, ConfigEntry, TopicConfig};
use crate::error::BrokerError;
use crate::groups::GroupCoordinator;
use crate::metadata::{MetadataCommand, MetadataStore, TopicRecord};
use crate::queues::{Queue, QueueConfig};

/// Directory of the queue cursor logs under the data directory.
const QUEUES_DIR: &str = "queues";
use crate::metrics::BrokerMetrics;
use crate::partition::{Partition, replication_error};
use crate::producer_ids::ProducerIds;
use crate::topic::Topic;
use crate::topic_name::validate_topic_name;

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
    producer_ids: ProducerIds,
    flusher: Arc<Flusher>,
    metrics: Arc<BrokerMetrics>,
    ready: AtomicBool,
    stopping: AtomicBool,
    maintenance: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("data_dir", &self.config.data_dir)
            .finish()
    }
}

/// An alteration of one topic config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// Set the config to a value.
    Set(String, String),
    /// Remove the override: the broker default applies again.
    Delete(String),
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
        let cluster_id = store.cluster_id()?;
        let producer_ids = ProducerIds::open(&store);
        let acls = Acls::new(store.read(|s| s.acls.clone()));
        remove_deleted_dirs(&config.data_dir);
        let groups = GroupCoordinator::open(
            &config.data_dir,
            Arc::clone(&flusher),
            config.groups.clone(),
        )?;
        let records = store.read(|s| s.topics.values().cloned().collect::<Vec<_>>());
        let context = PartitionContext {
            config: &config,
            metrics: &metrics,
            cluster: &cluster,
        };
        let topics: HashMap<_, _> = open_topics(&context, &flusher, records)
            .await?
            .into_iter()
            .map(|topic| (topic.name().to_string(), topic))
            .collect();
        metrics
            .recovery_seconds
            .set(started.elapsed().as_secs_f64());
        tracing::info!(
            topics = topics.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            data_dir = %config.data_dir.display(),
            "logs recovered"
        );
        let broker = Arc::new(Broker {
            config,
            topics: RwLock::new(topics),
            admin: tokio::sync::Mutex::new(()),
            store,
            cluster,
            cluster_id,
            groups,
            acls,
            queues: Mutex::new(HashMap::new()),
            producer_ids,
            flusher,
            metrics,
            ready: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            maintenance: Mutex::new(None),
        });
        let weak = Arc::downgrade(&broker);
        broker
            .metrics
            .register_log_sizes(Arc::new(move || {
                weak.upgrade().map(|b| b.log_sizes()).unwrap_or_default()
            }))
            .map_err(|e| BrokerError::Metrics(e.to_string()))?;
        broker.answer_calls();
        *broker.maintenance.lock() = Some(broker.start_maintenance());
        broker.ready.store(true, Ordering::Release);
        Ok(broker)
    }

    /// True once every log is recovered and the broker can serve.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The broker's metrics.
    pub fn metrics(&self) -> &BrokerMetrics {
        &self.metrics
    }

    /// The group coordinator (consumer groups and committed offsets).
    /// The queue over partition 0 of `topic`, opened on first use with `config`; its cursor
    /// log lives in `<data>/queues/<topic>`. Later calls return the open queue.
    pub fn queue(&self, topic: &str, config: QueueConfig) -> Result<Arc<Queue>, BrokerError> {
        self.check_running()?;
        let mut queues = self.queues.lock();
        if let Some(queue) = queues.get(topic) {
            return Ok(Arc::clone(queue));
        }
        let partition = self.partition(topic, 0)?;
        let dir = self.config.data_dir.join(QUEUES_DIR).join(topic);
        let queue = Arc::new(Queue::open(
            partition,
            &dir,
            config,
            Arc::clone(&self.flusher),
        )?);
        queues.insert(topic.to_string(), Arc::clone(&queue));
        Ok(queue)
    }

    /// What opening a partition takes besides its log.
    fn partition_context(&self) -> PartitionContext<'_> {
        PartitionContext {
            config: &self.config,
            metrics: &self.metrics,
            cluster: &self.cluster,
        }
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

    fn check_running(&self) -> Result<(), BrokerError> {
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
    fn existing_topic(&self, name: &str) -> Result<Arc<Topic>, BrokerError> {
        self.topic(name)
            .ok_or_else(|| BrokerError::UnknownTopicOrPartition {
                topic: name.to_string(),
                partition: -1,
            })
    }

    /// Partition `partition` of `topic`.
    pub fn partition(&self, topic: &str, partition: i32) -> Result<Arc<Partition>, BrokerError> {
        self.topic(topic)
            .and_then(|t| t.partition(partition))
            .ok_or_else(|| BrokerError::UnknownTopicOrPartition {
                topic: topic.to_string(),
                partition,
            })
    }

    /// Creates a topic with `partitions` partitions (`-1` for the broker's `num.partitions`) and
    /// the given config overrides. With `validate_only`, checks everything and creates nothing.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Arc<Topic>, BrokerError> {
        self.check_running()?;
        validate_topic_name(name)?;
        let partitions = if partitions == -1 {
            self.config.num_partitions
        } else {
            partitions
        };
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(BrokerError::InvalidPartitions(partitions));
        }
        let effective = self.config.topic_defaults.with_overrides(&configs)?;
        let _admin = self.admin.lock().await;
        if self.topics.read().contains_key(name) {
            return Err(BrokerError::TopicAlreadyExists(name.to_string()));
        }
        let record = TopicRecord {
            name: name.to_string(),
            id: uuid::Uuid::new_v4(),
            partitions,
            configs,
        };
        if validate_only {
            return Ok(Arc::new(Topic::new(
                name,
                record.id,
                Vec::new(),
                record.configs,
                effective,
            )));
        }
        let topic = open_topics(
            &self.partition_context(),
            &self.flusher,
            vec![record.clone()],
        )
        .await?
        .into_iter()
        .next()
        .ok_or(BrokerError::InvalidPartitions(record.partitions))?;
        self.store
            .apply(MetadataCommand::CreateTopic(record))
            .await?;
        self.topics
            .write()
            .insert(name.to_string(), Arc::clone(&topic));
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Deletes a topic and its data.
    pub async fn delete_topic(&self, name: &str) -> Result<(), BrokerError> {
        self.check_running()?;
        let _admin = self.admin.lock().await;
        let Some(topic) = self.topic(name) else {
            return Err(BrokerError::UnknownTopicOrPartition {
                topic: name.to_string(),
                partition: -1,
            });
        };
        self.store
            .apply(MetadataCommand::DeleteTopic {
                name: name.to_string(),
            })
            .await?;
        self.topics.write().remove(name);
        if let Some(queue) = self.queues.lock().remove(name) {
            let _ = queue.close();
            let dir = self.config.data_dir.join(QUEUES_DIR).join(name);
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a deleted queue's cursor");
            }
        }
        for partition in topic.partitions() {
            if let Err(e) = partition.group().shutdown().await {
                tracing::warn!(topic = name, partition = partition.index(), error = %e, "cannot stop a deleted partition's group");
            }
            let log = partition.log().clone();
            let dir = log.dir().to_path_buf();
            let doomed = dir.with_file_name(format!(
                "{}.{}-delete",
                dir.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                topic.id().simple()
            ));
            if let Err(e) = std::fs::rename(&dir, &doomed) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot rename deleted partition");
            }
            let _ = log.close();
            if let Err(e) = std::fs::remove_dir_all(&doomed) {
                tracing::warn!(dir = %doomed.display(), error = %e, "cannot remove deleted partition");
            }
        }
        self.metrics.remove_topic(name);
        tracing::info!(topic = name, "deleted topic");
        Ok(())
    }

    /// Grows a topic to `total` partitions.
    pub async fn create_partitions(
        &self,
        name: &str,
        total: i32,
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        self.check_running()?;
        let _admin = self.admin.lock().await;
        let topic = self.existing_topic(name)?;
        let current = topic.partition_count();
        if total <= current || total > MAX_PARTITIONS {
            return Err(BrokerError::InvalidPartitions(total));
        }
        if validate_only {
            return Ok(());
        }
        let config = topic.config();
        let mut more = Vec::new();
        for p in current..total {
            let log = open_log(&self.config, &self.flusher, name, p, &config)?;
            more.push(
                open_partition(&self.partition_context(), name, topic.id(), p, &config, log)
                    .await?,
            );
        }
        self.store
            .apply(MetadataCommand::SetPartitionCount {
                name: name.to_string(),
                partitions: total,
            })
            .await?;
        topic.add_partitions(more);
        tracing::info!(topic = name, from = current, to = total, "added partitions");
        Ok(())
    }

    /// Applies config changes to a topic. `incremental=false` replaces every override with the
    /// `Set` changes (Kafka's AlterConfigs); `true` applies them one by one
    /// (IncrementalAlterConfigs).
    pub async fn alter_topic_config(
        &self,
        name: &str,
        changes: Vec<ConfigChange>,
        incremental: bool,
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        self.check_running()?;
        let _admin = self.admin.lock().await;
        let topic = self.existing_topic(name)?;
        let mut overrides = if incremental {
            topic.overrides()
        } else {
            BTreeMap::new()
        };
        for change in changes {
            match change {
                ConfigChange::Set(key, value) => {
                    overrides.insert(key, value);
                }
                ConfigChange::Delete(key) => {
                    if !TopicConfig::is_known_key(&key) {
                        return Err(BrokerError::InvalidConfig {
                            key,
                            value: String::new(),
                            reason: "unknown topic config".to_string(),
                        });
                    }
                    overrides.remove(&key);
                }
            }
        }
        let effective = self.config.topic_defaults.with_overrides(&overrides)?;
        if validate_only {
            return Ok(());
        }
        self.store
            .apply(MetadataCommand::SetTopicConfigs {
                name: name.to_string(),
                configs: overrides.clone(),
            })
            .await?;
        topic.set_config(overrides, effective);
        Ok(())
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
                if retention {
                    match partition.log().apply_retention(now) {
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

    /// Stops the background task, flushes every log and writes clean-shutdown markers.
    pub async fn shutdown(&self) -> Result<(), BrokerError> {
        if self.stopping.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.ready.store(false, Ordering::Release);
        if let Some(task) = self.maintenance.lock().take() {
            task.abort();
        }
        let _admin = self.admin.lock().await;
        let mut first_error = None;
        for (topic, queue) in self.queues.lock().drain() {
            if let Err(e) = queue.close() {
                tracing::error!(topic, error = %e, "closing a queue cursor failed");
                first_error.get_or_insert(e);
            }
        }
        let partitions: Vec<_> = self
            .topics()
            .iter()
            .flat_map(|topic| topic.partitions())
            .collect();
        let stopped = join_all(partitions.iter().map(|p| p.group().shutdown())).await;
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
        if let Err(e) = self.groups.close() {
            tracing::error!(error = %e, "closing the offsets log failed");
            first_error.get_or_insert(e);
        }
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

fn partition_dir(config: &BrokerConfig, topic: &str, partition: i32) -> PathBuf {
    config.data_dir.join(format!("{topic}-{partition}"))
}

/// Opens (recovering) the log of one partition.
fn open_log(
    config: &BrokerConfig,
    flusher: &Arc<Flusher>,
    topic: &str,
    index: i32,
    topic_config: &TopicConfig,
) -> Result<PartitionLog, BrokerError> {
    let dir = partition_dir(config, topic, index);
    let (log, report) =
        PartitionLog::open_with_report(&dir, topic_config.log_config(), Arc::clone(flusher))?;
    if !report.clean && (report.segments_scanned > 0 || report.bytes_truncated > 0) {
        tracing::info!(
            topic,
            partition = index,
            scanned = report.segments_scanned,
            truncated_bytes = report.bytes_truncated,
            "recovered log after unclean shutdown"
        );
    }
    Ok(log)
}

/// What opening a partition takes besides its log.
struct PartitionContext<'a> {
    config: &'a BrokerConfig,
    metrics: &'a BrokerMetrics,
    cluster: &'a ClusterNode,
}

/// The partition over `log`, with its Raft group started and leading (a group of one).
async fn open_partition(
    context: &PartitionContext<'_>,
    topic: &str,
    topic_id: uuid::Uuid,
    index: i32,
    topic_config: &TopicConfig,
    log: PartitionLog,
) -> Result<Arc<Partition>, BrokerError> {
    let group_id = GroupId::Partition {
        topic_id: topic_id.as_u128(),
        partition: u32::try_from(index).unwrap_or_default(),
    };
    let timing = PartitionTiming {
        heartbeat_interval_ms: context.cluster.heartbeat_interval().as_millis() as u64,
        election_timeout_ms: context.cluster.election_timeout().as_millis() as u64,
    };
    let group = PartitionGroup::open(
        format!("{topic}-{index}"),
        log.clone(),
        Partition::gate(&log),
        topic_config.is_durable(),
        context.config.node_id,
        context.cluster.network(group_id),
        timing,
    )
    .await
    .map_err(replication_error)?;
    group.register_with(context.cluster.transport(), group_id);
    group.lead_alone().await.map_err(replication_error)?;
    Ok(Arc::new(Partition::new(
        topic,
        index,
        log,
        group,
        topic_config,
        context.metrics.topic_counters(topic),
    )))
}

/// Opens the topics of `records`, all their partitions at once: the logs on threads (see
/// `parallel`), then their groups together.
async fn open_topics(
    context: &PartitionContext<'_>,
    flusher: &Arc<Flusher>,
    records: Vec<TopicRecord>,
) -> Result<Vec<Arc<Topic>>, BrokerError> {
    let config = context.config;
    let effective = records
        .iter()
        .map(|r| config.topic_defaults.with_overrides(&r.configs))
        .collect::<Result<Vec<_>, _>>()?;
    let jobs: Vec<(String, uuid::Uuid, TopicConfig, i32)> = records
        .iter()
        .zip(&effective)
        .flat_map(|(r, c)| (0..r.partitions).map(move |p| (r.name.clone(), r.id, c.clone(), p)))
        .collect();
    let logs = {
        let (config, flusher, jobs) = (config.clone(), Arc::clone(flusher), jobs.clone());
        tokio::task::spawn_blocking(move || {
            crate::parallel::map(&jobs, |(topic, _, topic_config, p)| {
                open_log(&config, &flusher, topic, *p, topic_config)
            })
        })
        .await
        .map_err(|e| BrokerError::Replication(e.to_string()))?
    };
    let opening = jobs
        .iter()
        .zip(logs)
        .map(|((topic, id, topic_config, p), log)| async move {
            open_partition(context, topic, *id, *p, topic_config, log?).await
        });
    let mut partitions = join_all(opening).await.into_iter();
    records
        .iter()
        .zip(effective)
        .map(|(record, effective)| {
            let opened = partitions
                .by_ref()
                .take(record.partitions.max(0) as usize)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Arc::new(Topic::new(
                &record.name,
                record.id,
                opened,
                record.configs.clone(),
                effective,
            )))
        })
        .collect()
}
