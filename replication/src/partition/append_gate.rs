//! What the broker decides about, and learns from, a partition's appends: idempotent
//! producers' sequence checks happen where entries take their offsets, in log order, on the
//! leader; every replica sees each batch it stores, to keep the same producer state.

use bytes::Bytes;

/// The leader's decision on a proposed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Write it.
    Accept,
    /// A retry of a batch already written at these offsets: do not write it again.
    Duplicate { base_offset: i64, last_offset: i64 },
    /// Refuse it; the reason goes back to the proposer as the gate encoded it.
    Refuse(Bytes),
}

/// The broker's side of a partition's appends.
pub trait AppendGate: Send + Sync + 'static {
    /// On the leader, before a proposed batch is written (entries are admitted one at a
    /// time, in log order).
    fn admit(&self, batch: &[u8]) -> Admission;
    /// After a data entry is written, on every replica, with its final offsets.
    fn appended(&self, batch: &[u8], base_offset: i64, last_offset: i64);
    /// After the log is cut back so that `offset` is its end (a follower's divergent tail).
    fn truncated(&self, offset: i64);
}

/// A gate that admits everything and keeps no state (tests, internal logs).
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenGate;

impl AppendGate for OpenGate {
    fn admit(&self, _batch: &[u8]) -> Admission {
        Admission::Accept
    }
    fn appended(&self, _batch: &[u8], _base_offset: i64, _last_offset: i64) {}
    fn truncated(&self, _offset: i64) {}
}
