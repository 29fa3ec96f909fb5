//! The changes the metadata store accepts: each one a typed command, applied to the state in
//! the order the store's log holds them (the shape a replicated state machine needs).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::acls::AclBinding;
use crate::metadata::{BrokerRecord, TopicRecord};

/// One change to the broker's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataCommand {
    /// A new topic (refused if the name is taken).
    CreateTopic(TopicRecord),
    /// A topic goes, with its configs.
    DeleteTopic { name: String },
    /// A topic grows to `partitions` partitions; the new ones have replicas `added`.
    SetPartitionCount {
        name: String,
        partitions: i32,
        #[serde(default)]
        added: Vec<Vec<u64>>,
    },
    /// A topic's config overrides are replaced.
    SetTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
    },
    /// ACL bindings are added (one already there is not added twice).
    CreateAcls(Vec<AclBinding>),
    /// ACL bindings are removed.
    DeleteAcls(Vec<AclBinding>),
    /// `count` more producer ids are reserved: ids below the new end are never handed out
    /// again. With `from`, only if the reserved ids end there (refused otherwise), so that
    /// the proposer knows its block is `from..from + count`.
    ReserveProducerIds {
        count: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<i64>,
    },
    /// Front-end documents are put or removed, all at once.
    ChangeDocuments(Vec<DocumentChange>),
    /// A broker joins, or says where it is again.
    RegisterBroker { id: u64, broker: BrokerRecord },
    /// A broker leaves the cluster (refused while it holds a replica).
    UnregisterBroker { id: u64 },
    /// A partition's new leader, as it reports itself (ignored when an equal or newer term
    /// is known).
    SetPartitionLeader {
        topic: String,
        partition: i32,
        leader: u64,
        epoch: u64,
    },
    /// The cluster's id, chosen by the first broker to propose one (later ones are ignored).
    SetClusterId(String),
    /// A partition starts moving to the replica set `replicas` (the first is the preferred
    /// leader); its leader carries the move out.
    ReassignPartition {
        topic: String,
        partition: i32,
        replicas: Vec<u64>,
    },
    /// A partition's move to `replicas` is done (ignored unless that move is the one under
    /// way): the set takes effect, and brokers left out drop their replicas.
    FinishReassignment {
        topic: String,
        partition: i32,
        replicas: Vec<u64>,
    },
}

/// A change of the controller's voters (`neo cluster add-broker`, `remove-broker`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VoterChange {
    /// Broker `node`, reached at `address` (its cluster RPC), becomes a voter.
    Add { node: u64, address: String },
    /// Broker `node` stops being one.
    Remove { node: u64 },
}

/// The kinds of documents front-ends keep in the broker's metadata: what they declare
/// beside topics. The broker stores them and never reads inside them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// An AMQP exchange, by name.
    AmqpExchange,
    /// An AMQP queue, by name.
    AmqpQueue,
    /// An AMQP binding, by a key its gateway derives from it.
    AmqpBinding,
    /// An SQS queue (attributes, tags, times), by name.
    SqsQueue,
}

/// A document put (`value` set) or removed (`value` none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentChange {
    pub kind: DocumentKind,
    pub name: String,
    pub value: Option<serde_json::Value>,
}
