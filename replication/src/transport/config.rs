//! The cluster transport's settings, with their defaults in one place.

use std::net::IpAddr;
use std::time::Duration;

use super::error::TransportError;

/// How the cluster transport connects, frames, batches and bounds its traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// The cluster's id: a connection whose hello names another one is refused.
    pub cluster_id: String,
    /// The local address outgoing connections bind (the broker's own cluster address), or
    /// `None` for the system's choice.
    pub local_address: Option<IpAddr>,
    /// The largest frame (correlation id and body) sent or accepted; a larger one announced by a
    /// peer closes its connection before anything is allocated. Must hold the largest Raft entry
    /// plus its framing: an AppendEntries that does not fit is cut to the entries that do.
    pub max_frame_bytes: usize,
    /// How long connecting to a peer, and its hello, may take.
    pub connect_timeout: Duration,
    /// The first wait before reconnecting to an unreachable peer, doubled at each failure.
    pub reconnect_backoff_min: Duration,
    /// The longest wait before reconnecting.
    pub reconnect_backoff_max: Duration,
    /// Requests in flight at once on one connection, each way; more wait for a slot.
    pub max_in_flight: usize,
    /// How often the leaders of this node's groups send heartbeats. The groups' openraft
    /// `heartbeat_interval` should be the same: openraft waits that long for an answer.
    pub heartbeat_interval: Duration,
    /// How long a quiet group's follower waits for a silent leader (its broker, or the group
    /// past its keepalive) before it stands for election: the groups' election timeout.
    pub election_timeout: Duration,
    /// How often an idle quiet group's leader sends a heartbeat anyway.
    pub keepalive: Duration,
    /// Heartbeats going to one peer leave together once none came for this long (or a quarter
    /// of `heartbeat_interval` after the first, whichever is sooner).
    pub heartbeat_window: Duration,
    /// The size of a snapshot file chunk.
    pub snapshot_chunk_bytes: usize,
    /// Snapshot transfers received at once on one connection.
    pub max_snapshot_transfers: usize,
}

/// A heartbeat batch leaves at the latest this fraction of `heartbeat_interval` after its
/// first heartbeat.
pub(crate) const LONGEST_BATCH_WAIT_DIVISOR: u32 = 4;

/// The smallest `max_frame_bytes`: room for a hello, votes and a few heartbeats.
const MIN_FRAME_BYTES: usize = 4 << 10;

/// Framing bytes around a snapshot chunk's data (correlation id, message tag, transfer, file
/// index, offset, length), with room to spare.
const CHUNK_OVERHEAD_BYTES: usize = 64;

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            cluster_id: "neo".to_owned(),
            local_address: None,
            max_frame_bytes: 64 << 20,
            connect_timeout: Duration::from_secs(1),
            reconnect_backoff_min: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            max_in_flight: 1024,
            heartbeat_interval: Duration::from_millis(150),
            election_timeout: Duration::from_millis(1_000),
            keepalive: Duration::from_millis(3_000),
            heartbeat_window: Duration::from_millis(5),
            snapshot_chunk_bytes: 1 << 20,
            max_snapshot_transfers: 4,
        }
    }
}

impl TransportConfig {
    /// Checks the settings agree with each other.
    pub fn validate(&self) -> Result<(), TransportError> {
        let invalid = |reason: String| Err(TransportError::InvalidConfig(reason));
        if self.max_in_flight == 0 || self.max_snapshot_transfers == 0 {
            return invalid("max_in_flight and max_snapshot_transfers must be at least 1".into());
        }
        if self.max_frame_bytes < MIN_FRAME_BYTES {
            return invalid(format!(
                "max_frame_bytes ({}) must be at least {MIN_FRAME_BYTES}",
                self.max_frame_bytes
            ));
        }
        if self.snapshot_chunk_bytes == 0
            || self.snapshot_chunk_bytes + CHUNK_OVERHEAD_BYTES > self.max_frame_bytes
        {
            return invalid(format!(
                "snapshot_chunk_bytes ({}) must be above 0 and fit a frame of max_frame_bytes ({}) \
                 with {CHUNK_OVERHEAD_BYTES} bytes of framing",
                self.snapshot_chunk_bytes, self.max_frame_bytes
            ));
        }
        if self.heartbeat_window.is_zero()
            || self.heartbeat_window >= self.heartbeat_interval / LONGEST_BATCH_WAIT_DIVISOR
        {
            return invalid(format!(
                "heartbeat_window ({:?}) must be above 0 and under a quarter of heartbeat_interval ({:?})",
                self.heartbeat_window, self.heartbeat_interval
            ));
        }
        if self.reconnect_backoff_min.is_zero()
            || self.reconnect_backoff_min > self.reconnect_backoff_max
        {
            return invalid(format!(
                "reconnect_backoff_min ({:?}) must be above 0 and at most reconnect_backoff_max ({:?})",
                self.reconnect_backoff_min, self.reconnect_backoff_max
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        TransportConfig::default().validate().unwrap();
    }

    type Change = fn(&mut TransportConfig);

    #[test]
    fn settings_that_disagree_are_refused() {
        let cases: [(&str, Change); 5] = [
            ("frames too small for a heartbeat batch", |c| {
                c.max_frame_bytes = 1000;
                c.snapshot_chunk_bytes = 100;
            }),
            ("chunk larger than a frame", |c| {
                c.snapshot_chunk_bytes = c.max_frame_bytes
            }),
            ("window not under a quarter of the interval", |c| {
                c.heartbeat_window = c.heartbeat_interval / 4
            }),
            ("no request in flight", |c| c.max_in_flight = 0),
            ("backoff bounds crossed", |c| {
                c.reconnect_backoff_min = c.reconnect_backoff_max * 2
            }),
        ];
        for (name, change) in cases {
            let mut config = TransportConfig::default();
            change(&mut config);
            assert!(config.validate().is_err(), "{name}");
        }
    }
}
