//! Settings of the native listener.

use std::net::SocketAddr;
use std::time::Duration;

use crate::wire::MAX_FRAME_BYTES_DEFAULT;

/// How the native listener behaves; every buffer it keeps per connection is bounded here.
#[derive(Debug, Clone)]
pub struct NativeConfig {
    /// Address to listen on, default `0.0.0.0:7070`.
    pub listen: SocketAddr,
    /// Largest frame accepted or sent, checked before allocating.
    pub max_frame_bytes: usize,
    /// Requests of one connection processed at once before reading stops (back-pressure).
    pub max_in_flight: usize,
    /// Frames queued for writing to one connection before producers of frames wait.
    pub outbox_frames: usize,
    /// Most bytes one subscription may be granted ahead of what it has consumed.
    pub max_credit_bytes: u32,
    /// Most records one push of a queue subscription carries, and the largest prefetch.
    pub max_prefetch: u32,
    /// Subscriptions one connection may hold at once.
    pub max_subscriptions: usize,
    /// Close connections that send nothing for this long (clients ping when idle).
    pub idle_timeout: Duration,
    /// Authentication hook: when set, Hello must carry exactly this token.
    pub auth_token: Option<String>,
}

impl Default for NativeConfig {
    fn default() -> Self {
        NativeConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 7070)),
            max_frame_bytes: MAX_FRAME_BYTES_DEFAULT,
            max_in_flight: 256,
            outbox_frames: 256,
            max_credit_bytes: 64 * 1024 * 1024,
            max_prefetch: 10_000,
            max_subscriptions: 1024,
            idle_timeout: Duration::from_secs(600),
            auth_token: None,
        }
    }
}
