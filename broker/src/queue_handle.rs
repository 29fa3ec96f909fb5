//! A queue as a front-end on any broker uses it: each operation runs on the queue when this
//! broker leads it, and is sent to the broker that does otherwise (see `queue_calls.rs`). A
//! failover moves the operations with the leadership; the holds of the old leader do not
//! survive it, so what was held is delivered again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

use crate::appended::Appended;
use crate::broker::Broker;
use crate::error::BrokerError;
pub use crate::queue_calls::Settlement;
use crate::queue_calls::{QueueAnswer, QueueCall, QueueOp, ReceiveRequest, records, run_op};
use crate::queues::{CursorError, Queue, QueueConfig, QueueCounts, QueuedRecord, Received};

/// First byte of a queue call on the cluster RPC (see `broker_calls.rs`).
pub(crate) const QUEUE_CALL: u8 = 1;

/// Longest a queue call may take: a receive's wait, a commit, and some.
const CALL_WAIT: Duration = Duration::from_secs(15);
/// How long an operation waits for the queue to have a leader (an election).
const LEADER_WAIT: Duration = Duration::from_secs(5);
/// How long a starting broker keeps telling the others its incarnation.
const ANNOUNCE_FOR: Duration = Duration::from_secs(60);
/// How long each try waits for an answer, and between rounds.
const ANNOUNCE_WAIT: Duration = Duration::from_secs(1);
/// How many times an operation is sent while the leadership moves under it.
const TRIES: u32 = 3;
/// How often it looks meanwhile.
const LEADER_RECHECK: Duration = Duration::from_millis(50);

/// A queue over partition 0 of a topic, wherever it is led.
#[derive(Clone)]
pub struct QueueHandle {
    broker: Arc<Broker>,
    topic: Arc<str>,
    config: QueueConfig,
}

impl std::fmt::Debug for QueueHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueHandle")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

/// Where an operation runs.
enum Served {
    Here(Arc<Queue>),
    By(u64),
}

impl Broker {
    /// The queue over partition 0 of `topic`, opened with `config` by whichever broker leads
    /// it when an operation needs it.
    pub fn queue_handle(self: &Arc<Self>, topic: &str, config: QueueConfig) -> QueueHandle {
        QueueHandle {
            broker: Arc::clone(self),
            topic: topic.into(),
            config,
        }
    }
}

impl QueueHandle {
    /// The queue's topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Whether this broker leads the queue.
    pub fn is_led_here(&self) -> bool {
        self.broker
            .partition(&self.topic, 0)
            .is_ok_and(|p| p.replica().leadership().0 == Some(self.broker.config().node_id))
    }

    /// Whether the queue's topic still exists.
    pub fn exists(&self) -> bool {
        self.broker.topic(&self.topic).is_some()
    }

    /// Whether `other` is a handle on the same queue.
    pub fn same_queue(&self, other: &QueueHandle) -> bool {
        self.topic == other.topic
    }

    /// Appends batches of records ([`Queue::enqueue`]). Through another broker, the answer
    /// comes once they are committed.
    pub async fn enqueue(&self, records: Bytes) -> Result<Appended, BrokerError> {
        let mut tries = 1;
        loop {
            let result = match self.served().await? {
                Served::Here(queue) => queue.enqueue(records.clone()).await,
                Served::By(leader) => self
                    .call(leader, QueueOp::Enqueue(records.clone()))
                    .await
                    .and_then(|answer| match answer {
                        QueueAnswer::Appended(outcome) => Ok(Appended::new(
                            &self.topic,
                            0,
                            outcome.into(),
                            std::future::ready(true),
                        )),
                        other => Err(unexpected(other)),
                    }),
            };
            if !moved_away(&result, &mut tries) {
                return result;
            }
        }
    }

    /// Hands up to `max` records to `holder`, held until `deadline` ([`Queue::receive`], or
    /// [`Queue::receive_group_runs`] with `group_runs`); when none are there, waits up to
    /// `wait` for appends and tries once more.
    pub async fn receive(
        &self,
        now: i64,
        max: usize,
        deadline: i64,
        holder: u64,
        group_runs: bool,
        wait: Duration,
    ) -> Result<Received, BrokerError> {
        let op = QueueOp::Receive(ReceiveRequest {
            now,
            max,
            deadline,
            holder,
            group_runs,
            wait_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        });
        match self.run(op).await? {
            QueueAnswer::Received {
                delivered,
                expired,
                dead,
            } => Ok(Received {
                delivered: records(delivered),
                expired: records(expired),
                dead: records(dead),
            }),
            other => Err(unexpected(other)),
        }
    }

    /// Settles held records as `how` says, each with its own result.
    pub async fn settle(
        &self,
        how: Settlement,
        offsets: &[i64],
        holder: Option<u64>,
    ) -> Result<Vec<Result<(), CursorError>>, BrokerError> {
        let op = QueueOp::Settle {
            how,
            offsets: offsets.to_vec(),
            holder,
        };
        match self.run(op).await? {
            QueueAnswer::Settled(each) => Ok(each),
            other => Err(unexpected(other)),
        }
    }

    /// Moves the lock of records `holder` holds to `deadline`, each with its own result.
    pub async fn set_deadline(
        &self,
        offsets: &[i64],
        holder: Option<u64>,
        deadline: i64,
    ) -> Result<Vec<Result<(), CursorError>>, BrokerError> {
        let op = QueueOp::SetDeadline {
            offsets: offsets.to_vec(),
            holder,
            deadline,
        };
        match self.run(op).await? {
            QueueAnswer::Settled(each) => Ok(each),
            other => Err(unexpected(other)),
        }
    }

    /// Waits until every change of the queue's cursor so far is durable on its leader.
    pub async fn sync(&self) -> Result<(), BrokerError> {
        match self.run(QueueOp::Sync).await? {
            QueueAnswer::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// The record at `offset`, if the log still has it.
    pub async fn read(&self, offset: i64) -> Result<Option<QueuedRecord>, BrokerError> {
        match self.run(QueueOp::Read(offset)).await? {
            QueueAnswer::Record(record) => Ok(record.map(QueuedRecord::from)),
            other => Err(unexpected(other)),
        }
    }

    /// [`Queue::drop_oldest`].
    pub async fn drop_oldest(&self, count: usize) -> Result<Vec<QueuedRecord>, BrokerError> {
        match self.run(QueueOp::DropOldest(count)).await? {
            QueueAnswer::Records(list) => Ok(records(list)),
            other => Err(unexpected(other)),
        }
    }

    /// [`Queue::expire`].
    pub async fn expire(&self, now: i64) -> Result<Vec<QueuedRecord>, BrokerError> {
        match self.run(QueueOp::Expire(now)).await? {
            QueueAnswer::Records(list) => Ok(records(list)),
            other => Err(unexpected(other)),
        }
    }

    /// Releases everything `holder` holds, for good (its channel or connection is gone):
    /// a receive of its still on its way gets nothing.
    pub async fn release_holder(&self, holder: u64) -> Result<(), BrokerError> {
        match self.run(QueueOp::ReleaseHolder(holder)).await? {
            QueueAnswer::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// [`Queue::purge`].
    pub async fn purge(&self, in_flight: bool) -> Result<u64, BrokerError> {
        self.count(QueueOp::Purge { in_flight }).await
    }

    /// [`Queue::counts`].
    pub async fn counts(&self) -> Result<QueueCounts, BrokerError> {
        match self.run(QueueOp::Counts).await? {
            QueueAnswer::Counts(counts) => Ok(counts),
            other => Err(unexpected(other)),
        }
    }

    /// [`Queue::depth`].
    pub async fn depth(&self) -> Result<u64, BrokerError> {
        self.count(QueueOp::Depth).await
    }

    /// [`Queue::waiting_bytes`].
    pub async fn waiting_bytes(&self) -> Result<u64, BrokerError> {
        self.count(QueueOp::WaitingBytes).await
    }

    async fn count(&self, op: QueueOp) -> Result<u64, BrokerError> {
        match self.run(op).await? {
            QueueAnswer::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    async fn run(&self, op: QueueOp) -> Result<QueueAnswer, BrokerError> {
        let mut tries = 1;
        loop {
            let result = match self.served().await? {
                Served::Here(queue) => run_op(&queue, op.clone()).await,
                Served::By(leader) => self.call(leader, op.clone()).await,
            };
            if !moved_away(&result, &mut tries) {
                return result;
            }
        }
    }

    /// Where the queue is led; during an election, waits up to [`LEADER_WAIT`] for one.
    async fn served(&self) -> Result<Served, BrokerError> {
        let me = self.broker.config().node_id;
        let until = Instant::now() + LEADER_WAIT;
        loop {
            match self.broker.queue(&self.topic, self.config).await {
                Ok(queue) => return Ok(Served::Here(queue)),
                // Another broker leads it, as the cluster's placement says (which leaves out
                // a leader gone silent); none yet during an election: look again.
                Err(BrokerError::NotLeader { .. }) => {
                    let topic = self
                        .broker
                        .topic(&self.topic)
                        .ok_or(BrokerError::PartitionClosed)?;
                    if let Some(leader) = self.broker.placement(&topic, 0).leader
                        && leader != me
                    {
                        return Ok(Served::By(leader));
                    }
                }
                Err(BrokerError::UnknownTopicOrPartition { .. }) => {
                    return Err(BrokerError::PartitionClosed);
                }
                Err(e) => return Err(e),
            }
            if Instant::now() >= until {
                return Err(BrokerError::NotLeader {
                    partition: format!("{}-0", self.topic),
                    leader: None,
                });
            }
            tokio::time::sleep(LEADER_RECHECK).await;
        }
    }

    async fn call(&self, leader: u64, op: QueueOp) -> Result<QueueAnswer, BrokerError> {
        send_call(
            &self.broker,
            leader,
            &self.topic,
            self.config,
            op,
            CALL_WAIT,
        )
        .await
    }
}

impl Broker {
    /// Tells every other broker this process's incarnation, so that what an earlier process
    /// of this broker held on their queues is released even if no other call of this one
    /// reaches them (a broker restarted within a moment is never missed). Each broker is
    /// tried for up to [`ANNOUNCE_FOR`].
    pub(crate) fn announce_incarnation(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let until = Instant::now() + ANNOUNCE_FOR;
            let mut told = std::collections::HashSet::new();
            while Instant::now() < until {
                let Some(broker) = me.upgrade() else {
                    return;
                };
                let me = broker.config().node_id;
                let peers: Vec<u64> = broker
                    .broker_ids()
                    .into_iter()
                    .filter(|id| *id != me && !told.contains(id))
                    .collect();
                for peer in peers {
                    let hello = send_call(
                        &broker,
                        peer,
                        "",
                        QueueConfig::default(),
                        QueueOp::Hello,
                        ANNOUNCE_WAIT,
                    );
                    if hello.await.is_ok() {
                        told.insert(peer);
                    }
                }
                drop(broker);
                tokio::time::sleep(ANNOUNCE_WAIT).await;
            }
        });
    }
}

/// Sends `op` on the queue of `topic` to broker `node`; its answer within `wait`.
async fn send_call(
    broker: &Broker,
    node: u64,
    topic: &str,
    config: QueueConfig,
    op: QueueOp,
    wait: Duration,
) -> Result<QueueAnswer, BrokerError> {
    let call = QueueCall {
        topic: topic.to_string(),
        config,
        caller: broker.incarnation(),
        op,
    };
    let encoded = postcard::to_stdvec(&call)
        .map_err(|e| BrokerError::Cluster(format!("unencodable queue call: {e}")))?;
    let mut payload = BytesMut::with_capacity(1 + encoded.len());
    payload.put_u8(QUEUE_CALL);
    payload.put_slice(&encoded);
    let answer = broker
        .cluster()
        .call_within(node, payload.freeze(), wait)
        .await
        .map_err(|e| BrokerError::Cluster(e.to_string()))?;
    match postcard::from_bytes::<QueueAnswer>(&answer) {
        Ok(QueueAnswer::Failed(e)) => Err(e.into_error(topic)),
        Ok(answer) => Ok(answer),
        Err(e) => Err(BrokerError::Cluster(format!(
            "undecodable answer from broker {node}: {e}"
        ))),
    }
}

/// Whether an operation is to be sent again: the leadership moved before it ran (it was
/// answered NotLeader), at most [`TRIES`] times in all.
fn moved_away<T>(result: &Result<T, BrokerError>, tries: &mut u32) -> bool {
    let again = matches!(result, Err(BrokerError::NotLeader { .. })) && *tries < TRIES;
    *tries += 1;
    again
}

fn unexpected(answer: QueueAnswer) -> BrokerError {
    BrokerError::Cluster(format!("unexpected queue answer: {answer:?}"))
}
