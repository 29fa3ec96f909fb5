//! The broker's metadata: topics and their configs, ACLs, reserved producer ids, and the
//! documents front-ends declare beside topics (AMQP exchanges, queues and bindings; SQS
//! queues with their attributes and tags). One state, changed only by typed commands, the
//! state machine of the controller Raft group.

mod command;
mod legacy;
mod machine;
mod state;
mod store;
mod topic_record;

pub use command::{DocumentChange, DocumentKind, MetadataCommand, VoterChange};
pub use state::MetadataState;
pub(crate) use state::{PRODUCER_IDS, RESERVED_ELSEWHERE};
pub use store::MetadataStore;
pub use topic_record::{BrokerRecord, LeaderRecord, TopicRecord};
