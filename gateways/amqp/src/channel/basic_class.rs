//! The basic class: qos, publish, consume, cancel, get, ack, nack, reject, recover.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use amq_protocol::protocol::{AMQPClass, basic};
use neo_broker::acls::Operation;
use neo_broker::queue_handle::Settlement;
use neo_record::now_ms;

use super::access::Object;
use super::{
    Channel, ChannelError, ConnectionError, ConsumerHandle, Pending, Settle, internal, soft,
};
use crate::consumer::{self, ConsumerSpec, HOLD_MS};
use crate::delivery::{envelope, send_content};
use crate::publish::Reason;
use crate::reply;

impl Channel {
    pub(super) async fn basic_method(
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
                // The default exchange writes into the queue the routing key names; another
                // exchange is what is written, as in RabbitMQ (binding a queue to it needed
                // WRITE on the queue).
                let target = if exchange.is_empty() {
                    Object::Queue(p.routing_key.as_str())
                } else {
                    Object::Exchange(exchange)
                };
                let found = self.gateway.topology.exchange(exchange);
                if let Err(e) = self.authorize(Operation::Write, target) {
                    Err(e)
                } else if !exchange.is_empty() && found.is_none() {
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
                if let Err(e) = self.authorize_consume(c.queue.as_str()) {
                    return Ok(Err(e));
                }
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
                let queue = self.gateway.queue(&info);
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
            basic::AMQPMethod::Ack(a) => self.settle(a.delivery_tag, a.multiple, Settle::Ack).await,
            basic::AMQPMethod::Nack(n) => {
                self.settle(
                    n.delivery_tag,
                    n.multiple,
                    if n.requeue {
                        Settle::Requeue
                    } else {
                        Settle::Drop
                    },
                )
                .await
            }
            basic::AMQPMethod::Reject(r) => {
                self.settle(
                    r.delivery_tag,
                    false,
                    if r.requeue {
                        Settle::Requeue
                    } else {
                        Settle::Drop
                    },
                )
                .await
            }
            basic::AMQPMethod::Recover(_) | basic::AMQPMethod::RecoverAsync(_) => {
                let _ = self.settle(0, true, Settle::Requeue).await;
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

    pub(super) async fn get(&mut self, g: basic::Get) -> Result<(), ChannelError> {
        self.authorize_consume(g.queue.as_str())?;
        let info = self.usable_queue(g.queue.as_str())?;
        let queue = self.gateway.queue(&info);
        self.gateway.touch(g.queue.as_str());
        let now = now_ms();
        let holder = self.deliveries.holder;
        let got = queue
            .receive(now, 1, now + HOLD_MS, holder, false, Duration::ZERO)
            .await
            .map_err(internal)?;
        self.gateway
            .dead_letter_received(queue.topic(), &got.expired, &got.dead)
            .await;
        let Some(record) = got.delivered.into_iter().next() else {
            self.send(AMQPClass::Basic(basic::AMQPMethod::GetEmpty(
                basic::GetEmpty {},
            )))
            .await;
            return Ok(());
        };
        let held = (!g.no_ack).then(|| (queue.clone(), record.offset));
        let delivery_tag = self.deliveries.register(held, None);
        if g.no_ack {
            queue
                .settle(Settlement::Ack, &[record.offset], Some(holder))
                .await
                .map_err(internal)?;
        }
        let message_count = queue.counts().await.map_err(internal)?.available;
        let env = envelope(&record);
        let method = AMQPClass::Basic(basic::AMQPMethod::GetOk(basic::GetOk {
            delivery_tag,
            redelivered: record.deliveries > 1,
            exchange: env.exchange.into(),
            routing_key: env.routing_key.into(),
            message_count: message_count as u32,
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
    pub(super) async fn settle(
        &mut self,
        tag: u64,
        multiple: bool,
        how: Settle,
    ) -> Result<(), ChannelError> {
        if let Some(tx) = &mut self.tx {
            tx.settles.push((tag, multiple, how));
            return Ok(());
        }
        self.settle_now(tag, multiple, how).await
    }

    pub(super) async fn settle_now(
        &mut self,
        tag: u64,
        multiple: bool,
        how: Settle,
    ) -> Result<(), ChannelError> {
        let held = self.deliveries.take(tag, multiple).ok_or_else(|| {
            soft(
                reply::PRECONDITION_FAILED,
                format!("PRECONDITION_FAILED - unknown delivery tag {tag}"),
            )
        })?;
        let holder = Some(self.deliveries.holder);
        for (queue, offset) in held {
            match how {
                Settle::Ack => {
                    self.staged.ack(queue, offset);
                    continue;
                }
                Settle::Requeue => queue
                    .settle(Settlement::Release, &[offset], holder)
                    .await
                    .map_err(internal)?,
                Settle::Drop => {
                    // Read before it is settled, for the dead-letter exchange.
                    let record = queue.read(offset).await.map_err(internal)?;
                    let settled = queue
                        .settle(Settlement::Archive, &[offset], holder)
                        .await
                        .map_err(internal)?;
                    if let (Some(record), Some((name, info))) = (
                        record.filter(|_| settled.iter().all(Result::is_ok)),
                        self.gateway.topology.queue_by_topic(queue.topic()),
                    ) {
                        self.gateway
                            .dead_letter(&name, &info, &[record], Reason::Rejected)
                            .await;
                    }
                    settled
                }
            };
        }
        Ok(())
    }
}
