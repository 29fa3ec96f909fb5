//! neo-broker: topics, partitions and the protocol-neutral API the front-ends call.
//!
//! No wire format lives here: Kafka, AMQP, SQS and native front-ends all call [`Broker`].

pub mod broker;
pub mod config;
pub mod error;
pub mod metrics;

pub use broker::Broker;
pub use config::{BrokerConfig, TopicConfig};
pub use error::BrokerError;
pub use metrics::BrokerMetrics;
