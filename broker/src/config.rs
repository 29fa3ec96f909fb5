//! Broker configuration and per-topic configuration under Kafka's config names.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use neo_record::codec::Compression;
use neo_storage::{FlushPolicy, LogConfig, TimestampType};
use serde::{Deserialize, Serialize};

use crate::error::BrokerError;

/// Configuration of one broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// This broker's id in its cluster (Kafka's `node.id`).
    pub node_id: u64,
    /// Where partitions and metadata live.
    pub data_dir: PathBuf,
    /// Defaults for topics created without explicit configs.
    pub topic_defaults: TopicConfig,
    /// Partitions of an auto-created topic (`num.partitions`).
    pub num_partitions: i32,
    /// Replicas of a topic created without a replication factor
    /// (`default.replication.factor`).
    pub default_replication_factor: i16,
    /// Threads that fsync logs (group commit).
    pub flush_threads: usize,
    /// Sealed segments (of all partitions) whose files stay open; older ones reopen when read.
    pub open_segments: usize,
    /// How often retention and `flush.ms` are checked.
    pub maintenance_interval: Duration,
    /// How often compacted topics are compacted (`log.cleaner.backoff.ms`).
    pub cleaner_interval: Duration,
    /// Consumer group settings.
    pub groups: crate::groups::GroupConfig,
    /// The cluster this broker is part of (a cluster of one without voters).
    pub cluster: ClusterConfig,
}

/// How a broker finds and talks to the others of its cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// Where this broker listens for the other brokers (cluster RPC).
    pub listen: SocketAddr,
    /// Where the other brokers reach this one; default: its address among `voters`, else the
    /// listen address.
    pub advertised: Option<SocketAddr>,
    /// Every broker of the cluster (node id → cluster address), this one included; empty for
    /// a cluster of one. The lowest id forms the cluster the first time.
    pub voters: BTreeMap<u64, SocketAddr>,
    /// Brokers of other clusters are refused.
    pub cluster_id: String,
    /// How often leaders send heartbeats.
    pub heartbeat_interval: Duration,
    /// A follower that hears nothing from its leader for this long starts an election.
    pub election_timeout: Duration,
    /// A follower that has not acknowledged its leader for this long is out of the in-sync
    /// replicas (`replica.lag.time.max.ms`).
    pub replica_lag_time_max: Duration,
    /// How often leaders are handed back to their preferred replicas; `None`: never.
    pub leader_rebalance_interval: Option<Duration>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertised: None,
            voters: BTreeMap::new(),
            cluster_id: "neo".to_string(),
            heartbeat_interval: Duration::from_millis(150),
            election_timeout: Duration::from_millis(1_000),
            replica_lag_time_max: Duration::from_secs(30),
            leader_rebalance_interval: Some(Duration::from_secs(300)),
        }
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            node_id: 1,
            data_dir: PathBuf::from("./neo-data"),
            topic_defaults: TopicConfig::default(),
            num_partitions: 1,
            default_replication_factor: 1,
            flush_threads: 4,
            open_segments: neo_storage::DEFAULT_OPEN_SEGMENTS,
            maintenance_interval: Duration::from_secs(30),
            cleaner_interval: Duration::from_secs(15),
            groups: crate::groups::GroupConfig::default(),
            cluster: ClusterConfig::default(),
        }
    }
}

/// `cleanup.policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CleanupPolicy {
    #[default]
    Delete,
    Compact,
    #[serde(rename = "compact,delete")]
    CompactDelete,
}

/// The topic configs Neo enforces, with their effective values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicConfig {
    #[serde(rename = "retention.ms")]
    pub retention_ms: i64,
    #[serde(rename = "retention.bytes")]
    pub retention_bytes: i64,
    #[serde(rename = "segment.bytes")]
    pub segment_bytes: i64,
    #[serde(rename = "segment.ms")]
    pub segment_ms: i64,
    #[serde(rename = "segment.index.bytes")]
    pub segment_index_bytes: i64,
    #[serde(rename = "index.interval.bytes")]
    pub index_interval_bytes: i64,
    #[serde(rename = "cleanup.policy")]
    pub cleanup_policy: CleanupPolicy,
    #[serde(rename = "max.message.bytes")]
    pub max_message_bytes: i64,
    #[serde(rename = "flush.messages")]
    pub flush_messages: i64,
    #[serde(rename = "flush.ms")]
    pub flush_ms: i64,
    #[serde(rename = "message.timestamp.type")]
    pub message_timestamp_type: String,
    /// How long compaction keeps a key's tombstone (null value).
    #[serde(rename = "delete.retention.ms")]
    pub delete_retention_ms: i64,
    /// `producer` (store batches as sent) or the codec batches are stored in.
    #[serde(rename = "compression.type")]
    pub compression_type: String,
    /// Replicas that must be in sync for an `acks=all` write to be taken.
    #[serde(rename = "min.insync.replicas")]
    pub min_insync_replicas: i64,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            cleanup_policy: CleanupPolicy::Delete,
            max_message_bytes: 1_048_588,
            flush_messages: 1,
            flush_ms: i64::MAX,
            message_timestamp_type: "CreateTime".to_string(),
            compression_type: "producer".to_string(),
            delete_retention_ms: 86_400_000,
            min_insync_replicas: 1,
        }
    }
}

/// Kafka topic configs Neo accepts and reports but does not act on (no effect on a single
/// broker, or a Kafka tuning knob with no Neo counterpart). Anything else is rejected.
const PASSIVE_KEYS: &[(&str, &str)] = &[
    ("file.delete.delay.ms", "60000"),
    ("follower.replication.throttled.replicas", ""),
    ("leader.replication.throttled.replicas", ""),
    ("local.retention.bytes", "-2"),
    ("local.retention.ms", "-2"),
    ("max.compaction.lag.ms", "9223372036854775807"),
    ("message.downconversion.enable", "true"),
    ("message.format.version", "3.0-IV1"),
    ("message.timestamp.after.max.ms", "9223372036854775807"),
    ("message.timestamp.before.max.ms", "9223372036854775807"),
    ("message.timestamp.difference.max.ms", "9223372036854775807"),
    ("min.cleanable.dirty.ratio", "0.5"),
    ("min.compaction.lag.ms", "0"),
    ("preallocate", "false"),
    ("remote.storage.enable", "false"),
    ("segment.jitter.ms", "0"),
    ("unclean.leader.election.enable", "false"),
];

/// One config entry as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: String,
    /// False when the topic overrides the broker default.
    pub is_default: bool,
}

fn parse_long(key: &str, value: &str, min: i64) -> Result<i64, BrokerError> {
    let parsed: i64 = value
        .trim()
        .parse()
        .map_err(|_| invalid(key, value, "not a number"))?;
    if parsed < min {
        return Err(invalid(key, value, &format!("must be at least {min}")));
    }
    Ok(parsed)
}

fn invalid(key: &str, value: &str, reason: &str) -> BrokerError {
    BrokerError::InvalidConfig {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

impl TopicConfig {
    /// Names of the configs this struct enforces.
    pub const ENFORCED_KEYS: &'static [&'static str] = &[
        "cleanup.policy",
        "compression.type",
        "delete.retention.ms",
        "flush.messages",
        "flush.ms",
        "index.interval.bytes",
        "max.message.bytes",
        "message.timestamp.type",
        "min.insync.replicas",
        "retention.bytes",
        "retention.ms",
        "segment.bytes",
        "segment.index.bytes",
        "segment.ms",
    ];

    /// Whether `key` is a topic config name Neo knows.
    pub fn is_known_key(key: &str) -> bool {
        Self::ENFORCED_KEYS.contains(&key) || PASSIVE_KEYS.iter().any(|(k, _)| *k == key)
    }

    /// Sets one config from its string form, validating it as Kafka does.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), BrokerError> {
        match key {
            "retention.ms" => self.retention_ms = parse_long(key, value, -1)?,
            "retention.bytes" => self.retention_bytes = parse_long(key, value, -1)?,
            "segment.bytes" => {
                self.segment_bytes = parse_long(key, value, 14)?.min(i64::from(i32::MAX))
            }
            "segment.ms" => self.segment_ms = parse_long(key, value, 1)?,
            "segment.index.bytes" => {
                self.segment_index_bytes = parse_long(key, value, 8)?.min(i64::from(i32::MAX))
            }
            "index.interval.bytes" => {
                self.index_interval_bytes = parse_long(key, value, 0)?.min(i64::from(i32::MAX))
            }
            "max.message.bytes" => {
                self.max_message_bytes = parse_long(key, value, 0)?.min(i64::from(i32::MAX))
            }
            "flush.messages" => self.flush_messages = parse_long(key, value, 1)?,
            "flush.ms" => self.flush_ms = parse_long(key, value, 0)?,
            "delete.retention.ms" => self.delete_retention_ms = parse_long(key, value, 0)?,
            "min.insync.replicas" => self.min_insync_replicas = parse_long(key, value, 1)?,
            "cleanup.policy" => {
                let mut parts: Vec<&str> = value.split(',').map(str::trim).collect();
                parts.sort_unstable();
                self.cleanup_policy = match parts.as_slice() {
                    ["delete"] => CleanupPolicy::Delete,
                    ["compact"] => CleanupPolicy::Compact,
                    ["compact", "delete"] => CleanupPolicy::CompactDelete,
                    _ => {
                        return Err(invalid(
                            key,
                            value,
                            "expected delete, compact or compact,delete",
                        ));
                    }
                }
            }
            "message.timestamp.type" => match value {
                "CreateTime" | "LogAppendTime" => self.message_timestamp_type = value.to_string(),
                _ => return Err(invalid(key, value, "expected CreateTime or LogAppendTime")),
            },
            "compression.type" => match value {
                "producer" | "uncompressed" | "gzip" | "snappy" | "lz4" | "zstd" => {
                    self.compression_type = value.to_string()
                }
                _ => {
                    return Err(invalid(
                        key,
                        value,
                        "expected producer, uncompressed, gzip, snappy, lz4 or zstd",
                    ));
                }
            },
            _ if PASSIVE_KEYS.iter().any(|(k, _)| *k == key) => {}
            _ => return Err(invalid(key, value, "unknown topic config")),
        }
        Ok(())
    }

    /// The effective value of `key` in its string form.
    pub fn get(&self, key: &str) -> Option<String> {
        Some(match key {
            "retention.ms" => self.retention_ms.to_string(),
            "retention.bytes" => self.retention_bytes.to_string(),
            "segment.bytes" => self.segment_bytes.to_string(),
            "segment.ms" => self.segment_ms.to_string(),
            "segment.index.bytes" => self.segment_index_bytes.to_string(),
            "index.interval.bytes" => self.index_interval_bytes.to_string(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "flush.messages" => self.flush_messages.to_string(),
            "flush.ms" => self.flush_ms.to_string(),
            "delete.retention.ms" => self.delete_retention_ms.to_string(),
            "min.insync.replicas" => self.min_insync_replicas.to_string(),
            "cleanup.policy" => match self.cleanup_policy {
                CleanupPolicy::Delete => "delete",
                CleanupPolicy::Compact => "compact",
                CleanupPolicy::CompactDelete => "compact,delete",
            }
            .to_string(),
            "message.timestamp.type" => self.message_timestamp_type.clone(),
            "compression.type" => self.compression_type.clone(),
            _ => {
                return PASSIVE_KEYS
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| (*v).to_string());
            }
        })
    }

    /// These defaults with `overrides` applied.
    pub fn with_overrides(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<TopicConfig, BrokerError> {
        let mut config = self.clone();
        for (key, value) in overrides {
            config.set(key, value)?;
        }
        Ok(config)
    }

    /// Every known config with its effective value; `overrides` marks the non-defaults.
    pub fn describe(&self, overrides: &BTreeMap<String, String>) -> Vec<ConfigEntry> {
        let mut names: Vec<&str> = Self::ENFORCED_KEYS.to_vec();
        names.extend(PASSIVE_KEYS.iter().map(|(k, _)| *k));
        names.sort_unstable();
        names
            .into_iter()
            .map(|name| ConfigEntry {
                name: name.to_string(),
                value: overrides
                    .get(name)
                    .cloned()
                    .or_else(|| self.get(name))
                    .unwrap_or_default(),
                is_default: !overrides.contains_key(name),
            })
            .collect()
    }

    /// The codec batches are stored in; `None` keeps the producer's (`producer`).
    pub fn storage_compression(&self) -> Option<Compression> {
        Some(match self.compression_type.as_str() {
            "uncompressed" => Compression::None,
            "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            "lz4" => Compression::Lz4,
            "zstd" => Compression::Zstd,
            _ => return None,
        })
    }

    /// True when the log keeps the latest record per key, so every record needs a key.
    pub fn is_compacted(&self) -> bool {
        self.cleanup_policy != CleanupPolicy::Delete
    }

    /// True when durable acknowledgements wait for fsync (the default, `flush.messages=1`).
    pub fn is_durable(&self) -> bool {
        self.flush_messages <= 1
    }

    /// The storage configuration these values imply.
    pub fn log_config(&self) -> LogConfig {
        let optional = |v: i64| (v >= 0 && v != i64::MAX).then_some(v as u64);
        LogConfig {
            segment_bytes: self.segment_bytes.max(14) as u64,
            segment_ms: optional(self.segment_ms),
            retention_bytes: optional(self.retention_bytes),
            retention_ms: optional(self.retention_ms),
            index_interval_bytes: self.index_interval_bytes.clamp(0, i64::from(u32::MAX)) as u32,
            max_index_bytes: self.segment_index_bytes.clamp(8, i64::from(u32::MAX)) as u32,
            max_message_bytes: self.max_message_bytes.clamp(0, i64::from(u32::MAX)) as u32,
            flush: FlushPolicy {
                messages: self.flush_messages.max(1) as u64,
                ms: optional(self.flush_ms),
            },
            timestamp_type: if self.message_timestamp_type == "LogAppendTime" {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_validates_like_kafka() {
        let mut c = TopicConfig::default();
        c.set("retention.ms", "1000").unwrap();
        assert_eq!(c.log_config().retention_ms, Some(1000));
        c.set("retention.ms", "-1").unwrap();
        assert_eq!(c.log_config().retention_ms, None);
        assert!(c.set("retention.ms", "soon").is_err());
        assert!(c.set("flush.messages", "0").is_err());
        assert!(c.set("no.such.config", "1").is_err());
        assert!(c.set("cleanup.policy", "delete,compact").is_ok());
        assert_eq!(c.get("cleanup.policy").unwrap(), "compact,delete");
        assert!(c.set("min.insync.replicas", "2").is_ok());
        assert!(c.set("compression.type", "brotli").is_err());
        c.set("compression.type", "zstd").unwrap();
        assert_eq!(c.storage_compression(), Some(Compression::Zstd));
    }

    #[test]
    fn durable_by_default() {
        let c = TopicConfig::default();
        assert!(c.is_durable());
        assert!(c.log_config().flush.acks_wait_for_fsync());
    }

    #[test]
    fn describe_marks_overrides() {
        let defaults = TopicConfig::default();
        let overrides = BTreeMap::from([("retention.ms".to_string(), "5".to_string())]);
        let effective = defaults.with_overrides(&overrides).unwrap();
        let entries = effective.describe(&overrides);
        let r = entries.iter().find(|e| e.name == "retention.ms").unwrap();
        assert_eq!((r.value.as_str(), r.is_default), ("5", false));
        assert!(
            entries
                .iter()
                .find(|e| e.name == "segment.bytes")
                .unwrap()
                .is_default
        );
    }
}
