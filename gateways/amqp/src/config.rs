//! Settings of the AMQP gateway.

use std::net::SocketAddr;

/// How the AMQP gateway listens and what it negotiates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpConfig {
    /// Where to listen (RabbitMQ's port by default).
    pub listen: SocketAddr,
    /// The one user and password accepted (RabbitMQ's `guest`/`guest` by default).
    pub username: String,
    pub password: String,
    /// Largest frame, announced in Tune and enforced before a frame is read.
    pub frame_max: u32,
    /// Most channels per connection.
    pub channel_max: u16,
    /// Heartbeat interval offered, in seconds (0 disables).
    pub heartbeat_secs: u16,
    /// Publishing connections are blocked (connection.blocked) while the data directory's
    /// file system has less free space than this (RabbitMQ's `disk_free_limit`).
    pub disk_free_limit_bytes: u64,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        AmqpConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 5672)),
            username: "guest".into(),
            password: "guest".into(),
            frame_max: 131_072,
            channel_max: 2_047,
            heartbeat_secs: 60,
            disk_free_limit_bytes: 50_000_000,
        }
    }
}
