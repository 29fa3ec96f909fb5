//! The queue class: declare, bind, unbind, purge, delete.

use amq_protocol::protocol::{AMQPClass, queue};
use neo_broker::acls::Operation;
use neo_record::now_ms;

use super::access::Object;
use super::{Channel, ChannelError, internal, soft};
use crate::queue_args::QueueArgs;
use crate::reply;
use crate::topology::{Destination, QueueInfo, topic_for_queue};

impl Channel {
    pub(super) async fn queue_method(&mut self, m: queue::AMQPMethod) -> Result<(), ChannelError> {
        let topology = &self.gateway.topology;
        match m {
            queue::AMQPMethod::Declare(d) => {
                let name = if d.queue.as_str().is_empty() {
                    format!("amq.gen-{}-{}", now_ms(), self.gateway.next_id())
                } else {
                    d.queue.as_str().to_string()
                };
                let op = if d.passive {
                    Operation::Describe
                } else {
                    Operation::Create
                };
                self.authorize(op, Object::Queue(&name))?;
                let args = QueueArgs::parse(&name, &d.arguments)
                    .map_err(|text| soft(reply::PRECONDITION_FAILED, text))?;
                let info = match topology.queue(&name) {
                    Some(_) => {
                        let info = self.usable_queue(&name)?;
                        let differs = if info.durable != d.durable {
                            Some("durable")
                        } else if info.auto_delete != d.auto_delete {
                            Some("auto_delete")
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
                        self.gateway.persist().await;
                        info
                    }
                };
                let counts = self.gateway.queue(&info).counts().await.map_err(internal)?;
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
                self.authorize(Operation::Write, Object::Queue(b.queue.as_str()))?;
                self.authorize(Operation::Read, Object::Exchange(b.exchange.as_str()))?;
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
                self.gateway.persist().await;
                if !b.nowait {
                    self.send(AMQPClass::Queue(queue::AMQPMethod::BindOk(
                        queue::BindOk {},
                    )))
                    .await;
                }
                Ok(())
            }
            queue::AMQPMethod::Unbind(u) => {
                self.authorize(Operation::Write, Object::Queue(u.queue.as_str()))?;
                self.authorize(Operation::Read, Object::Exchange(u.exchange.as_str()))?;
                topology.unbind(
                    u.exchange.as_str(),
                    Destination::Queue(u.queue.as_str()),
                    u.routing_key.as_str(),
                );
                self.gateway.persist().await;
                self.send(AMQPClass::Queue(queue::AMQPMethod::UnbindOk(
                    queue::UnbindOk {},
                )))
                .await;
                Ok(())
            }
            queue::AMQPMethod::Purge(p) => {
                self.authorize(Operation::Delete, Object::Queue(p.queue.as_str()))?;
                let info = self.usable_queue(p.queue.as_str())?;
                let purged = self
                    .gateway
                    .queue(&info)
                    .purge(false)
                    .await
                    .map_err(internal)?;
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
                self.authorize(Operation::Delete, Object::Queue(name))?;
                let count = match topology.queue(name) {
                    None => 0,
                    Some(_) => {
                        let info = self.usable_queue(name)?;
                        let counts = self.gateway.queue(&info).counts().await.map_err(internal)?;
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
}
