//! One module per group of Kafka APIs, each turning a request into a response through the
//! broker API.

pub mod acls;
pub mod api_versions;
pub mod cluster;
pub mod configs;
pub mod fetch;
pub mod group_access;
pub mod groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_for_leader_epoch;
pub mod offsets;
pub mod produce;
pub mod producer_id;
pub mod topics;

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

/// A topic name for a response.
pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}
