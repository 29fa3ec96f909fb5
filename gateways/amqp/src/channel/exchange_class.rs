//! The exchange class: declare, delete, bind and unbind between exchanges.

use amq_protocol::protocol::{AMQPClass, exchange};
use amq_protocol::types::AMQPValue;
use neo_broker::acls::Operation;

use super::access::Object;
use super::{Channel, ChannelError, soft};
use crate::reply;
use crate::topology::{Destination, Exchange, ExchangeKind};

impl Channel {
    /// NOT_FOUND for the first of `names` that is not a declared exchange.
    pub(super) fn existing_exchanges(&self, names: &[&str]) -> Result<(), ChannelError> {
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

    pub(super) async fn exchange_method(
        &mut self,
        m: exchange::AMQPMethod,
    ) -> Result<(), ChannelError> {
        match m {
            exchange::AMQPMethod::Declare(d) => {
                let name = d.exchange.as_str();
                let op = if d.passive {
                    Operation::Describe
                } else {
                    Operation::Create
                };
                self.authorize(op, Object::Exchange(name))?;
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
                    let alternate = match d.arguments.inner().get("alternate-exchange") {
                        Some(AMQPValue::LongString(s)) => {
                            Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
                        }
                        Some(AMQPValue::ShortString(s)) => Some(s.as_str().to_string()),
                        _ => None,
                    };
                    let declared = Exchange {
                        kind,
                        durable: d.durable,
                        auto_delete: d.auto_delete,
                        internal: d.internal,
                        alternate,
                    };
                    match existing {
                        Some(e) => {
                            if let Some(arg) = e.inequivalent(&declared) {
                                return Err(soft(
                                    reply::PRECONDITION_FAILED,
                                    format!(
                                        "PRECONDITION_FAILED - inequivalent arg '{arg}' for exchange '{name}' in vhost '/'"
                                    ),
                                ));
                            }
                        }
                        None if name.starts_with("amq.") || name.is_empty() => {
                            return Err(soft(
                                reply::ACCESS_REFUSED,
                                format!(
                                    "ACCESS_REFUSED - exchange name '{name}' contains reserved prefix 'amq.*'"
                                ),
                            ));
                        }
                        None => {
                            self.gateway.topology.declare_exchange(name, declared);
                            self.gateway.persist().await;
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
                self.authorize(Operation::Delete, Object::Exchange(d.exchange.as_str()))?;
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
                self.gateway.persist().await;
                if !d.nowait {
                    self.send(AMQPClass::Exchange(exchange::AMQPMethod::DeleteOk(
                        exchange::DeleteOk {},
                    )))
                    .await;
                }
                Ok(())
            }
            exchange::AMQPMethod::Bind(b) => {
                self.authorize(Operation::Write, Object::Exchange(b.destination.as_str()))?;
                self.authorize(Operation::Read, Object::Exchange(b.source.as_str()))?;
                self.existing_exchanges(&[b.destination.as_str(), b.source.as_str()])?;
                self.gateway.topology.bind(
                    b.source.as_str(),
                    Destination::Exchange(b.destination.as_str()),
                    b.routing_key.as_str(),
                    b.arguments,
                );
                self.gateway.persist().await;
                if !b.nowait {
                    self.send(AMQPClass::Exchange(exchange::AMQPMethod::BindOk(
                        exchange::BindOk {},
                    )))
                    .await;
                }
                Ok(())
            }
            exchange::AMQPMethod::Unbind(u) => {
                self.authorize(Operation::Write, Object::Exchange(u.destination.as_str()))?;
                self.authorize(Operation::Read, Object::Exchange(u.source.as_str()))?;
                self.existing_exchanges(&[u.destination.as_str(), u.source.as_str()])?;
                self.gateway.topology.unbind(
                    u.source.as_str(),
                    Destination::Exchange(u.destination.as_str()),
                    u.routing_key.as_str(),
                );
                self.gateway.persist().await;
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
}
