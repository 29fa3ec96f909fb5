//! What the metadata keeps of one topic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What is remembered about one topic across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    pub name: String,
    pub id: uuid::Uuid,
    pub partitions: i32,
    /// Configs set on the topic (overrides of the broker defaults), under Kafka's names.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}
