//! Settings of the Kafka front-end (Kafka's own names in the docs of each field).

use std::net::SocketAddr;
use std::time::Duration;

use crate::frame::MAX_REQUEST_BYTES_DEFAULT;

/// How the Kafka listener behaves.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Address to listen on (`listeners`), default `0.0.0.0:9092`.
    pub listen: SocketAddr,
    /// `host:port` told to clients in Metadata (`advertised.listeners`); `None` advertises the
    /// address the client connected to.
    pub advertised: Option<(String, u16)>,
    /// This broker's id (`node.id`).
    pub node_id: i32,
    /// Create a topic when a client asks for metadata of a missing one
    /// (`auto.create.topics.enable`).
    pub auto_create_topics: bool,
    /// Largest request accepted, checked before allocating (`socket.request.max.bytes`).
    pub max_request_bytes: usize,
    /// Close connections idle this long (`connections.max.idle.ms`).
    pub idle_timeout: Duration,
    /// Requests of one connection processed at once before reading stops (back-pressure).
    pub max_in_flight: usize,
    /// Benchmarks only: acknowledge produce requests without storing them, to measure what a
    /// client reaches when the broker's storage costs nothing.
    pub discard_produce: bool,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 9092)),
            advertised: None,
            node_id: 1,
            auto_create_topics: true,
            max_request_bytes: MAX_REQUEST_BYTES_DEFAULT,
            idle_timeout: Duration::from_secs(600),
            max_in_flight: 64,
            discard_produce: false,
        }
    }
}
