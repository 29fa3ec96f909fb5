//! Queues on the log: a partition log read through a queue cursor (Kafka's share groups,
//! KIP-932), the semantics AMQP and SQS queues need: deliver with a lock, settle, requeue,
//! dead-letter, delay, time-to-live and ordered groups. A queue's cursor changes are records
//! of its cursor topic, replicated like any partition and led with the queue.

mod cursor;
mod cursor_event;
mod cursor_store;
mod cursor_topic;
mod queue;
mod retired_holders;

pub use cursor::{
    Acquired, CursorConfig, CursorError, Delivery, QueueCursor, RecordMeta, SESSION_HOLD_MS,
};
pub use cursor_event::{CursorEvent, Lock, SnapshotEntry};
pub use cursor_topic::{cursor_topic_configs, cursor_topic_for, snapshot_offset};
pub use queue::{
    EXPIRES_AT_HEADER, NOT_BEFORE_HEADER, Queue, QueueConfig, QueueCounts, QueuedRecord, Received,
    Settled,
};

#[cfg(test)]
mod tests;
