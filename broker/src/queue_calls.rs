//! Queue operations sent to the broker leading the queue, and how that broker answers them:
//! a front-end on any broker works on any queue (as RabbitMQ's quorum queues are reached from
//! every node). Encoded with postcard, so record bodies travel as bytes.

use std::time::Duration;

use bytes::Bytes;
use neo_record::codec::Header;
use serde::{Deserialize, Serialize};

use crate::appended::{Acks, ProduceOutcome};
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::queues::{CursorError, Queue, QueueConfig, QueueCounts, QueuedRecord, Received};

/// Most bytes of records one receive answers with; the records past it are released, so an
/// answer always fits a cluster frame.
const RECEIVE_ANSWER_BYTES: usize = 16 << 20;

/// One operation on a queue, as [`crate::queue_handle::QueueHandle`] offers them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum QueueOp {
    /// Appends batches; answered once they are committed.
    Enqueue(Bytes),
    Receive(ReceiveRequest),
    Settle {
        how: Settlement,
        offsets: Vec<i64>,
        holder: Option<u64>,
    },
    Read(i64),
    DropOldest(usize),
    Expire(i64),
    ReleaseHolder(u64),
    Purge {
        in_flight: bool,
    },
    Counts,
    Depth,
    WaitingBytes,
    /// Nothing but the caller's incarnation (sent to every broker when a broker starts).
    Hello,
    /// Moves the lock of records `holder` holds to `deadline`.
    SetDeadline {
        offsets: Vec<i64>,
        holder: Option<u64>,
        deadline: i64,
    },
    /// Waits until every cursor change so far is durable.
    Sync,
}

/// A receive: up to `max` records handed to `holder` until `deadline` ([`Queue::receive`],
/// or [`Queue::receive_group_runs`] with `group_runs`); when there are none, it waits up to
/// `wait_ms` for appends and tries once more.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct ReceiveRequest {
    pub now: i64,
    pub max: usize,
    pub deadline: i64,
    pub holder: u64,
    pub group_runs: bool,
    pub wait_ms: u64,
}

/// How held records are settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Settlement {
    /// Acknowledged by their consumer.
    Ack,
    /// Settled without delivery (rejected, not requeued).
    Archive,
    /// Available again (requeued).
    Release,
}

/// A queue operation for the broker leading `topic`'s queue.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct QueueCall {
    pub topic: String,
    pub config: QueueConfig,
    /// The calling broker's incarnation: another one means the holders of the earlier
    /// process are gone.
    pub caller: u64,
    pub op: QueueOp,
}

/// What an operation gave.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum QueueAnswer {
    Appended(WireOutcome),
    Received {
        delivered: Vec<WireRecord>,
        expired: Vec<WireRecord>,
        dead: Vec<WireRecord>,
    },
    Settled(Vec<Result<(), CursorError>>),
    Record(Option<WireRecord>),
    Records(Vec<WireRecord>),
    Count(u64),
    Counts(QueueCounts),
    Done,
    Failed(WireError),
}

/// [`ProduceOutcome`] on the wire.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct WireOutcome {
    base_offset: i64,
    last_offset: i64,
    log_append_time: i64,
    log_start_offset: i64,
}

impl From<ProduceOutcome> for WireOutcome {
    fn from(o: ProduceOutcome) -> Self {
        WireOutcome {
            base_offset: o.base_offset,
            last_offset: o.last_offset,
            log_append_time: o.log_append_time,
            log_start_offset: o.log_start_offset,
        }
    }
}

impl From<WireOutcome> for ProduceOutcome {
    fn from(o: WireOutcome) -> Self {
        ProduceOutcome {
            base_offset: o.base_offset,
            last_offset: o.last_offset,
            log_append_time: o.log_append_time,
            log_start_offset: o.log_start_offset,
        }
    }
}

/// [`QueuedRecord`] on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WireRecord {
    offset: i64,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(String, Option<Bytes>)>,
    deliveries: u32,
}

impl WireRecord {
    fn size(&self) -> usize {
        let len = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
        len(&self.key)
            + len(&self.value)
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + len(v))
                .sum::<usize>()
    }
}

impl From<QueuedRecord> for WireRecord {
    fn from(r: QueuedRecord) -> Self {
        WireRecord {
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key,
            value: r.value,
            headers: r.headers.into_iter().map(|h| (h.key, h.value)).collect(),
            deliveries: r.deliveries,
        }
    }
}

impl From<WireRecord> for QueuedRecord {
    fn from(r: WireRecord) -> Self {
        QueuedRecord {
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key,
            value: r.value,
            headers: r
                .headers
                .into_iter()
                .map(|(key, value)| Header { key, value })
                .collect(),
            deliveries: r.deliveries,
        }
    }
}

pub(crate) fn records(list: Vec<WireRecord>) -> Vec<QueuedRecord> {
    list.into_iter().map(QueuedRecord::from).collect()
}

fn wire(list: Vec<QueuedRecord>) -> Vec<WireRecord> {
    list.into_iter().map(WireRecord::from).collect()
}

/// Why an operation failed, as far as the caller acts on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum WireError {
    /// Another broker leads the queue now (or none does).
    NotLeader {
        leader: Option<u64>,
    },
    /// The queue is gone (its topic was deleted).
    Gone,
    Other(String),
}

impl WireError {
    fn of(e: BrokerError) -> WireError {
        match e {
            BrokerError::NotLeader { leader, .. } => WireError::NotLeader { leader },
            BrokerError::PartitionClosed | BrokerError::UnknownTopicOrPartition { .. } => {
                WireError::Gone
            }
            e => WireError::Other(e.to_string()),
        }
    }

    pub(crate) fn into_error(self, topic: &str) -> BrokerError {
        match self {
            WireError::NotLeader { leader } => BrokerError::NotLeader {
                partition: format!("{topic}-0"),
                leader,
            },
            WireError::Gone => BrokerError::PartitionClosed,
            WireError::Other(text) => BrokerError::Cluster(text),
        }
    }
}

impl Broker {
    /// Answers a queue operation broker `from` sent: run on the queue this broker leads.
    pub(crate) async fn answer_queue_call(&self, from: u64, call: &[u8]) -> Bytes {
        let answer = match postcard::from_bytes::<QueueCall>(call) {
            Ok(call) => self.run_queue_call(from, call).await,
            Err(e) => QueueAnswer::Failed(WireError::Other(format!("undecodable queue call: {e}"))),
        };
        encode_answer(&answer)
    }

    async fn run_queue_call(&self, from: u64, call: QueueCall) -> QueueAnswer {
        let stale = self.remote_holders().lock().note_caller(from, call.caller);
        self.release_holders(stale).await;
        if matches!(call.op, QueueOp::Hello) {
            return QueueAnswer::Done;
        }
        let queue = match self.queue(&call.topic, call.config).await {
            Ok(queue) => queue,
            Err(e) => return QueueAnswer::Failed(WireError::of(e)),
        };
        match &call.op {
            QueueOp::Receive(receive) => {
                self.remote_holders()
                    .lock()
                    .hold(from, &call.topic, receive.holder)
            }
            QueueOp::ReleaseHolder(holder) => {
                self.remote_holders()
                    .lock()
                    .forget(from, &call.topic, *holder)
            }
            _ => {}
        }
        let answer = match call.op {
            QueueOp::Enqueue(records) => match queue.enqueue(records).await {
                Ok(appended) => appended
                    .acknowledged(Acks::All)
                    .await
                    .map(|outcome| QueueAnswer::Appended(outcome.into())),
                Err(e) => Err(e),
            },
            op => run_op(&queue, op).await,
        };
        answer.unwrap_or_else(|e| QueueAnswer::Failed(WireError::of(e)))
    }

    /// Releases what holders of gone brokers hold.
    pub(crate) async fn release_holders(&self, holders: Vec<(String, u64)>) {
        for (topic, holder) in holders {
            let Some(queue) = self.queues().lock().get(&topic).cloned() else {
                continue;
            };
            tracing::debug!(
                topic,
                holder,
                "releasing the holds of a gone broker's consumer"
            );
            if let Err(e) = queue.release_consumer(holder) {
                tracing::warn!(topic, error = %e, "cannot release a gone broker's holds");
            }
        }
    }

    /// Releases the holds of brokers not heard from for a while (checked by maintenance).
    pub(crate) async fn release_gone_holders(&self) {
        let recent = self.config().cluster.election_timeout * 2;
        let gone = self
            .remote_holders()
            .lock()
            .take_gone(|id| !self.cluster().heard_within(id, recent));
        self.release_holders(gone).await;
    }
}

/// Runs `op` (anything but an enqueue) on `queue`, led here.
pub(crate) async fn run_op(queue: &Queue, op: QueueOp) -> Result<QueueAnswer, BrokerError> {
    Ok(match op {
        QueueOp::Enqueue(_) => {
            return Err(BrokerError::Cluster("enqueue is answered apart".into()));
        }
        QueueOp::Receive(receive) => {
            let got = receive_waiting(queue, &receive).await?;
            // Handed out (or dead-lettered) only once committed; a receive that found
            // nothing has nothing to wait for.
            if !(got.delivered.is_empty() && got.expired.is_empty() && got.dead.is_empty()) {
                queue.committed().await?;
            }
            received_answer(queue, got, receive.holder)?
        }
        QueueOp::Settle {
            how,
            offsets,
            holder,
        } => QueueAnswer::Settled(match how {
            Settlement::Ack => queue.ack(&offsets, holder)?,
            Settlement::Archive => queue.archive(&offsets, holder)?,
            Settlement::Release => queue.release(&offsets, holder)?,
        }),
        QueueOp::Read(offset) => QueueAnswer::Record(queue.read(offset)?.map(WireRecord::from)),
        QueueOp::DropOldest(count) => QueueAnswer::Records(wire(queue.drop_oldest(count)?)),
        QueueOp::Expire(now) => QueueAnswer::Records(wire(queue.expire(now)?)),
        QueueOp::ReleaseHolder(holder) => {
            queue.retire_consumer(holder)?;
            QueueAnswer::Done
        }
        QueueOp::Purge { in_flight } => QueueAnswer::Count(queue.purge(in_flight)?),
        QueueOp::Counts => QueueAnswer::Counts(queue.counts()),
        QueueOp::Depth => QueueAnswer::Count(queue.depth()),
        QueueOp::WaitingBytes => QueueAnswer::Count(queue.waiting_bytes()?),
        QueueOp::Hello => QueueAnswer::Done,
        QueueOp::SetDeadline {
            offsets,
            holder,
            deadline,
        } => QueueAnswer::Settled(queue.set_deadline(&offsets, holder, deadline)?),
        QueueOp::Sync => {
            queue.sync().await?;
            QueueAnswer::Done
        }
    })
}

/// Runs `request` on `queue`: a receive; when it finds nothing, one more after the next
/// append or its wait.
async fn receive_waiting(queue: &Queue, request: &ReceiveRequest) -> Result<Received, BrokerError> {
    let ReceiveRequest {
        now,
        max,
        deadline,
        holder,
        group_runs,
        wait_ms,
    } = *request;
    let receive = |now: i64| {
        if group_runs {
            queue.receive_group_runs(now, max, deadline, holder)
        } else {
            queue.receive(now, max, deadline, holder)
        }
    };
    let mut appended = queue.partition().watch();
    appended.mark_unchanged();
    let got = receive(now)?;
    if wait_ms == 0 || !got.delivered.is_empty() || !got.expired.is_empty() || !got.dead.is_empty()
    {
        return Ok(got);
    }
    let waited = Duration::from_millis(wait_ms);
    if tokio::time::timeout(waited, appended.changed())
        .await
        .is_err()
    {
        return Ok(got);
    }
    let later = now.saturating_add(i64::try_from(waited.as_millis()).unwrap_or(0));
    receive(neo_record::now_ms().min(later))
}

/// The answer to a receive, cut to [`RECEIVE_ANSWER_BYTES`]: what does not fit is released.
fn received_answer(queue: &Queue, got: Received, holder: u64) -> Result<QueueAnswer, BrokerError> {
    let mut delivered = Vec::with_capacity(got.delivered.len());
    let mut over = Vec::new();
    let mut bytes = 0;
    for record in wire(got.delivered) {
        bytes += record.size();
        if bytes > RECEIVE_ANSWER_BYTES && !delivered.is_empty() {
            over.push(record.offset);
        } else {
            delivered.push(record);
        }
    }
    if !over.is_empty() {
        queue.release(&over, Some(holder))?;
    }
    Ok(QueueAnswer::Received {
        delivered,
        expired: wire(got.expired),
        dead: wire(got.dead),
    })
}

pub(crate) fn encode_answer(answer: &QueueAnswer) -> Bytes {
    postcard::to_stdvec(answer)
        .map(Bytes::from)
        .unwrap_or_else(|e| {
            let failed = QueueAnswer::Failed(WireError::Other(format!("unencodable answer: {e}")));
            Bytes::from(postcard::to_stdvec(&failed).unwrap_or_default())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_cross_the_wire_unchanged() {
        let record = QueuedRecord {
            offset: 5,
            timestamp: 6,
            key: Some(Bytes::from_static(b"k")),
            value: None,
            headers: vec![Header {
                key: "h".into(),
                value: Some(Bytes::from_static(b"v")),
            }],
            deliveries: 2,
        };
        let answer = QueueAnswer::Records(wire(vec![record.clone()]));
        let decoded: QueueAnswer = postcard::from_bytes(&encode_answer(&answer)).unwrap();
        let QueueAnswer::Records(list) = decoded else {
            panic!("not records: {decoded:?}");
        };
        assert_eq!(records(list), vec![record]);
    }
}
