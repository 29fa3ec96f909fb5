//! neo-amqp: the AMQP 0-9-1 gateway. RabbitMQ clients connect to [`AmqpServer`] and publish
//! to exchanges and consume from queues; each queue is a topic partition read through the
//! broker's queue cursor, so messages are durable on the log and readable from Kafka.

mod alarm;
mod channel;
mod config;
mod connection;
mod consumer;
mod consumers;
mod delivery;
pub mod frames;
mod gateway;
mod outgoing;
mod publish;
mod queue_args;
mod reply;
mod server;
mod staged;
mod topology;
mod topology_store;

pub use config::AmqpConfig;
pub use gateway::Gateway;
pub use server::AmqpServer;
