//! One AMQP channel: its state, frame dispatch, what it holds back, its consumers and
//! unacknowledged deliveries; each method class is handled in a file of its own. A soft error
//! closes only the channel (channel.close with the reply code); a hard one is returned for the
//! connection to close.

mod access;
mod basic_class;
mod content;
mod exchange_class;
mod queue_class;
mod tx_class;

use std::collections::HashMap;
use std::sync::Arc;

use amq_protocol::frame::{AMQPContentHeader, AMQPFrame};
use amq_protocol::protocol::{AMQPClass, basic, channel, confirm};
use neo_broker::acls::Caller;
use neo_broker::queue_handle::QueueHandle;
use neo_broker::{Appended, keep_furthest};

use crate::consumer::Deliveries;
use crate::gateway::Gateway;
use crate::outgoing::{Outgoing, send};
use crate::reply;
use crate::staged::{Confirmer, Staged, wait_committed};
use crate::topology::QueueInfo;

/// An error that closes the connection.
#[derive(Debug)]
pub struct ConnectionError {
    pub code: u16,
    pub text: String,
    pub class_id: u16,
    pub method_id: u16,
}

/// An error that closes the channel.
struct ChannelError {
    code: u16,
    text: String,
}

fn soft(code: u16, text: impl Into<String>) -> ChannelError {
    ChannelError {
        code,
        text: text.into(),
    }
}

/// A queue operation that failed in the broker: the channel closes with INTERNAL_ERROR.
fn internal(e: neo_broker::BrokerError) -> ChannelError {
    soft(reply::INTERNAL_ERROR, format!("INTERNAL_ERROR - {e}"))
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Open,
    /// channel.close sent, waiting for close-ok.
    Closing,
    Closed,
}

/// Message bytes a channel holds back before appending them anyway.
const STAGED_BYTES: usize = 1 << 20;
/// Most message bytes one transaction may publish.
const TX_BYTES: usize = 64 << 20;

/// A basic.publish waiting for its content.
struct Pending {
    publish: basic::Publish,
    header: Option<AMQPContentHeader>,
    body: Vec<u8>,
}

/// What a transaction holds until tx.commit.
#[derive(Default)]
struct Transaction {
    publishes: Vec<(basic::Publish, AMQPContentHeader, Vec<u8>)>,
    settles: Vec<(u64, bool, Settle)>,
    bytes: usize,
}

pub struct Channel {
    id: u16,
    connection_id: u64,
    /// The connection's user, for ACLs.
    caller: Arc<Caller>,
    gateway: Arc<Gateway>,
    out: Outgoing,
    state: State,
    /// Confirm mode: the task sending this channel's confirms.
    confirmer: Option<Confirmer>,
    published: u64,
    pending: Option<Pending>,
    staged: Staged,
    /// The last offset this channel appended to each queue, while it may not be durable (and
    /// so not yet visible to readers of the queue).
    unsynced: Vec<Appended>,
    /// Transaction mode: the publishes and settles of the open transaction.
    tx: Option<Transaction>,
    deliveries: Arc<Deliveries>,
    consumers: HashMap<String, ConsumerHandle>,
}

/// A running consumer of this channel.
struct ConsumerHandle {
    id: u64,
    queue: String,
    task: tokio::task::JoinHandle<()>,
}

fn method(channel: u16, m: AMQPClass) -> AMQPFrame {
    AMQPFrame::Method(channel, m)
}

impl Channel {
    /// Answers channel.open.
    pub async fn open(
        id: u16,
        connection_id: u64,
        caller: Arc<Caller>,
        gateway: Arc<Gateway>,
        out: Outgoing,
    ) -> Channel {
        send(
            &out,
            method(
                id,
                AMQPClass::Channel(channel::AMQPMethod::OpenOk(channel::OpenOk {})),
            ),
        )
        .await;
        let holder = gateway.next_id();
        Channel {
            id,
            connection_id,
            caller,
            gateway,
            out,
            state: State::Open,
            confirmer: None,
            published: 0,
            pending: None,
            staged: Staged::default(),
            unsynced: Vec::new(),
            tx: None,
            deliveries: Arc::new(Deliveries::new(holder)),
            consumers: HashMap::new(),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Stops the consumers and makes every unacknowledged delivery available again.
    pub async fn release_all(&mut self) {
        let consumers: Vec<ConsumerHandle> = self.consumers.drain().map(|(_, c)| c).collect();
        for consumer in consumers {
            self.stop_consumer(consumer);
        }
        if let Some(held) = self.deliveries.take(0, true) {
            let mut queues: Vec<QueueHandle> = held.into_iter().map(|(q, _)| q).collect();
            queues.sort_by(|a, b| a.topic().cmp(b.topic()));
            queues.dedup_by(|a, b| a.same_queue(b));
            for q in queues {
                if let Err(e) = q.release_holder(self.deliveries.holder).await {
                    tracing::warn!(error = %e, "amqp: cannot release deliveries");
                }
            }
        }
    }

    fn stop_consumer(&self, consumer: ConsumerHandle) {
        consumer.task.abort();
        self.deliveries.forget_consumer(consumer.id);
        self.gateway.consumer_gone(&consumer.queue, consumer.id);
    }

    /// Appends and settles what is held back, outside a transaction; a failure closes the
    /// channel.
    pub async fn flush(&mut self) {
        if self.tx.is_none()
            && self.state == State::Open
            && let Err(e) = self.apply_staged().await
        {
            self.close_with(e, 60, 40).await;
        }
    }

    /// Waits until what this channel appended is durable, so that a method after it sees
    /// those messages in their queues (a basic.get after basic.publish gets them, as from
    /// RabbitMQ). A failed write shows in the confirms; the method goes on regardless.
    pub async fn sync_published(&mut self) {
        if !self.unsynced.is_empty() {
            wait_committed(std::mem::take(&mut self.unsynced)).await;
        }
    }

    async fn apply_staged(&mut self) -> Result<(), ChannelError> {
        let (applied, result) = self.staged.apply(self.deliveries.holder).await;
        for appended in &applied.waits {
            keep_furthest(&mut self.unsynced, appended.clone());
        }
        if let Some(confirmer) = &self.confirmer {
            confirmer.send(applied).await;
        }
        result.map_err(|e| soft(reply::INTERNAL_ERROR, format!("INTERNAL_ERROR - {e}")))
    }

    /// Whether `frame` is one whose work a channel may hold back (publish, ack, content);
    /// before any other, what the connection's channels hold back is applied and made
    /// durable, so the method sees every earlier publish and ack of the connection.
    pub fn holds_back(frame: &AMQPFrame) -> bool {
        match frame {
            AMQPFrame::Method(_, m) => matches!(
                m,
                AMQPClass::Basic(basic::AMQPMethod::Publish(_) | basic::AMQPMethod::Ack(_))
            ),
            AMQPFrame::Header(..) | AMQPFrame::Body(..) | AMQPFrame::Heartbeat => true,
            _ => false,
        }
    }

    /// Handles one frame for this channel.
    pub async fn handle(&mut self, frame: AMQPFrame) -> Result<(), ConnectionError> {
        if self.state == State::Closing {
            if let AMQPFrame::Method(_, AMQPClass::Channel(m)) = frame {
                match m {
                    channel::AMQPMethod::CloseOk(_) => self.state = State::Closed,
                    channel::AMQPMethod::Close(_) => {
                        self.send(AMQPClass::Channel(channel::AMQPMethod::CloseOk(
                            channel::CloseOk {},
                        )))
                        .await;
                        self.state = State::Closed;
                    }
                    _ => {}
                }
            }
            return Ok(());
        }
        let (class_id, method_id) = match &frame {
            AMQPFrame::Method(_, m) => (m.get_amqp_class_id(), m.get_amqp_method_id()),
            _ => (0, 0),
        };
        let result = match frame {
            AMQPFrame::Method(_, m) => {
                if self.pending.is_some() {
                    return Err(ConnectionError {
                        code: reply::UNEXPECTED_FRAME,
                        text: "UNEXPECTED_FRAME - method before the content of basic.publish ended"
                            .into(),
                        class_id,
                        method_id,
                    });
                }
                self.method(m, class_id, method_id).await?
            }
            AMQPFrame::Header(_, header) => self.content_header(header).await?,
            AMQPFrame::Body(_, body) => self.content_body(body).await?,
            _ => Ok(()),
        };
        if let Err(e) = result {
            self.close_with(e, class_id, method_id).await;
        }
        Ok(())
    }

    async fn send(&self, m: AMQPClass) -> bool {
        send(&self.out, method(self.id, m)).await
    }

    async fn close_with(&mut self, e: ChannelError, class_id: u16, method_id: u16) {
        // What was published and acknowledged before the error stands.
        self.tx = None;
        if let Err(e) = self.apply_staged().await {
            tracing::warn!(
                error = e.text,
                "amqp: publishes before a channel error failed"
            );
        }
        self.release_all().await;
        self.pending = None;
        let close = channel::Close {
            reply_code: e.code,
            reply_text: e.text.as_str().into(),
            class_id,
            method_id,
        };
        self.send(AMQPClass::Channel(channel::AMQPMethod::Close(close)))
            .await;
        self.state = State::Closing;
    }

    /// The queue named `name`, if it exists and this connection may use it.
    fn usable_queue(&self, name: &str) -> Result<QueueInfo, ChannelError> {
        let info = self.gateway.topology.queue(name).ok_or_else(|| {
            soft(
                reply::NOT_FOUND,
                format!("NOT_FOUND - no queue '{name}' in vhost '/'"),
            )
        })?;
        if info.owner.is_some_and(|o| o != self.connection_id) {
            return Err(soft(
                reply::RESOURCE_LOCKED,
                format!(
                    "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{name}'"
                ),
            ));
        }
        Ok(info)
    }

    async fn method(
        &mut self,
        m: AMQPClass,
        class_id: u16,
        method_id: u16,
    ) -> Result<Result<(), ChannelError>, ConnectionError> {
        let not_implemented = || ConnectionError {
            code: reply::NOT_IMPLEMENTED,
            text: "NOT_IMPLEMENTED - this method is not supported".into(),
            class_id,
            method_id,
        };
        Ok(match m {
            AMQPClass::Channel(m) => match m {
                channel::AMQPMethod::Close(_) => {
                    self.release_all().await;
                    self.send(AMQPClass::Channel(channel::AMQPMethod::CloseOk(
                        channel::CloseOk {},
                    )))
                    .await;
                    self.state = State::Closed;
                    Ok(())
                }
                channel::AMQPMethod::CloseOk(_) => Ok(()),
                channel::AMQPMethod::Flow(flow) => {
                    if !flow.active {
                        // As RabbitMQ: a client cannot pause deliveries this way (prefetch does).
                        return Err(ConnectionError {
                            code: reply::NOT_IMPLEMENTED,
                            text: "NOT_IMPLEMENTED - active=false".into(),
                            class_id,
                            method_id,
                        });
                    }
                    self.send(AMQPClass::Channel(channel::AMQPMethod::FlowOk(
                        channel::FlowOk {
                            active: flow.active,
                        },
                    )))
                    .await;
                    Ok(())
                }
                channel::AMQPMethod::Open(_) => {
                    return Err(ConnectionError {
                        code: reply::CHANNEL_ERROR,
                        text: "CHANNEL_ERROR - channel already open".into(),
                        class_id,
                        method_id,
                    });
                }
                _ => return Err(not_implemented()),
            },
            AMQPClass::Confirm(confirm::AMQPMethod::Select(select)) => {
                if self.tx.is_some() {
                    return Ok(Err(soft(
                        reply::PRECONDITION_FAILED,
                        "PRECONDITION_FAILED - cannot switch from tx to confirm mode",
                    )));
                }
                if self.confirmer.is_none() {
                    self.confirmer = Some(Confirmer::spawn(self.out.clone(), self.id));
                }
                if !select.nowait {
                    self.send(AMQPClass::Confirm(confirm::AMQPMethod::SelectOk(
                        confirm::SelectOk {},
                    )))
                    .await;
                }
                Ok(())
            }
            AMQPClass::Exchange(m) => self.exchange_method(m).await,
            AMQPClass::Queue(m) => self.queue_method(m).await,
            AMQPClass::Basic(m) => self.basic_method(m, class_id, method_id).await?,
            AMQPClass::Tx(m) => self.tx_method(m).await,
            _ => return Err(not_implemented()),
        })
    }
}

/// What becomes of settled deliveries.
#[derive(Debug, Clone, Copy)]
enum Settle {
    Ack,
    Requeue,
    Drop,
}
