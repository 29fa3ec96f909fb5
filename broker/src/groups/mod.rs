//! The group coordinator: classic consumer groups (join, sync, heartbeat, leave) and their
//! committed offsets, kept in the replicated partitions of the offsets topic; each broker
//! coordinates the groups of the offsets partitions it leads. Protocol-neutral: the Kafka
//! front-end and the native protocol share it, so both kinds of clients see the same groups
//! and offsets.

mod committed_offsets;
mod config;
pub mod consumer_protocol;
mod coordinator;
mod error;
mod group;
mod group_listing;
mod leadership;
mod legacy_offsets;
mod member;
mod membership;
mod membership_messages;
mod offsets;
mod offsets_partition;
mod offsets_topic;
mod shard;

pub use committed_offsets::OffsetCommit;
pub use config::GroupConfig;
pub use coordinator::GroupCoordinator;
pub use error::GroupError;
pub use group::GroupState;
pub use group_listing::{GroupDescription, GroupListing, MemberDescription};
pub use membership_messages::{JoinOutcome, JoinRequest, JoinedMember, SyncOutcome};
pub use offsets::{CommittedOffset, TopicPartition};
pub use offsets_partition::{OFFSETS_TOPIC, offsets_partition_for};
