//! Opening one replica of a partition: its log (recovering it), and, when the partition has
//! other replicas, its Raft group over the cluster RPC.

use std::path::PathBuf;
use std::sync::Arc;

use neo_replication::group_id::GroupId;
use neo_replication::partition::group::{PartitionGroup, PartitionTiming};
use neo_replication::partition::replica::PartitionReplica;
use neo_replication::partition::solo::SoloReplica;
use neo_storage::{Flusher, PartitionLog};

use crate::broker::Broker;
use crate::config::{BrokerConfig, TopicConfig};
use crate::error::BrokerError;
use crate::partition::{Partition, replication_error};

/// The directory of partition `partition` of `topic`.
pub(crate) fn partition_dir(config: &BrokerConfig, topic: &str, partition: i32) -> PathBuf {
    config.data_dir.join(format!("{topic}-{partition}"))
}

/// Opens (recovering) the log of one partition.
pub(crate) fn open_log(
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

/// The replica over `log`: the partition's only one (`replicated` false: no Raft group), or
/// one of a Raft group, started and reachable by the other replicas. A group is not yet
/// formed or led: see `reconcile`.
pub(crate) async fn open_partition(
    broker: &Broker,
    topic: &str,
    topic_id: uuid::Uuid,
    index: i32,
    topic_config: &TopicConfig,
    log: PartitionLog,
    replicated: bool,
) -> Result<Arc<Partition>, BrokerError> {
    let replica = open_replica(
        broker,
        topic,
        topic_id,
        index,
        topic_config.is_durable(),
        &log,
        replicated,
    )
    .await?;
    Ok(Arc::new(Partition::new(
        topic,
        index,
        log,
        replica,
        topic_config,
        broker.metrics().topic_counters(topic),
    )))
}

/// A replica of partition `index` of `topic` over `log` (see [`open_partition`]).
pub(crate) async fn open_replica(
    broker: &Broker,
    topic: &str,
    topic_id: uuid::Uuid,
    index: i32,
    durable: bool,
    log: &PartitionLog,
    replicated: bool,
) -> Result<PartitionReplica, BrokerError> {
    let name = format!("{topic}-{index}");
    let node = broker.config().node_id;
    let gate = Partition::gate(log);
    if !replicated {
        let solo =
            SoloReplica::open(name, log.clone(), gate, durable, node).map_err(replication_error)?;
        return Ok(PartitionReplica::Solo(solo));
    }
    let cluster = broker.cluster();
    let group_id = group_id(topic_id, index);
    let timing = PartitionTiming {
        heartbeat_interval_ms: cluster.heartbeat_interval().as_millis() as u64,
        election_timeout_ms: cluster.election_timeout().as_millis() as u64,
        ..PartitionTiming::default()
    };
    let group = PartitionGroup::open(
        name,
        log.clone(),
        gate,
        durable,
        node,
        cluster.network(group_id),
        timing,
    )
    .await
    .map_err(replication_error)?;
    group.register_with(cluster.transport(), group_id);
    Ok(PartitionReplica::Group(group))
}

/// The cluster-wide id of partition `index`'s group.
pub(crate) fn group_id(topic_id: uuid::Uuid, index: i32) -> GroupId {
    GroupId::Partition {
        topic_id: topic_id.as_u128(),
        partition: u32::try_from(index).unwrap_or_default(),
    }
}
