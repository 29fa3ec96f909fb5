//! The broker's metadata: topics and their configs, ACLs, reserved producer ids, and the
//! documents front-ends declare beside topics (AMQP exchanges, queues and bindings; SQS
//! queues with their attributes and tags). One state, changed only by typed commands that
//! are written to a log before they apply: the shape a replicated state machine takes.

mod command;
mod legacy;
mod metadata_log;
mod state;
mod store;
mod topic_record;

pub use command::{DocumentChange, DocumentKind, MetadataCommand};
pub use state::MetadataState;
pub use store::MetadataStore;
pub use topic_record::TopicRecord;
