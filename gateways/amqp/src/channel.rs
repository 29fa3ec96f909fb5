//! One AMQP channel: its methods, content assembly for basic.publish, its consumers and
//! unacknowledged deliveries. A soft error closes only the channel (channel.close with the
//! reply code); a hard one is returned for the connection to close.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use amq_protocol::frame::{AMQPContentHeader, AMQPFrame};
use amq_protocol::protocol::{AMQPClass, basic, channel, confirm, exchange, queue, tx};
use amq_protocol::types::AMQPValue;
use neo_broker::queues::Queue;
use neo_storage::now_ms;

use crate::connection::{Outgoing, send};
use crate::consumer::{self, ConsumerSpec, Deliveries, HOLD_MS};
use crate::delivery::{envelope, send_content};
use crate::gateway::Gateway;
use crate::publish::Reason;
use crate::queue_args::QueueArgs;
use crate::reply;
use crate::staged::{Confirmer, Staged, wait_durable};
use crate::topology::{Destination, Exchange, ExchangeKind, QueueInfo, topic_for_queue};

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
    gateway: Arc<Gateway>,
    out: Outgoing,
    state: State,
    /// Confirm mode: the task sending this channel's confirms.
    confirmer: Option<Confirmer>,
    published: u64,
    pending: Option<Pending>,
    staged: Staged,
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
            gateway,
            out,
            state: State::Open,
            confirmer: None,
            published: 0,
            pending: None,
            staged: Staged::default(),
            tx: None,
            deliveries: Arc::new(Deliveries::new(holder)),
            consumers: HashMap::new(),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Stops the consumers and makes every unacknowledged delivery available again.
    pub fn release_all(&mut self) {
        let consumers: Vec<ConsumerHandle> = self.consumers.drain().map(|(_, c)| c).collect();
        for consumer in consumers {
            self.stop_consumer(consumer);
        }
        if let Some(held) = self.deliveries.take(0, true) {
            let mut queues: Vec<Arc<Queue>> = held.into_iter().map(|(q, _)| q).collect();
            queues.dedup_by(|a, b| Arc::ptr_eq(a, b));
            for q in queues {
                if let Err(e) = q.release_consumer(self.deliveries.holder) {
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

    async fn apply_staged(&mut self) -> Result<(), ChannelError> {
        let (applied, result) = self.staged.apply(self.deliveries.holder);
        if let Some(confirmer) = &self.confirmer {
            confirmer.send(applied).await;
        }
        result.map_err(|e| soft(reply::INTERNAL_ERROR, format!("INTERNAL_ERROR - {e}")))
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
                let holds_back = matches!(
                    m,
                    AMQPClass::Basic(basic::AMQPMethod::Publish(_) | basic::AMQPMethod::Ack(_))
                );
                if !holds_back {
                    // Whatever this method does sees every earlier publish and ack.
                    self.flush().await;
                    if self.state != State::Open {
                        return Ok(());
                    }
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
        self.release_all();
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

    async fn content_header(
        &mut self,
        header: AMQPContentHeader,
    ) -> Result<Result<(), ChannelError>, ConnectionError> {
        let Some(pending) = self.pending.as_mut().filter(|p| p.header.is_none()) else {
            return Err(ConnectionError {
                code: reply::UNEXPECTED_FRAME,
                text: "UNEXPECTED_FRAME - content header without basic.publish".into(),
                class_id: 60,
                method_id: 40,
            });
        };
        let done = header.body_size == 0;
        pending.header = Some(header);
        if done {
            return Ok(self.publish().await);
        }
        Ok(Ok(()))
    }

    async fn content_body(
        &mut self,
        body: Vec<u8>,
    ) -> Result<Result<(), ChannelError>, ConnectionError> {
        let unexpected = || ConnectionError {
            code: reply::UNEXPECTED_FRAME,
            text: "UNEXPECTED_FRAME - content body without its header".into(),
            class_id: 60,
            method_id: 40,
        };
        let Some(pending) = self.pending.as_mut() else {
            return Err(unexpected());
        };
        let Some(size) = pending.header.as_ref().map(|h| h.body_size) else {
            return Err(unexpected());
        };
        pending.body.extend_from_slice(&body);
        let have = pending.body.len() as u64;
        if have > size {
            return Err(ConnectionError {
                code: reply::FRAME_ERROR,
                text: "FRAME_ERROR - body longer than its header said".into(),
                class_id: 60,
                method_id: 40,
            });
        }
        if have == size {
            return Ok(self.publish().await);
        }
        Ok(Ok(()))
    }

    /// A complete message: held for tx.commit in a transaction, else routed and staged.
    async fn publish(&mut self) -> Result<(), ChannelError> {
        let Some(Pending {
            publish,
            header: Some(header),
            body,
        }) = self.pending.take()
        else {
            return Ok(());
        };
        if let Some(tx) = &mut self.tx {
            tx.bytes += body.len();
            if tx.bytes > TX_BYTES {
                return Err(soft(
                    reply::PRECONDITION_FAILED,
                    format!(
                        "PRECONDITION_FAILED - a transaction may publish at most {TX_BYTES} bytes"
                    ),
                ));
            }
            tx.publishes.push((publish, header, body));
            return Ok(());
        }
        self.route(publish, header, body).await?;
        if self.staged.bytes() > STAGED_BYTES {
            self.apply_staged().await?;
        }
        Ok(())
    }

    /// Routes a message and stages its appends (and its confirm); returns it to the publisher
    /// when it is mandatory and no queue took it.
    async fn route(
        &mut self,
        publish: basic::Publish,
        header: AMQPContentHeader,
        body: Vec<u8>,
    ) -> Result<(), ChannelError> {
        let exchange = publish.exchange.as_str();
        let routing_key = publish.routing_key.as_str();
        let seq = self.confirmer.is_some().then(|| {
            self.published += 1;
            self.published
        });
        let published = self
            .gateway
            .publish(exchange, routing_key, &header.properties, &body, true)
            .map_err(|e| soft(reply::INTERNAL_ERROR, format!("INTERNAL_ERROR - {e}")))?
            .ok_or_else(|| {
                soft(
                    reply::NOT_FOUND,
                    format!("NOT_FOUND - no exchange '{exchange}'"),
                )
            })?;
        if published.unroutable && publish.mandatory {
            let ret = AMQPClass::Basic(basic::AMQPMethod::Return(basic::Return {
                reply_code: reply::NO_ROUTE,
                reply_text: "NO_ROUTE".into(),
                exchange: publish.exchange.clone(),
                routing_key: publish.routing_key.clone(),
            }));
            send_content(
                &self.out,
                self.id,
                ret,
                header.properties.clone(),
                &body,
                self.gateway.config.frame_max,
            )
            .await;
        }
        self.staged.publish(published, seq);
        Ok(())
    }

    async fn tx_method(&mut self, m: tx::AMQPMethod) -> Result<(), ChannelError> {
        let reply = match m {
            tx::AMQPMethod::Select(_) => {
                if self.confirmer.is_some() {
                    return Err(soft(
                        reply::PRECONDITION_FAILED,
                        "PRECONDITION_FAILED - cannot switch from confirm to tx mode",
                    ));
                }
                self.tx.get_or_insert_with(Transaction::default);
                tx::AMQPMethod::SelectOk(tx::SelectOk {})
            }
            tx::AMQPMethod::Commit(_) => {
                let Some(tx) = self.tx.replace(Transaction::default()) else {
                    return Err(soft(
                        reply::PRECONDITION_FAILED,
                        "PRECONDITION_FAILED - channel is not transactional",
                    ));
                };
                for (publish, header, body) in tx.publishes {
                    self.route(publish, header, body).await?;
                }
                for (tag, multiple, how) in tx.settles {
                    self.settle_now(tag, multiple, how)?;
                }
                let (applied, result) = self.staged.apply(self.deliveries.holder);
                result.map_err(|e| soft(reply::INTERNAL_ERROR, format!("INTERNAL_ERROR - {e}")))?;
                // commit-ok once what the transaction published is durable.
                if !wait_durable(applied.waits).await {
                    return Err(soft(
                        reply::INTERNAL_ERROR,
                        "INTERNAL_ERROR - the transaction could not be made durable",
                    ));
                }
                tx::AMQPMethod::CommitOk(tx::CommitOk {})
            }
            tx::AMQPMethod::Rollback(_) => {
                if self.tx.replace(Transaction::default()).is_none() {
                    return Err(soft(
                        reply::PRECONDITION_FAILED,
                        "PRECONDITION_FAILED - channel is not transactional",
                    ));
                }
                tx::AMQPMethod::RollbackOk(tx::RollbackOk {})
            }
            _ => return Err(soft(reply::COMMAND_INVALID, "COMMAND_INVALID")),
        };
        self.send(AMQPClass::Tx(reply)).await;
        Ok(())
    }

    /// NOT_FOUND for the first of `names` that is not a declared exchange.
    fn existing_exchanges(&self, names: &[&str]) -> Result<(), ChannelError> {
        match names
            .iter()
            .find(|n| self.gateway.topology.exchange(n).is_none())
        {
            Some(name) => Err(soft(
                reply::NOT_FOUND,
                format!("NOT_FOUND - no exchange '{name}' in vhost '/'"),
            )),
            None => Ok(()),
        }
    }

    fn queue_of(&self, info: &QueueInfo) -> Result<Arc<Queue>, ChannelError> {
        self.gateway
            .queue(info)
            .map_err(|e| soft(reply::INTERNAL_ERROR, format!("INTERNAL_ERROR - {e}")))
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
                    self.release_all();
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

    async fn exchange_method(&mut self, m: exchange::AMQPMethod) -> Result<(), ChannelError> {
        match m {
            exchange::AMQPMethod::Declare(d) => {
                let name = d.exchange.as_str();
                let existing = self.gateway.topology.exchange(name);
                if d.passive {
                    if existing.is_none() {
                        return Err(soft(
                            reply::NOT_FOUND,
                            format!("NOT_FOUND - no exchange '{name}' in vhost '/'"),
                        ));
                    }
                } else {
                    let kind = ExchangeKind::parse(d.kind.as_str()).ok_or_else(|| {
                        soft(
                            reply::COMMAND_INVALID,
                            format!("COMMAND_INVALID - unknown exchange type '{}'", d.kind),
                        )
                    })?;
                    match existing {
                        Some(e) if e.kind != kind || e.durable != d.durable => {
                            return Err(soft(
                                reply::PRECONDITION_FAILED,
                                format!(
                                    "PRECONDITION_FAILED - inequivalent arg 'type' or 'durable' for exchange '{name}' in vhost '/'"
                                ),
                            ));
                        }
                        Some(_) => {}
                        None if name.starts_with("amq.") || name.is_empty() => {
                            return Err(soft(
                                reply::ACCESS_REFUSED,
                                format!(
                                    "ACCESS_REFUSED - exchange name '{name}' contains reserved prefix 'amq.*'"
                                ),
                            ));
                        }
                        None => {
                            self.gateway.topology.declare_exchange(
                                name,
                                Exchange {
                                    kind,
                                    durable: d.durable,
                                    auto_delete: d.auto_delete,
                                    internal: d.internal,
                                    alternate: match d.arguments.inner().get("alternate-exchange") {
                                        Some(AMQPValue::LongString(s)) => {
                                            Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
                                        }
                                        Some(AMQPValue::ShortString(s)) => {
                                            Some(s.as_str().to_string())
                                        }
                                        _ => None,
                                    },
                                },
                            );
                            self.gateway.persist();
                        }
                    }
                }
                if !d.nowait {
                    self.send(AMQPClass::Exchange(exchange::AMQPMethod::DeclareOk(
                        exchange::DeclareOk {},
                    )))
                    .await;
                }
                Ok(())
            }
            exchange::AMQPMethod::Delete(d) => {
                if !self
                    .gateway
                    .topology
                    .delete_exchange(d.exchange.as_str(), d.if_unused)
                {
                    return Err(soft(
                        reply::PRECONDITION_FAILED,
                        format!("PRECONDITION_FAILED - exchange '{}' in use", d.exchange),
                    ));
                }
                self.gateway.persist();
                if !d.nowait {
                    self.send(AMQPClass::Exchange(exchange::AMQPMethod::DeleteOk(
                        exchange::DeleteOk {},
                    )))
                    .await;
                }
                Ok(())
            }
            exchange::AMQPMethod::Bind(b) => {
                self.existing_exchanges(&[b.destination.as_str(), b.source.as_str()])?;
                self.gateway.topology.bind(
                    b.source.as_str(),
                    Destination::Exchange(b.destination.as_str()),
                    b.routing_key.as_str(),
                    b.arguments,
                );
                self.gateway.persist();
                if !b.nowait {
                    self.send(AMQPClass::Exchange(exchange::AMQPMethod::BindOk(
                        exchange::BindOk {},
                    )))
                    .await;
                }
                Ok(())
            }
            exchange::AMQPMethod::Unbind(u) => {
                self.existing_exchanges(&[u.destination.as_str(), u.source.as_str()])?;
                self.gateway.topology.unbind(
                    u.source.as_str(),
                    Destination::Exchange(u.destination.as_str()),
                    u.routing_key.as_str(),
                );
                self.gateway.persist();
                if !u.nowait {
                    self.send(AMQPClass::Exchange(exchange::AMQPMethod::UnbindOk(
                        exchange::UnbindOk {},
                    )))
                    .await;
                }
                Ok(())
            }
            _ => Err(soft(reply::COMMAND_INVALID, "COMMAND_INVALID")),
        }
    }

    async fn queue_method(&mut self, m: queue::AMQPMethod) -> Result<(), ChannelError> {
        let topology = &self.gateway.topology;
        match m {
            queue::AMQPMethod::Declare(d) => {
                let name = if d.queue.as_str().is_empty() {
                    format!("amq.gen-{}-{}", now_ms(), self.gateway.next_id())
                } else {
                    d.queue.as_str().to_string()
                };
                let args = QueueArgs::parse(&name, &d.arguments)
                    .map_err(|text| soft(reply::PRECONDITION_FAILED, text))?;
                let info = match topology.queue(&name) {
                    Some(_) => {
                        let info = self.usable_queue(&name)?;
                        let differs = if info.durable != d.durable {
                            Some("durable")
                        } else if info.args != args {
                            Some("arguments")
                        } else {
                            None
                        };
                        if let Some(what) = differs.filter(|_| !d.passive) {
                            return Err(soft(
                                reply::PRECONDITION_FAILED,
                                format!(
                                    "PRECONDITION_FAILED - inequivalent arg '{what}' for queue '{name}' in vhost '/'"
                                ),
                            ));
                        }
                        info
                    }
                    None if d.passive => {
                        return Err(soft(
                            reply::NOT_FOUND,
                            format!("NOT_FOUND - no queue '{name}' in vhost '/'"),
                        ));
                    }
                    None => {
                        let info = QueueInfo {
                            durable: d.durable,
                            auto_delete: d.auto_delete,
                            owner: d.exclusive.then_some(self.connection_id),
                            topic: topic_for_queue(&name),
                            args,
                        };
                        self.gateway
                            .create_queue_topic(&info.topic)
                            .await
                            .map_err(|e| {
                                soft(reply::INTERNAL_ERROR, format!("INTERNAL_ERROR - {e}"))
                            })?;
                        topology.declare_queue(&name, info.clone());
                        self.gateway.persist();
                        info
                    }
                };
                let counts = self.queue_of(&info)?.counts();
                self.gateway.touch(&name);
                let consumer_count = self.gateway.consumers.count(&name) as u32;
                if !d.nowait {
                    self.send(AMQPClass::Queue(queue::AMQPMethod::DeclareOk(
                        queue::DeclareOk {
                            queue: name.into(),
                            message_count: counts.available as u32,
                            consumer_count,
                        },
                    )))
                    .await;
                }
                Ok(())
            }
            queue::AMQPMethod::Bind(b) => {
                self.usable_queue(b.queue.as_str())?;
                if !b.exchange.as_str().is_empty()
                    && topology.exchange(b.exchange.as_str()).is_none()
                {
                    return Err(soft(
                        reply::NOT_FOUND,
                        format!("NOT_FOUND - no exchange '{}' in vhost '/'", b.exchange),
                    ));
                }
                topology.bind(
                    b.exchange.as_str(),
                    Destination::Queue(b.queue.as_str()),
                    b.routing_key.as_str(),
                    b.arguments,
                );
                self.gateway.persist();
                if !b.nowait {
                    self.send(AMQPClass::Queue(queue::AMQPMethod::BindOk(
                        queue::BindOk {},
                    )))
                    .await;
                }
                Ok(())
            }
            queue::AMQPMethod::Unbind(u) => {
                topology.unbind(
                    u.exchange.as_str(),
                    Destination::Queue(u.queue.as_str()),
                    u.routing_key.as_str(),
                );
                self.gateway.persist();
                self.send(AMQPClass::Queue(queue::AMQPMethod::UnbindOk(
                    queue::UnbindOk {},
                )))
                .await;
                Ok(())
            }
            queue::AMQPMethod::Purge(p) => {
                let info = self.usable_queue(p.queue.as_str())?;
                let purged = self
                    .queue_of(&info)?
                    .purge(false)
                    .map_err(|e| soft(reply::INTERNAL_ERROR, format!("INTERNAL_ERROR - {e}")))?;
                if !p.nowait {
                    self.send(AMQPClass::Queue(queue::AMQPMethod::PurgeOk(
                        queue::PurgeOk {
                            message_count: purged as u32,
                        },
                    )))
                    .await;
                }
                Ok(())
            }
            queue::AMQPMethod::Delete(d) => {
                let name = d.queue.as_str();
                let count = match topology.queue(name) {
                    None => 0,
                    Some(_) => {
                        let info = self.usable_queue(name)?;
                        let counts = self.queue_of(&info)?.counts();
                        if d.if_unused && self.gateway.consumers.count(name) > 0 {
                            return Err(soft(
                                reply::PRECONDITION_FAILED,
                                format!("PRECONDITION_FAILED - queue '{name}' in vhost '/' in use"),
                            ));
                        }
                        if d.if_empty && counts.available + counts.in_flight > 0 {
                            return Err(soft(
                                reply::PRECONDITION_FAILED,
                                format!(
                                    "PRECONDITION_FAILED - queue '{name}' in vhost '/' not empty"
                                ),
                            ));
                        }
                        self.gateway.delete_queue(name).await;
                        counts.available as u32
                    }
                };
                if !d.nowait {
                    self.send(AMQPClass::Queue(queue::AMQPMethod::DeleteOk(
                        queue::DeleteOk {
                            message_count: count,
                        },
                    )))
                    .await;
                }
                Ok(())
            }
            _ => Err(soft(reply::NOT_IMPLEMENTED, "NOT_IMPLEMENTED")),
        }
    }

    async fn basic_method(
        &mut self,
        m: basic::AMQPMethod,
        class_id: u16,
        method_id: u16,
    ) -> Result<Result<(), ChannelError>, ConnectionError> {
        Ok(match m {
            basic::AMQPMethod::Qos(q) => {
                // RabbitMQ's reading of `global`: false limits each new consumer, true the
                // channel's consumers together.
                let limit = if q.global {
                    &self.deliveries.prefetch
                } else {
                    &self.deliveries.consumer_prefetch
                };
                limit.store(u32::from(q.prefetch_count), Ordering::Release);
                self.send(AMQPClass::Basic(basic::AMQPMethod::QosOk(basic::QosOk {})))
                    .await;
                Ok(())
            }
            basic::AMQPMethod::Publish(p) => {
                let exchange = p.exchange.as_str();
                let found = self.gateway.topology.exchange(exchange);
                if !exchange.is_empty() && found.is_none() {
                    Err(soft(
                        reply::NOT_FOUND,
                        format!("NOT_FOUND - no exchange '{exchange}' in vhost '/'"),
                    ))
                } else if found.is_some_and(|e| e.internal) {
                    Err(soft(
                        reply::ACCESS_REFUSED,
                        format!(
                            "ACCESS_REFUSED - cannot publish to internal exchange '{exchange}' in vhost '/'"
                        ),
                    ))
                } else {
                    self.pending = Some(Pending {
                        publish: p,
                        header: None,
                        body: Vec::new(),
                    });
                    Ok(())
                }
            }
            basic::AMQPMethod::Consume(c) => {
                let info = match self.usable_queue(c.queue.as_str()) {
                    Ok(info) => info,
                    Err(e) => return Ok(Err(e)),
                };
                let tag = if c.consumer_tag.as_str().is_empty() {
                    format!("amq.ctag-{}", self.gateway.next_id())
                } else {
                    c.consumer_tag.as_str().to_string()
                };
                if self.consumers.contains_key(&tag) {
                    return Err(ConnectionError {
                        code: reply::NOT_ALLOWED,
                        text: format!("NOT_ALLOWED - attempt to reuse consumer tag '{tag}'"),
                        class_id,
                        method_id,
                    });
                }
                let queue = match self.queue_of(&info) {
                    Ok(q) => q,
                    Err(e) => return Ok(Err(e)),
                };
                let name = c.queue.as_str().to_string();
                let id = self.gateway.next_id();
                let Ok(registration) = self.gateway.consumers.add(&name, id, c.exclusive) else {
                    return Ok(Err(soft(
                        reply::ACCESS_REFUSED,
                        format!("ACCESS_REFUSED - queue '{name}' in vhost '/' in exclusive use"),
                    )));
                };
                self.gateway.touch(&name);
                if !c.nowait {
                    self.send(AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(
                        basic::ConsumeOk {
                            consumer_tag: tag.as_str().into(),
                        },
                    )))
                    .await;
                }
                let spec = ConsumerSpec {
                    id,
                    tag: tag.clone(),
                    channel: self.id,
                    queue_name: name.clone(),
                    no_ack: c.no_ack,
                    single_active: info.args.single_active_consumer,
                    prefetch: self.deliveries.consumer_prefetch.load(Ordering::Acquire) as usize,
                };
                let task = consumer::spawn(
                    Arc::clone(&self.gateway),
                    Arc::clone(&self.deliveries),
                    queue,
                    spec,
                    registration,
                    self.out.clone(),
                );
                self.consumers.insert(
                    tag,
                    ConsumerHandle {
                        id,
                        queue: name,
                        task,
                    },
                );
                Ok(())
            }
            basic::AMQPMethod::Cancel(c) => {
                if let Some(consumer) = self.consumers.remove(c.consumer_tag.as_str()) {
                    self.stop_consumer(consumer);
                }
                if !c.nowait {
                    self.send(AMQPClass::Basic(basic::AMQPMethod::CancelOk(
                        basic::CancelOk {
                            consumer_tag: c.consumer_tag,
                        },
                    )))
                    .await;
                }
                Ok(())
            }
            basic::AMQPMethod::Get(g) => self.get(g).await,
            basic::AMQPMethod::Ack(a) => self.settle(a.delivery_tag, a.multiple, Settle::Ack),
            basic::AMQPMethod::Nack(n) => self.settle(
                n.delivery_tag,
                n.multiple,
                if n.requeue {
                    Settle::Requeue
                } else {
                    Settle::Drop
                },
            ),
            basic::AMQPMethod::Reject(r) => self.settle(
                r.delivery_tag,
                false,
                if r.requeue {
                    Settle::Requeue
                } else {
                    Settle::Drop
                },
            ),
            basic::AMQPMethod::Recover(_) | basic::AMQPMethod::RecoverAsync(_) => {
                let _ = self.settle(0, true, Settle::Requeue);
                self.send(AMQPClass::Basic(basic::AMQPMethod::RecoverOk(
                    basic::RecoverOk {},
                )))
                .await;
                Ok(())
            }
            _ => {
                return Err(ConnectionError {
                    code: reply::NOT_IMPLEMENTED,
                    text: "NOT_IMPLEMENTED - this method is not supported".into(),
                    class_id,
                    method_id,
                });
            }
        })
    }

    async fn get(&mut self, g: basic::Get) -> Result<(), ChannelError> {
        let info = self.usable_queue(g.queue.as_str())?;
        let queue = self.queue_of(&info)?;
        self.gateway.touch(g.queue.as_str());
        let now = now_ms();
        let got = queue
            .receive(now, 1, now + HOLD_MS, self.deliveries.holder)
            .map_err(|e| soft(reply::INTERNAL_ERROR, format!("INTERNAL_ERROR - {e}")))?;
        self.gateway
            .dead_letter_received(&queue, &got.expired, &got.dead);
        let Some(record) = got.delivered.into_iter().next() else {
            self.send(AMQPClass::Basic(basic::AMQPMethod::GetEmpty(
                basic::GetEmpty {},
            )))
            .await;
            return Ok(());
        };
        let held = (!g.no_ack).then(|| (Arc::clone(&queue), record.offset));
        let delivery_tag = self.deliveries.register(held, None);
        if g.no_ack {
            let _ = queue.ack(&[record.offset], Some(self.deliveries.holder));
        }
        let env = envelope(&record);
        let method = AMQPClass::Basic(basic::AMQPMethod::GetOk(basic::GetOk {
            delivery_tag,
            redelivered: record.deliveries > 1,
            exchange: env.exchange.into(),
            routing_key: env.routing_key.into(),
            message_count: queue.counts().available as u32,
        }));
        let body = record.value.clone().unwrap_or_default();
        send_content(
            &self.out,
            self.id,
            method,
            env.properties,
            &body,
            self.gateway.config.frame_max,
        )
        .await;
        Ok(())
    }

    /// Settles deliveries (in a transaction: at tx.commit). Acks are staged.
    fn settle(&mut self, tag: u64, multiple: bool, how: Settle) -> Result<(), ChannelError> {
        if let Some(tx) = &mut self.tx {
            tx.settles.push((tag, multiple, how));
            return Ok(());
        }
        self.settle_now(tag, multiple, how)
    }

    fn settle_now(&mut self, tag: u64, multiple: bool, how: Settle) -> Result<(), ChannelError> {
        let held = self.deliveries.take(tag, multiple).ok_or_else(|| {
            soft(
                reply::PRECONDITION_FAILED,
                format!("PRECONDITION_FAILED - unknown delivery tag {tag}"),
            )
        })?;
        let holder = Some(self.deliveries.holder);
        let internal = |e: neo_broker::BrokerError| {
            soft(reply::INTERNAL_ERROR, format!("INTERNAL_ERROR - {e}"))
        };
        for (queue, offset) in held {
            match how {
                Settle::Ack => {
                    self.staged.ack(queue, offset);
                    continue;
                }
                Settle::Requeue => queue.release(&[offset], holder).map_err(internal)?,
                Settle::Drop => {
                    // Read before it is settled, for the dead-letter exchange.
                    let record = queue.read(offset).map_err(internal)?;
                    let settled = queue.archive(&[offset], holder).map_err(internal)?;
                    if let (Some(record), Some((name, info))) = (
                        record.filter(|_| settled.iter().all(Result::is_ok)),
                        self.gateway
                            .topology
                            .queue_by_topic(queue.partition().topic()),
                    ) {
                        self.gateway
                            .dead_letter(&name, &info, &[record], Reason::Rejected);
                    }
                    settled
                }
            };
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum Settle {
    Ack,
    Requeue,
    Drop,
}
