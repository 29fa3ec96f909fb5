//! neo-kafka: the Kafka wire front-end.
//!
//! Existing Kafka clients (librdkafka, the Java client, kafka-python, franz-go, ...) connect to
//! [`KafkaServer`] unchanged. Requests are decoded with the `kafka-protocol` crate at the
//! version the client sent and answered through the protocol-neutral [`neo_broker::Broker`].

mod acl_codes;
mod apis;
mod config;
mod connection;
mod context;
mod dispatch;
mod error_codes;
mod frame;
mod handler;
mod reply;
mod server;
mod versions;
mod wire_values;

pub use config::KafkaConfig;
pub use frame::{FrameError, MAX_REQUEST_BYTES_DEFAULT};
pub use server::KafkaServer;
pub use versions::SUPPORTED_APIS;

/// Decodes one request frame body (without its length prefix) the way the server does:
/// for fuzzing and tests. Never panics; returns why a frame is rejected.
pub fn decode_request(frame: bytes::Bytes) -> Result<(), FrameError> {
    frame::decode(frame).map(|_| ())
}
