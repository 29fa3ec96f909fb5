//! What a channel holds back until its connection has handled every frame it has read (or,
//! in a transaction, until tx.commit): the messages for each queue, appended in one write,
//! and acks, settled in one cursor write per queue. And the confirmer, which sends a
//! channel's publisher confirms in order once the messages they cover are durable.

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{AMQPClass, basic};
use bytes::BytesMut;
use neo_broker::queue_handle::{QueueHandle, Settlement};
use neo_broker::{Acks, Appended, BrokerError, keep_furthest};
use tokio::sync::mpsc;

use crate::frames::encode;
use crate::outgoing::{Outgoing, send};
use crate::publish::Published;

/// Confirm batches waiting for durability; a publisher past this waits.
const CONFIRMS_QUEUED: usize = 1024;

/// Work held back on one channel.
#[derive(Default)]
pub struct Staged {
    /// Messages not appended yet, in publish order.
    appends: Vec<(QueueHandle, BytesMut)>,
    /// Messages appended already (to length-limited queues), waited for with the rest.
    appended: Vec<Appended>,
    /// Confirm sequence numbers, each with whether it is an ack (else a nack).
    confirms: Vec<(u64, bool)>,
    /// Deliveries acknowledged but not yet settled in their queue's cursor.
    acks: Vec<(QueueHandle, i64)>,
    bytes: usize,
}

/// What [`Staged::apply`] did: the offsets written, and the confirms to send once they are
/// durable.
#[derive(Default)]
pub struct Applied {
    pub waits: Vec<Appended>,
    confirms: Vec<(u64, bool)>,
}

impl Staged {
    /// Message bytes held back.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Holds back a routed message, and its confirm (`seq`) in confirm mode.
    pub fn publish(&mut self, published: Published, seq: Option<u64>) {
        self.bytes += published
            .deferred
            .iter()
            .map(|(_, b)| b.len())
            .sum::<usize>();
        self.appends.extend(published.deferred);
        self.appended.extend(published.appended);
        if let Some(seq) = seq {
            self.confirms.push((seq, !published.refused));
        }
    }

    /// Holds back the settling of an acknowledged delivery.
    pub fn ack(&mut self, queue: QueueHandle, offset: i64) {
        self.acks.push((queue, offset));
    }

    /// Appends the messages (one write per run of messages for the same queue) and settles
    /// the acks as `holder`. When an append fails, every confirm of this batch is a nack.
    pub async fn apply(&mut self, holder: u64) -> (Applied, Result<(), BrokerError>) {
        let Staged {
            appends,
            appended,
            confirms,
            acks,
            ..
        } = std::mem::take(self);
        let mut waits = appended;
        let mut result = Ok(());
        let mut run: Option<(QueueHandle, BytesMut)> = None;
        for (queue, batch) in appends {
            match &mut run {
                Some((q, bytes)) if q.same_queue(&queue) => bytes.extend_from_slice(&batch),
                _ => {
                    if let Some((q, bytes)) = run.take()
                        && result.is_ok()
                    {
                        result = append(&q, bytes, &mut waits).await;
                    }
                    run = Some((queue, batch));
                }
            }
        }
        if let Some((q, bytes)) = run
            && result.is_ok()
        {
            result = append(&q, bytes, &mut waits).await;
        }
        for (queue, offsets) in by_queue(acks) {
            if let Err(e) = queue.settle(Settlement::Ack, &offsets, Some(holder)).await {
                result = result.and(Err(e));
            }
        }
        let mut confirms = confirms;
        if result.is_err() {
            confirms.iter_mut().for_each(|(_, ack)| *ack = false);
        }
        (Applied { waits, confirms }, result)
    }
}

async fn append(
    queue: &QueueHandle,
    bytes: BytesMut,
    waits: &mut Vec<Appended>,
) -> Result<(), BrokerError> {
    match queue.enqueue(bytes.freeze()).await {
        Ok(appended) => {
            keep_furthest(waits, appended);
            Ok(())
        }
        // The queue was deleted after the messages were routed to it: they go with it, as
        // they would have had they been appended a moment earlier. (A partition closed by a
        // broker stopping is not that: those messages are nacked.)
        Err(BrokerError::PartitionClosed) if !queue.exists() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Offsets grouped by queue, in first-seen order.
fn by_queue(items: Vec<(QueueHandle, i64)>) -> Vec<(QueueHandle, Vec<i64>)> {
    let mut grouped: Vec<(QueueHandle, Vec<i64>)> = Vec::new();
    for (queue, offset) in items {
        match grouped.iter_mut().find(|(q, _)| q.same_queue(&queue)) {
            Some((_, offsets)) => offsets.push(offset),
            None => grouped.push((queue, vec![offset])),
        }
    }
    grouped
}

/// Sends a channel's publisher confirms, batch after batch in order.
#[derive(Clone)]
pub struct Confirmer(mpsc::Sender<Applied>);

impl Confirmer {
    /// Starts the confirmer of `channel`.
    pub fn spawn(out: Outgoing, channel: u16) -> Confirmer {
        let (tx, mut rx) = mpsc::channel::<Applied>(CONFIRMS_QUEUED);
        tokio::spawn(async move {
            while let Some(batch) = rx.recv().await {
                let durable = wait_committed(batch.waits).await;
                if !send_confirms(&out, channel, &batch.confirms, durable).await {
                    return;
                }
            }
        });
        Confirmer(tx)
    }

    /// Queues the confirms of `applied`, if any; waits while the confirmer is far behind.
    pub async fn send(&self, applied: Applied) {
        if !applied.confirms.is_empty() {
            let _ = self.0.send(applied).await;
        }
    }
}

/// Waits until every append in `waits` is committed (durable); false when one cannot be.
pub async fn wait_committed(waits: Vec<Appended>) -> bool {
    let mut committed = true;
    for appended in waits {
        committed &= appended.acknowledged(Acks::All).await.is_ok();
    }
    committed
}

/// Every earlier confirm went out in an earlier batch, so a batch of acks only is one ack
/// with `multiple` up to its last sequence number.
async fn send_confirms(
    out: &Outgoing,
    channel: u16,
    confirms: &[(u64, bool)],
    durable: bool,
) -> bool {
    let all_acks = durable && confirms.iter().all(|(_, ack)| *ack);
    if all_acks && let Some((last, _)) = confirms.last() {
        let ack = basic::AMQPMethod::Ack(basic::Ack {
            delivery_tag: *last,
            multiple: true,
        });
        return send(out, AMQPFrame::Method(channel, AMQPClass::Basic(ack))).await;
    }
    let mut bytes = Vec::new();
    for &(delivery_tag, ack) in confirms {
        let m = if ack && durable {
            basic::AMQPMethod::Ack(basic::Ack {
                delivery_tag,
                multiple: false,
            })
        } else {
            basic::AMQPMethod::Nack(basic::Nack {
                delivery_tag,
                multiple: false,
                requeue: false,
            })
        };
        bytes.extend_from_slice(&encode(&AMQPFrame::Method(channel, AMQPClass::Basic(m))));
    }
    out.send(bytes).await.is_ok()
}
