//! An append's result and its acknowledgement: the one thing every protocol awaits before
//! telling its client a write is safe.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use neo_replication::partition::group::Proposed;

use crate::error::BrokerError;
use crate::partition::Partition;

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
    partition: Arc<Partition>,
    outcome: ProduceOutcome,
    /// Resolves true once the append is committed, false if it never will be.
    committed: Shared<BoxFuture<'static, bool>>,
}

impl std::fmt::Debug for Appended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appended")
            .field("partition", &self.partition.index())
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

impl Appended {
    /// An append whose commit `proposed` reports.
    pub(crate) fn committed_with(
        partition: Arc<Partition>,
        outcome: ProduceOutcome,
        proposed: Proposed,
    ) -> Appended {
        Appended {
            partition,
            outcome,
            committed: proposed.committed().boxed().shared(),
        }
    }

    /// A retried batch, already in the log: committed once the high watermark passes it.
    pub(crate) fn after_high_watermark(
        partition: Arc<Partition>,
        outcome: ProduceOutcome,
    ) -> Appended {
        let mut watch = partition.watch();
        let end = outcome.last_offset + 1;
        let committed = {
            let partition = Arc::clone(&partition);
            async move {
                loop {
                    watch.mark_unchanged();
                    if partition.high_watermark() >= end {
                        return true;
                    }
                    if watch.changed().await.is_err() {
                        return false;
                    }
                }
            }
        };
        Appended {
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
        Arc::ptr_eq(&self.partition, &other.partition)
    }

    /// Waits until the append is as safe as `acks` asks: with [`Acks::All`], committed (by a
    /// majority of the replicas, each as durable as the topic asks: on a durable topic,
    /// fsynced).
    pub async fn acknowledged(self, acks: Acks) -> Result<ProduceOutcome, BrokerError> {
        if acks == Acks::All && !self.committed.await {
            return Err(BrokerError::NotCommitted {
                topic: self.partition.topic().to_string(),
                partition: self.partition.index(),
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
