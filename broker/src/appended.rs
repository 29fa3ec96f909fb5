//! An append's result and its acknowledgement: the one thing every protocol awaits before
//! telling its client a write is safe.

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

use crate::error::BrokerError;

/// How much an acknowledgement promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// No acknowledgement is sent (Kafka `acks=0`); the append still happens.
    None,
    /// The leader has the bytes (Kafka `acks=1`).
    Leader,
    /// Committed as the topic's durability promises: on a durable topic, fsynced before
    /// acknowledging (Kafka `acks=all`, AMQP publisher confirms, SQS SendMessage).
    All,
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceOutcome {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// The broker's timestamp when the topic uses LogAppendTime, else -1.
    pub log_append_time: i64,
    /// The partition's log start offset.
    pub log_start_offset: i64,
}

/// Records appended but not yet acknowledged: [`Appended::acknowledged`] waits for what the
/// acknowledgement level promises. Splitting the two lets a front-end append requests in the
/// order they arrived and wait for their commits concurrently.
#[derive(Clone)]
pub struct Appended {
    topic: String,
    partition: i32,
    outcome: ProduceOutcome,
    /// Resolves true once the append is committed, false if it never will be.
    committed: Shared<BoxFuture<'static, bool>>,
}

impl std::fmt::Debug for Appended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appended")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

impl Appended {
    /// An append to `topic`-`partition`; `committed` resolves true once it is committed,
    /// false if it never will be.
    pub(crate) fn new(
        topic: &str,
        partition: i32,
        outcome: ProduceOutcome,
        committed: impl Future<Output = bool> + Send + 'static,
    ) -> Appended {
        Appended {
            topic: topic.to_string(),
            partition,
            outcome,
            committed: committed.boxed().shared(),
        }
    }

    /// Where the records landed (offsets are final; durability depends on `acks`).
    pub fn outcome(&self) -> ProduceOutcome {
        self.outcome
    }

    /// Whether `other` appended to the same partition as this.
    pub fn same_partition(&self, other: &Appended) -> bool {
        self.partition == other.partition && self.topic == other.topic
    }

    /// Waits until the append is as safe as `acks` asks: with [`Acks::All`], committed (by a
    /// majority of the replicas, each as durable as the topic asks: on a durable topic,
    /// fsynced).
    pub async fn acknowledged(self, acks: Acks) -> Result<ProduceOutcome, BrokerError> {
        if acks == Acks::All && !self.committed.await {
            return Err(BrokerError::NotCommitted {
                topic: self.topic,
                partition: self.partition,
            });
        }
        Ok(self.outcome)
    }
}

/// Adds `appended` to `list`, which keeps only the furthest append of each partition (waiting
/// for it covers the earlier ones).
pub fn keep_furthest(list: &mut Vec<Appended>, appended: Appended) {
    match list.iter_mut().find(|a| a.same_partition(&appended)) {
        Some(known) if known.outcome.last_offset < appended.outcome.last_offset => {
            *known = appended
        }
        Some(_) => {}
        None => list.push(appended),
    }
}
