//! neo-sqs: the SQS gateway. AWS SDKs and the AWS CLI talk to [`SqsServer`] in either of
//! SQS's wire protocols (AWS JSON 1.0 and Query); each queue is a topic partition read
//! through the broker's queue cursor, so messages are durable on the log and readable from
//! Kafka.

mod actions;
mod allowed_text;
mod batch;
mod config;
mod dedup;
pub mod error;
mod forward;
mod gateway;
mod message;
mod message_attribute;
mod move_runner;
mod move_tasks;
mod params;
mod query_params;
mod queue_attributes;
mod queue_state;
mod receipt_handle;
mod registry;
mod registry_store;
pub mod request;
pub mod response;
mod sequence_number;
mod server;
mod transfer;
pub mod validate;
mod xml;

pub use config::SqsConfig;
pub use server::SqsServer;
