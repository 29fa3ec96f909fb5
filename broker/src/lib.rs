//! neo-broker: topics, partitions and the protocol-neutral API the front-ends call.
//!
//! No wire format lives here: Kafka, AMQP, SQS and native front-ends all call [`Broker`].

pub mod acls;
mod append_policy;
mod appended;
mod authorize;
pub mod broker;
mod broker_calls;
pub mod cluster;
mod cluster_figures;
pub mod cluster_status;
pub mod config;
pub mod error;
pub mod fetch;
pub mod gateway_calls;
pub mod groups;
pub mod leader_epoch;
pub mod leader_transfer;
pub mod list_offsets;
mod maintenance;
pub mod membership;
pub mod metadata;
pub mod metrics;
mod parallel;
pub mod partition;
mod partition_open;
mod placement;
mod position_watch;
pub mod produce;
mod producer_gate;
mod producer_ids;
pub mod producer_state;
mod queue_leader;
pub mod queues;
mod readiness;
pub mod reassign;
mod reconcile;
pub mod topic;
mod topic_admin;
pub mod topic_name;

pub use appended::{Acks, Appended, ProduceOutcome, keep_furthest};
pub use broker::{Broker, MAX_PARTITIONS};
pub use config::{BrokerConfig, CleanupPolicy, ClusterConfig, ConfigEntry, TopicConfig};
pub use error::BrokerError;
pub use fetch::{FetchPartition, FetchRequest, FetchedData, FetchedPartition};
pub use groups::{GroupConfig, GroupCoordinator, GroupError};
pub use leader_epoch::EpochEnd;
pub use list_offsets::{OffsetAndTimestamp, OffsetSpec};
pub use metrics::BrokerMetrics;
pub use partition::{Partition, ReadRecords};
pub use position_watch::{PartitionGone, PositionWatch};
pub use readiness::{NotReady, READY_METADATA_LAG};
pub use topic::Topic;
pub use topic_admin::ConfigChange;
