//! The configuration of `neo serve`: defaults < `neo.toml` < `NEO_*` environment < flags.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use neo_amqp::AmqpConfig;
use neo_broker::{BrokerConfig, ClusterConfig, GroupConfig, TopicConfig};
use neo_kafka::KafkaConfig;
use neo_native::NativeConfig;
use neo_sqs::SqsConfig;
use serde::{Deserialize, Serialize};

use crate::cli::ServeArgs;
use crate::logging::LogFormat;

/// The admin HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Where `/health`, `/ready` and `/metrics` are served.
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 9644)),
        }
    }
}

/// The AMQP 0-9-1 listener, with RabbitMQ's defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmqpSection {
    /// Where AMQP clients connect.
    pub listen: SocketAddr,
    /// The user and password accepted (PLAIN and AMQPLAIN).
    pub username: String,
    pub password: String,
    /// Largest frame negotiated (`frame_max`).
    pub frame_max: u32,
    /// Most channels per connection (`channel_max`).
    pub channel_max: u16,
    /// Heartbeat offered, in seconds; a peer silent for two intervals is disconnected.
    pub heartbeat_secs: u16,
    /// Publishers are blocked while the data directory has less free disk space than this.
    pub disk_free_limit_bytes: u64,
}

impl Default for AmqpSection {
    fn default() -> Self {
        let d = AmqpConfig::default();
        Self {
            listen: d.listen,
            username: d.username,
            password: d.password,
            frame_max: d.frame_max,
            channel_max: d.channel_max,
            heartbeat_secs: d.heartbeat_secs,
            disk_free_limit_bytes: d.disk_free_limit_bytes,
        }
    }
}

impl AmqpSection {
    pub fn amqp_config(&self) -> AmqpConfig {
        AmqpConfig {
            listen: self.listen,
            username: self.username.clone(),
            password: self.password.clone(),
            frame_max: self.frame_max.max(4096),
            channel_max: self.channel_max.max(1),
            heartbeat_secs: self.heartbeat_secs,
            disk_free_limit_bytes: self.disk_free_limit_bytes,
        }
    }
}

/// The native-protocol listener (the `neo-client` SDK).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NativeSection {
    /// Where native clients connect.
    pub listen: SocketAddr,
    /// Largest frame accepted or sent, in bytes.
    pub max_frame_bytes: usize,
    /// Requests of one connection processed at once before reading stops.
    pub max_in_flight: usize,
    /// Most bytes of credit one subscription may hold (bounds what a slow consumer costs).
    pub max_credit_bytes: u32,
    /// When set, clients must present this token in their Hello.
    pub auth_token: Option<String>,
}

impl Default for NativeSection {
    fn default() -> Self {
        let d = NativeConfig::default();
        Self {
            listen: d.listen,
            max_frame_bytes: d.max_frame_bytes,
            max_in_flight: d.max_in_flight,
            max_credit_bytes: d.max_credit_bytes,
            auth_token: d.auth_token,
        }
    }
}

impl NativeSection {
    pub fn native_config(&self) -> NativeConfig {
        NativeConfig {
            listen: self.listen,
            max_frame_bytes: self.max_frame_bytes.max(64 * 1024),
            max_in_flight: self.max_in_flight.max(1),
            max_credit_bytes: self.max_credit_bytes.max(64 * 1024),
            auth_token: self.auth_token.clone(),
            ..NativeConfig::default()
        }
    }
}

/// The SQS listener (AWS JSON 1.0 and Query protocols), with SQS emulators' defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqsSection {
    /// Where SQS clients connect.
    pub listen: SocketAddr,
    /// Scheme, host and port that queue URLs start with (`http://localhost:<port>` when
    /// unset): set it when clients reach the broker through another name.
    pub advertised_url: Option<String>,
    /// The account id in queue URLs and ARNs.
    pub account_id: String,
    /// The region in queue ARNs.
    pub region: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for SqsSection {
    fn default() -> Self {
        let d = SqsConfig::default();
        Self {
            listen: d.listen,
            advertised_url: d.advertised_url,
            account_id: d.account_id,
            region: d.region,
            max_body_bytes: d.max_body_bytes,
        }
    }
}

impl SqsSection {
    pub fn sqs_config(&self) -> SqsConfig {
        SqsConfig {
            listen: self.listen,
            advertised_url: self.advertised_url.clone(),
            account_id: self.account_id.clone(),
            region: self.region.clone(),
            max_body_bytes: self.max_body_bytes.max(1 << 20),
        }
    }
}

/// The Kafka wire listener, with Kafka's setting names where it has one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSection {
    /// Where Kafka clients connect (`listeners`).
    pub listen: SocketAddr,
    /// `host:port` told to clients in Metadata (`advertised.listeners`): set it when clients
    /// reach the broker through another name (Docker, Kubernetes, NAT).
    pub advertised_listener: Option<String>,
    /// This broker's id (`node.id`).
    pub node_id: i32,
    /// Create topics on first use (`auto.create.topics.enable`).
    pub auto_create_topics_enable: bool,
    /// Largest request accepted (`socket.request.max.bytes`).
    pub socket_request_max_bytes: usize,
    /// Close connections idle this long (`connections.max.idle.ms`).
    pub connections_max_idle_ms: u64,
}

impl Default for KafkaSection {
    fn default() -> Self {
        let defaults = KafkaConfig::default();
        Self {
            listen: defaults.listen,
            advertised_listener: None,
            node_id: defaults.node_id,
            auto_create_topics_enable: defaults.auto_create_topics,
            socket_request_max_bytes: defaults.max_request_bytes,
            connections_max_idle_ms: defaults.idle_timeout.as_millis() as u64,
        }
    }
}

impl KafkaSection {
    /// The listener's configuration, checking `advertised_listener`.
    pub fn kafka_config(&self) -> anyhow::Result<KafkaConfig> {
        let advertised = match &self.advertised_listener {
            None => None,
            Some(listener) => {
                // Accept Kafka's `PLAINTEXT://host:port` form as well as `host:port`.
                let address = listener.rsplit("://").next().unwrap_or(listener);
                let (host, port) = address.rsplit_once(':').with_context(|| {
                    format!("config: kafka.advertised_listener {listener:?} is not host:port")
                })?;
                let port = port.parse().with_context(|| {
                    format!("config: kafka.advertised_listener {listener:?} has a bad port")
                })?;
                Some((host.trim_matches(['[', ']']).to_string(), port))
            }
        };
        Ok(KafkaConfig {
            listen: self.listen,
            advertised,
            node_id: self.node_id,
            auto_create_topics: self.auto_create_topics_enable,
            max_request_bytes: self.socket_request_max_bytes,
            idle_timeout: Duration::from_millis(self.connections_max_idle_ms),
            ..KafkaConfig::default()
        })
    }
}

/// Broker-wide settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerSection {
    /// Partitions of a topic created without a count (`num.partitions`).
    pub num_partitions: i32,
    /// Replicas of a topic created without a replication factor
    /// (`default.replication.factor`).
    pub default_replication_factor: i16,
    /// Threads that fsync logs (group commit).
    pub flush_threads: usize,
    /// Sealed segments, over all partitions, whose files stay open (each costs one file
    /// descriptor); older ones are reopened when read.
    pub open_segments: usize,
    /// Seconds between retention passes.
    pub retention_check_interval_secs: u64,
    /// Milliseconds between compaction passes over compacted topics
    /// (`log.cleaner.backoff.ms`).
    pub log_cleaner_backoff_ms: u64,
    /// How long a new consumer group waits for more members (`group.initial.rebalance.delay.ms`).
    pub group_initial_rebalance_delay_ms: u64,
    /// Smallest session timeout a member may ask for (`group.min.session.timeout.ms`).
    pub group_min_session_timeout_ms: u64,
    /// Largest session timeout a member may ask for (`group.max.session.timeout.ms`).
    pub group_max_session_timeout_ms: u64,
    /// Committed offsets of a group without members are dropped this long after its last
    /// commit (`offsets.retention.minutes`).
    pub offsets_retention_minutes: u64,
    /// Partitions of the offsets topic, `__consumer_offsets`, fixed when the cluster creates
    /// it (`offsets.topic.num.partitions`); each is a Raft group coordinating its share of
    /// the groups.
    pub offsets_topic_num_partitions: i32,
    /// Replicas of each offsets partition, at most the number of voters
    /// (`offsets.topic.replication.factor`).
    pub offsets_topic_replication_factor: i16,
}

impl Default for BrokerSection {
    fn default() -> Self {
        let defaults = BrokerConfig::default();
        Self {
            num_partitions: defaults.num_partitions,
            default_replication_factor: defaults.default_replication_factor,
            flush_threads: defaults.flush_threads,
            open_segments: defaults.open_segments,
            retention_check_interval_secs: defaults.maintenance_interval.as_secs(),
            log_cleaner_backoff_ms: defaults.cleaner_interval.as_millis() as u64,
            group_initial_rebalance_delay_ms: defaults.groups.initial_rebalance_delay.as_millis()
                as u64,
            group_min_session_timeout_ms: defaults.groups.min_session_timeout.as_millis() as u64,
            group_max_session_timeout_ms: defaults.groups.max_session_timeout.as_millis() as u64,
            offsets_retention_minutes: defaults.groups.offsets_retention.as_secs() / 60,
            offsets_topic_num_partitions: defaults.groups.offsets_topic_partitions,
            offsets_topic_replication_factor: defaults.groups.offsets_topic_replication_factor,
        }
    }
}

/// The cluster this broker belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// This broker's id, unique in the cluster (Kafka's `node.id`).
    pub node_id: u64,
    /// Where the other brokers reach this one (cluster RPC).
    pub listen: SocketAddr,
    /// The address the other brokers are told; default: this broker's address in `voters`.
    pub advertised: Option<SocketAddr>,
    /// Every broker of the cluster as `id@host:port` (its cluster address), this one included;
    /// empty for a cluster of one. The lowest id forms the cluster when it first starts. A
    /// broker that is not named joins the cluster the others form once it is added
    /// (`neo cluster add-broker`).
    pub voters: Vec<String>,
    /// A broker of another cluster is refused.
    pub cluster_id: String,
    /// How often leaders send heartbeats.
    pub heartbeat_interval_ms: u64,
    /// A follower that hears nothing from its leader for this long starts an election.
    pub election_timeout_ms: u64,
    /// A follower that has not acknowledged its leader for this long leaves the in-sync
    /// replicas (Kafka's `replica.lag.time.max.ms`).
    pub replica_lag_time_max_ms: u64,
    /// How often a broker hands partitions it leads back to their preferred replica (the
    /// first of the set) when that one is in sync; 0 turns it off (Kafka's
    /// `leader.imbalance.check.interval.seconds` with `auto.leader.rebalance.enable`).
    pub leader_rebalance_interval_secs: u64,
}

impl Default for ClusterSection {
    fn default() -> Self {
        let defaults = ClusterConfig::default();
        Self {
            node_id: 1,
            listen: SocketAddr::from(([0, 0, 0, 0], 9645)),
            advertised: None,
            voters: Vec::new(),
            cluster_id: defaults.cluster_id,
            heartbeat_interval_ms: defaults.heartbeat_interval.as_millis() as u64,
            election_timeout_ms: defaults.election_timeout.as_millis() as u64,
            replica_lag_time_max_ms: defaults.replica_lag_time_max.as_millis() as u64,
            leader_rebalance_interval_secs: defaults
                .leader_rebalance_interval
                .map_or(0, |d| d.as_secs()),
        }
    }
}

impl ClusterSection {
    /// The broker's cluster settings, resolving every voter's address.
    pub fn cluster_config(&self) -> anyhow::Result<ClusterConfig> {
        let mut voters = BTreeMap::new();
        for voter in &self.voters {
            let (id, address) = voter.split_once('@').with_context(|| {
                format!("config: cluster.voters entry {voter:?} is not id@host:port")
            })?;
            let id: u64 = id
                .parse()
                .with_context(|| format!("config: cluster.voters entry {voter:?}: bad id"))?;
            let addr = address
                .to_socket_addrs()
                .with_context(|| format!("config: cluster.voters entry {voter:?}: bad address"))?
                .next()
                .with_context(|| format!("config: cluster.voters entry {voter:?}: no address"))?;
            anyhow::ensure!(
                voters.insert(id, addr).is_none(),
                "config: cluster.voters names node {id} twice"
            );
        }
        // A broker its voters do not name joins the cluster they form (`neo cluster
        // add-broker`): they must be told where it is.
        anyhow::ensure!(
            voters.is_empty()
                || voters.contains_key(&self.node_id)
                || self.advertised.is_some()
                || !self.listen.ip().is_unspecified(),
            "config: broker {} is not among cluster.voters, so it joins their cluster: give it \
             cluster.advertised (or a cluster.listen address other brokers can reach)",
            self.node_id
        );
        anyhow::ensure!(
            self.heartbeat_interval_ms >= 1
                && self.election_timeout_ms > self.heartbeat_interval_ms,
            "config: cluster.election_timeout_ms must be larger than heartbeat_interval_ms"
        );
        Ok(ClusterConfig {
            listen: self.listen,
            advertised: self.advertised,
            voters,
            cluster_id: self.cluster_id.clone(),
            heartbeat_interval: Duration::from_millis(self.heartbeat_interval_ms),
            election_timeout: Duration::from_millis(self.election_timeout_ms),
            replica_lag_time_max: Duration::from_millis(self.replica_lag_time_max_ms),
            leader_rebalance_interval: (self.leader_rebalance_interval_secs > 0)
                .then(|| Duration::from_secs(self.leader_rebalance_interval_secs)),
        })
    }
}

/// Everything `neo serve` is configured with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NeoConfig {
    /// Where partitions and metadata live.
    pub data_dir: PathBuf,
    /// Log output format.
    pub log_format: LogFormat,
    pub admin: AdminConfig,
    pub kafka: KafkaSection,
    pub amqp: AmqpSection,
    pub sqs: SqsSection,
    pub native: NativeSection,
    pub broker: BrokerSection,
    pub cluster: ClusterSection,
    /// Defaults of every topic, under Kafka's config names (`"retention.ms" = 86400000`).
    pub topic_defaults: TopicConfig,
}

impl Default for NeoConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./neo-data"),
            log_format: LogFormat::Text,
            admin: AdminConfig::default(),
            kafka: KafkaSection::default(),
            amqp: AmqpSection::default(),
            sqs: SqsSection::default(),
            native: NativeSection::default(),
            broker: BrokerSection::default(),
            cluster: ClusterSection::default(),
            topic_defaults: TopicConfig::default(),
        }
    }
}

/// The flags given on the command line, as a config layer.
#[derive(Debug, Default, Serialize)]
struct FlagLayer {
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_format: Option<LogFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    admin: Option<ListenFlag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kafka: Option<ListenFlag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amqp: Option<ListenFlag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sqs: Option<ListenFlag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    native: Option<ListenFlag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<ClusterFlags>,
}

/// The cluster flags given.
#[derive(Debug, Default, Serialize)]
struct ClusterFlags {
    #[serde(skip_serializing_if = "Option::is_none")]
    node_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    voters: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
struct ListenFlag {
    listen: SocketAddr,
}

/// Environment variables read, as `NEO_<KEY>` with `__` between nested keys
/// (`NEO_DATA_DIR`, `NEO_ADMIN__LISTEN`, `NEO_BROKER__NUM_PARTITIONS`).
const ENV_KEYS: &[&str] = &[
    "data_dir",
    "log_format",
    "admin",
    "kafka",
    "amqp",
    "sqs",
    "native",
    "broker",
    "cluster",
];

impl NeoConfig {
    /// Layers defaults, the config file, the environment and `args`, and validates the result.
    pub fn load(args: &ServeArgs) -> anyhow::Result<NeoConfig> {
        let mut figment = Figment::from(Serialized::defaults(NeoConfig::default()));
        match &args.config {
            Some(path) => {
                if !path.is_file() {
                    anyhow::bail!("config file {}: not found", path.display());
                }
                figment = figment.merge(Toml::file_exact(path));
            }
            None if Path::new("neo.toml").is_file() => {
                figment = figment.merge(Toml::file_exact("neo.toml"))
            }
            None => {}
        }
        // Keys keep the variable's case here (`ADMIN__LISTEN`); figment lowercases them later.
        let env = Env::prefixed("NEO_")
            .filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                ENV_KEYS
                    .iter()
                    .any(|k| key == *k || key.starts_with(&format!("{k}__")))
            })
            .split("__");
        figment = figment.merge(env);
        let flags = FlagLayer {
            data_dir: args.data_dir.clone(),
            log_format: args.log_format,
            admin: args.admin_listen.map(|listen| ListenFlag { listen }),
            kafka: args.kafka_listen.map(|listen| ListenFlag { listen }),
            amqp: args.amqp_listen.map(|listen| ListenFlag { listen }),
            sqs: args.sqs_listen.map(|listen| ListenFlag { listen }),
            native: args.native_listen.map(|listen| ListenFlag { listen }),
            cluster: (args.node_id.is_some()
                || args.cluster_listen.is_some()
                || args.voters.is_some())
            .then(|| ClusterFlags {
                node_id: args.node_id,
                listen: args.cluster_listen,
                voters: args.voters.as_ref().map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                }),
            }),
        };
        figment = figment.merge(Serialized::defaults(flags));
        let config: NeoConfig = figment
            .extract()
            .map_err(|e| anyhow::anyhow!("config: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=neo_broker::MAX_PARTITIONS).contains(&self.broker.num_partitions),
            "config: broker.num_partitions must be between 1 and {}",
            neo_broker::MAX_PARTITIONS
        );
        anyhow::ensure!(
            (1..=neo_broker::MAX_PARTITIONS).contains(&self.broker.offsets_topic_num_partitions),
            "config: broker.offsets_topic_num_partitions must be between 1 and {}",
            neo_broker::MAX_PARTITIONS
        );
        anyhow::ensure!(
            self.broker.offsets_topic_replication_factor >= 1,
            "config: broker.offsets_topic_replication_factor must be at least 1"
        );
        anyhow::ensure!(
            self.broker.flush_threads >= 1,
            "config: broker.flush_threads must be at least 1"
        );
        anyhow::ensure!(
            self.broker.open_segments >= 1,
            "config: broker.open_segments must be at least 1"
        );
        self.kafka.kafka_config()?;
        self.cluster.cluster_config()?;
        // Every topic default must be a value a topic could be created with.
        let mut probe = TopicConfig::default();
        for key in TopicConfig::ENFORCED_KEYS {
            if let Some(value) = self.topic_defaults.get(key) {
                probe
                    .set(key, &value)
                    .with_context(|| format!("config: topic_defaults.{key}"))?;
            }
        }
        Ok(())
    }

    /// This broker's id: `cluster.node_id`, or the older `kafka.node_id` when only that one
    /// was changed.
    pub fn node_id(&self) -> u64 {
        let kafka = u64::try_from(self.kafka.node_id).unwrap_or(1);
        if self.cluster.node_id == 1 && kafka != 1 {
            kafka
        } else {
            self.cluster.node_id
        }
    }

    /// The broker's configuration.
    pub fn broker_config(&self) -> BrokerConfig {
        BrokerConfig {
            node_id: self.node_id(),
            cluster: self.cluster.cluster_config().unwrap_or_default(),
            data_dir: self.data_dir.clone(),
            topic_defaults: self.topic_defaults.clone(),
            num_partitions: self.broker.num_partitions,
            default_replication_factor: self.broker.default_replication_factor,
            flush_threads: self.broker.flush_threads,
            open_segments: self.broker.open_segments,
            maintenance_interval: Duration::from_secs(
                self.broker.retention_check_interval_secs.max(1),
            ),
            cleaner_interval: Duration::from_millis(self.broker.log_cleaner_backoff_ms.max(1)),
            groups: GroupConfig {
                initial_rebalance_delay: Duration::from_millis(
                    self.broker.group_initial_rebalance_delay_ms,
                ),
                min_session_timeout: Duration::from_millis(
                    self.broker.group_min_session_timeout_ms,
                ),
                max_session_timeout: Duration::from_millis(
                    self.broker.group_max_session_timeout_ms,
                ),
                offsets_retention: Duration::from_secs(self.broker.offsets_retention_minutes * 60),
                offsets_topic_partitions: self.broker.offsets_topic_num_partitions,
                offsets_topic_replication_factor: self.broker.offsets_topic_replication_factor,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("neo.toml");
        std::fs::write(
            &file,
            "data_dir = \"/from/file\"\n[admin]\nlisten = \"127.0.0.1:1\"\n[topic_defaults]\n\"retention.ms\" = 1000\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(file.clone()),
            data_dir: Some("/from/flag".into()),
            ..ServeArgs::default()
        };
        let config = NeoConfig::load(&args).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(config.admin.listen, "127.0.0.1:1".parse().unwrap());
        assert_eq!(config.topic_defaults.retention_ms, 1000);
        assert_eq!(config.broker_config().topic_defaults.flush_messages, 1);
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("neo.toml");
        for bad in [
            "bogus = 1\n",
            "data_dir = 5\n",
            "[admin]\nlisten = \"nowhere\"\n",
            "[topic_defaults]\n\"flush.messages\" = 0\n",
        ] {
            std::fs::write(&file, bad).unwrap();
            let args = ServeArgs {
                config: Some(file.clone()),
                ..ServeArgs::default()
            };
            assert!(NeoConfig::load(&args).is_err(), "{bad}");
        }
    }
}
