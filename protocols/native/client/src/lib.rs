//! `neo-client`: the Rust SDK of Neo's native protocol.
//!
//! One [`Client`] holds one multiplexed connection to a broker (and, on a cluster, one to each
//! broker leading a partition it produces to or subscribes to) and offers a batching
//! [`Producer`], a push [`Consumer`] (a `Stream` of records with credit-based flow control),
//! a [`GroupConsumer`] sharing a consumer group with Kafka clients, a [`QueueConsumer`] with
//! ack/nack, and brokered RPC ([`Client::serve`], [`Client::call`]).
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use neo_client::{Client, ProducerConfig, StartAt};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::connect("127.0.0.1:7070").await?;
//! client.create_topic("events", 1).await?;
//! let producer = client.producer(ProducerConfig::default());
//! let ack = producer.send("events", 0, None, "hello".into()).await?;
//! println!("stored at offset {}", ack.await?.offset);
//! let mut consumer = client.subscribe("events", 0, StartAt::Earliest).await?;
//! if let Some(record) = consumer.next().await {
//!     println!("{:?}", record?.value);
//! }
//! # Ok(()) }
//! ```

mod client;
mod connection;
mod consumer;
mod error;
mod group_consumer;
mod produce_request;
mod producer;
mod queue_consumer;
mod record;
mod routing;
mod rpc_server;
mod subscription_slot;

pub use client::{Client, ClientOptions, ClusterMetadata};
pub use consumer::Consumer;
pub use error::{ClientError, RpcError};
pub use group_consumer::GroupConsumer;
pub use neo_native::wire::{
    BrokerInfo, ErrorCode, GroupInfo, PartitionInfo, ServiceInfo, StartAt, TopicInfo, TopicLeaders,
};
pub use neo_record::codec::Compression;
pub use producer::{Ack, Acks, Producer, ProducerConfig, RecordMetadata};
pub use queue_consumer::{QueueConsumer, QueueMessage};
pub use record::ConsumedRecord;
pub use rpc_server::HandlerResult;
