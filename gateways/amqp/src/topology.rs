//! Exchanges, queues and bindings, and how a publish is routed: the default exchange to the
//! queue named by the routing key, `direct` by equal key, `fanout` to all, `topic` by pattern
//! (`*` one word, `#` zero or more), `headers` by `x-match` all/any; on through bindings to
//! other exchanges, and to an exchange's alternate exchange when none of its bindings match.

use std::collections::{BTreeMap, HashMap, HashSet};

use amq_protocol::types::{AMQPValue, FieldTable};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::queue_args::QueueArgs;

/// The exchange kinds of AMQP 0-9-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExchangeKind {
    Direct,
    Fanout,
    Topic,
    Headers,
}

impl ExchangeKind {
    pub fn parse(kind: &str) -> Option<ExchangeKind> {
        Some(match kind {
            "direct" => ExchangeKind::Direct,
            "fanout" => ExchangeKind::Fanout,
            "topic" => ExchangeKind::Topic,
            "headers" => ExchangeKind::Headers,
            _ => return None,
        })
    }
}

/// A declared exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    pub kind: ExchangeKind,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    /// Where messages none of its bindings match go (`alternate-exchange` argument).
    #[serde(default)]
    pub alternate: Option<String>,
}

impl Exchange {
    /// The first property in which a redeclaration `other` differs, named as RabbitMQ names
    /// it in its PRECONDITION_FAILED.
    pub fn inequivalent(&self, other: &Exchange) -> Option<&'static str> {
        if self.kind != other.kind {
            Some("type")
        } else if self.durable != other.durable {
            Some("durable")
        } else if self.auto_delete != other.auto_delete {
            Some("auto_delete")
        } else if self.internal != other.internal {
            Some("internal")
        } else if self.alternate != other.alternate {
            Some("alternate-exchange")
        } else {
            None
        }
    }
}

/// A declared queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueInfo {
    pub durable: bool,
    pub auto_delete: bool,
    /// The connection that owns an exclusive queue.
    pub owner: Option<u64>,
    /// The topic holding its messages.
    pub topic: String,
    /// Its `x-` arguments.
    #[serde(default)]
    pub args: QueueArgs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Binding {
    /// The source exchange.
    exchange: String,
    /// The queue, or with `to_exchange` the exchange, messages go on to.
    #[serde(alias = "queue")]
    destination: String,
    #[serde(default)]
    to_exchange: bool,
    routing_key: String,
    arguments: FieldTable,
}

/// Where a binding leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination<'a> {
    Queue(&'a str),
    Exchange(&'a str),
}

impl Binding {
    fn leads_to(&self, to: Destination<'_>) -> bool {
        match to {
            Destination::Queue(q) => !self.to_exchange && self.destination == q,
            Destination::Exchange(e) => self.to_exchange && self.destination == e,
        }
    }
}

/// Every exchange, queue and binding the gateway knows.
#[derive(Debug)]
pub struct Topology {
    exchanges: RwLock<HashMap<String, Exchange>>,
    queues: RwLock<BTreeMap<String, QueueInfo>>,
    bindings: RwLock<Vec<Binding>>,
    /// Auto-delete exchanges that have had a binding (they go when the last one does).
    had_bindings: RwLock<HashSet<String>>,
}

impl Default for Topology {
    fn default() -> Self {
        let standard = [
            ("amq.direct", ExchangeKind::Direct),
            ("amq.fanout", ExchangeKind::Fanout),
            ("amq.topic", ExchangeKind::Topic),
            ("amq.headers", ExchangeKind::Headers),
            ("amq.match", ExchangeKind::Headers),
        ];
        let exchanges = standard
            .into_iter()
            .map(|(name, kind)| {
                (
                    name.to_string(),
                    Exchange {
                        kind,
                        durable: true,
                        auto_delete: false,
                        internal: false,
                        alternate: None,
                    },
                )
            })
            .collect();
        Topology {
            exchanges: RwLock::new(exchanges),
            queues: RwLock::new(BTreeMap::new()),
            bindings: RwLock::new(Vec::new()),
            had_bindings: RwLock::new(HashSet::new()),
        }
    }
}

/// The durable part of the topology: what the broker's metadata keeps (see
/// `topology_store`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Durable {
    pub(crate) exchanges: BTreeMap<String, Exchange>,
    pub(crate) queues: BTreeMap<String, QueueInfo>,
    pub(crate) bindings: Vec<Binding>,
}

/// The topic that holds an AMQP queue's messages: `amqp.<name>` when the name is a valid
/// topic name, else `amqp.x<hex of the name>`.
pub fn topic_for_queue(name: &str) -> String {
    let plain = name.len() <= 200
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plain {
        format!("amqp.{name}")
    } else {
        let hex: String = name.bytes().take(120).map(|b| format!("{b:02x}")).collect();
        format!("amqp.x{hex}")
    }
}

impl Topology {
    /// The durable exchanges and queues, and the bindings between durable ends.
    pub fn durable(&self) -> Durable {
        let exchanges: BTreeMap<String, Exchange> = self
            .exchanges
            .read()
            .iter()
            .filter(|(name, e)| e.durable && !name.starts_with("amq."))
            .map(|(n, e)| (n.clone(), e.clone()))
            .collect();
        let queues: BTreeMap<String, QueueInfo> = self
            .queues
            .read()
            .iter()
            .filter(|(_, q)| q.durable && q.owner.is_none())
            .map(|(n, q)| (n.clone(), q.clone()))
            .collect();
        let bindings = self
            .bindings
            .read()
            .iter()
            .filter(|b| {
                let durable_exchange =
                    |name: &str| name.starts_with("amq.") || exchanges.contains_key(name);
                durable_exchange(&b.exchange)
                    && if b.to_exchange {
                        durable_exchange(&b.destination)
                    } else {
                        queues.contains_key(&b.destination)
                    }
            })
            .cloned()
            .collect();
        Durable {
            exchanges,
            queues,
            bindings,
        }
    }

    /// Adds what was stored back.
    pub fn restore(&self, durable: Durable) {
        self.exchanges.write().extend(durable.exchanges);
        self.queues.write().extend(durable.queues);
        self.had_bindings
            .write()
            .extend(durable.bindings.iter().map(|b| b.exchange.clone()));
        self.bindings.write().extend(durable.bindings);
    }

    pub fn exchange(&self, name: &str) -> Option<Exchange> {
        self.exchanges.read().get(name).cloned()
    }

    pub fn declare_exchange(&self, name: &str, exchange: Exchange) {
        self.exchanges.write().insert(name.to_string(), exchange);
    }

    /// Removes an exchange and its bindings (both ways); false when `if_unused` and
    /// messages are bound to go from it somewhere.
    pub fn delete_exchange(&self, name: &str, if_unused: bool) -> bool {
        {
            let mut bindings = self.bindings.write();
            if if_unused && bindings.iter().any(|b| b.exchange == name) {
                return false;
            }
            bindings.retain(|b| b.exchange != name && !b.leads_to(Destination::Exchange(name)));
        }
        self.exchanges.write().remove(name);
        self.drop_unused_auto_delete();
        true
    }

    /// Deletes auto-delete exchanges that no longer have a binding from them, as RabbitMQ
    /// does once the last one is removed.
    fn drop_unused_auto_delete(&self) {
        loop {
            let unused: Vec<String> = {
                let bindings = self.bindings.read();
                self.exchanges
                    .read()
                    .iter()
                    .filter(|(name, e)| {
                        e.auto_delete && !bindings.iter().any(|b| &b.exchange == *name)
                    })
                    .map(|(name, _)| name.clone())
                    .filter(|name| self.had_bindings.read().contains(name))
                    .collect()
            };
            if unused.is_empty() {
                return;
            }
            for name in unused {
                self.had_bindings.write().remove(&name);
                self.exchanges.write().remove(&name);
                self.bindings
                    .write()
                    .retain(|b| !b.leads_to(Destination::Exchange(&name)));
            }
        }
    }

    pub fn queue(&self, name: &str) -> Option<QueueInfo> {
        self.queues.read().get(name).cloned()
    }

    /// The queues `wanted` picks.
    pub fn queues_with(&self, wanted: impl Fn(&QueueInfo) -> bool) -> Vec<(String, QueueInfo)> {
        self.queues
            .read()
            .iter()
            .filter(|(_, q)| wanted(q))
            .map(|(n, q)| (n.clone(), q.clone()))
            .collect()
    }

    /// The queue whose messages are in `topic`.
    pub fn queue_by_topic(&self, topic: &str) -> Option<(String, QueueInfo)> {
        self.queues
            .read()
            .iter()
            .find(|(_, q)| q.topic == topic)
            .map(|(n, q)| (n.clone(), q.clone()))
    }

    pub fn declare_queue(&self, name: &str, info: QueueInfo) {
        self.queues.write().insert(name.to_string(), info);
    }

    /// Removes a queue and its bindings.
    pub fn delete_queue(&self, name: &str) {
        self.queues.write().remove(name);
        self.bindings
            .write()
            .retain(|b| !b.leads_to(Destination::Queue(name)));
        self.drop_unused_auto_delete();
    }

    /// Queues exclusive to `connection` (deleted when it closes).
    pub fn exclusive_to(&self, connection: u64) -> Vec<String> {
        self.queues_with(|q| q.owner == Some(connection))
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    pub fn bind(
        &self,
        exchange: &str,
        to: Destination<'_>,
        routing_key: &str,
        arguments: FieldTable,
    ) {
        let (destination, to_exchange) = match to {
            Destination::Queue(q) => (q, false),
            Destination::Exchange(e) => (e, true),
        };
        let binding = Binding {
            exchange: exchange.to_string(),
            destination: destination.to_string(),
            to_exchange,
            routing_key: routing_key.to_string(),
            arguments,
        };
        let mut bindings = self.bindings.write();
        if !bindings.contains(&binding) {
            bindings.push(binding);
        }
        self.had_bindings.write().insert(exchange.to_string());
    }

    /// Adds a binding another broker stored.
    pub(crate) fn add_binding(&self, binding: Binding) {
        self.had_bindings.write().insert(binding.exchange.clone());
        let mut bindings = self.bindings.write();
        if !bindings.contains(&binding) {
            bindings.push(binding);
        }
    }

    /// Removes a binding another broker removed.
    pub(crate) fn remove_binding(&self, binding: &Binding) {
        self.bindings.write().retain(|b| b != binding);
        self.drop_unused_auto_delete();
    }

    pub fn unbind(&self, exchange: &str, to: Destination<'_>, routing_key: &str) {
        self.bindings.write().retain(|b| {
            !(b.exchange == exchange && b.leads_to(to) && b.routing_key == routing_key)
        });
        self.drop_unused_auto_delete();
    }

    /// The queues a message published to `exchange` with `routing_key` and `headers` goes
    /// to, each once; `None` when the exchange does not exist.
    pub fn route(
        &self,
        exchange: &str,
        routing_key: &str,
        headers: Option<&FieldTable>,
    ) -> Option<Vec<String>> {
        if exchange.is_empty() {
            return Some(
                self.queues
                    .read()
                    .contains_key(routing_key)
                    .then(|| routing_key.to_string())
                    .into_iter()
                    .collect(),
            );
        }
        let exchanges = self.exchanges.read();
        exchanges.get(exchange)?;
        let bindings = self.bindings.read();
        let mut queues = Vec::new();
        let mut visited = HashSet::new();
        let mut todo = vec![exchange];
        while let Some(name) = todo.pop() {
            let Some(e) = exchanges.get(name).filter(|_| visited.insert(name)) else {
                continue;
            };
            let mut matched = false;
            for b in bindings.iter().filter(|b| b.exchange == name) {
                let matches = match e.kind {
                    ExchangeKind::Direct => b.routing_key == routing_key,
                    ExchangeKind::Fanout => true,
                    ExchangeKind::Topic => topic_matches(&b.routing_key, routing_key),
                    ExchangeKind::Headers => headers_match(&b.arguments, headers),
                };
                if matches {
                    matched = true;
                    if b.to_exchange {
                        todo.push(&b.destination);
                    } else {
                        queues.push(b.destination.clone());
                    }
                }
            }
            if !matched && let Some(alternate) = &e.alternate {
                todo.push(alternate);
            }
        }
        queues.sort();
        queues.dedup();
        Some(queues)
    }
}

/// AMQP topic matching: words split by `.`, `*` is exactly one word, `#` zero or more.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match p.split_first() {
            None => k.is_empty(),
            Some((&"#", rest)) => (0..=k.len()).any(|i| go(rest, &k[i..])),
            Some((&"*", rest)) => !k.is_empty() && go(rest, &k[1..]),
            Some((word, rest)) => k.first() == Some(word) && go(rest, &k[1..]),
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = if key.is_empty() {
        Vec::new()
    } else {
        key.split('.').collect()
    };
    go(&p, &k)
}

/// Headers-exchange matching: `x-match` `all` (the default) or `any` over the binding's other
/// arguments; an argument with no value (void) matches on presence.
fn headers_match(binding: &FieldTable, headers: Option<&FieldTable>) -> bool {
    let empty = FieldTable::default();
    let headers = headers.unwrap_or(&empty).inner();
    let any = matches!(
        binding.inner().get("x-match"),
        Some(AMQPValue::LongString(s)) if s.as_bytes() == b"any"
    ) || matches!(
        binding.inner().get("x-match"),
        Some(AMQPValue::ShortString(s)) if s.as_str() == "any"
    );
    let mut wanted = binding
        .inner()
        .iter()
        .filter(|(k, _)| !k.as_str().starts_with("x-"))
        .map(|(k, v)| match (v, headers.get(k)) {
            (AMQPValue::Void, found) => found.is_some(),
            (v, Some(found)) => v == found,
            (_, None) => false,
        });
    if any {
        wanted.any(|m| m)
    } else {
        wanted.all(|m| m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns_match_as_in_rabbitmq() {
        assert!(topic_matches("a.*.c", "a.b.c"));
        assert!(!topic_matches("a.*.c", "a.c"));
        assert!(topic_matches("a.#", "a"));
        assert!(topic_matches("a.#", "a.b.c"));
        assert!(topic_matches("#", ""));
        assert!(topic_matches("#.c", "a.b.c"));
        assert!(!topic_matches("a.b", "a.b.c"));
        assert!(topic_matches("*.*", "x.y"));
    }

    #[test]
    fn routing_through_each_kind_of_exchange() {
        let t = Topology::default();
        for q in ["q1", "q2"] {
            t.declare_queue(
                q,
                QueueInfo {
                    durable: true,
                    auto_delete: false,
                    owner: None,
                    topic: topic_for_queue(q),
                    args: QueueArgs::default(),
                },
            );
        }
        assert_eq!(t.route("", "q1", None).unwrap(), ["q1"]);
        assert!(t.route("", "nope", None).unwrap().is_empty());
        assert!(t.route("no-such-exchange", "q1", None).is_none());
        t.bind(
            "amq.topic",
            Destination::Queue("q1"),
            "logs.*.error",
            FieldTable::default(),
        );
        t.bind(
            "amq.topic",
            Destination::Queue("q2"),
            "logs.#",
            FieldTable::default(),
        );
        assert_eq!(
            t.route("amq.topic", "logs.app.error", None).unwrap(),
            ["q1", "q2"]
        );
        assert_eq!(t.route("amq.topic", "logs.app.info", None).unwrap(), ["q2"]);
        t.bind(
            "amq.fanout",
            Destination::Queue("q1"),
            "",
            FieldTable::default(),
        );
        assert_eq!(t.route("amq.fanout", "anything", None).unwrap(), ["q1"]);
        let mut args = FieldTable::default();
        args.insert("x-match".into(), AMQPValue::LongString("any".into()));
        args.insert("kind".into(), AMQPValue::LongString("a".into()));
        t.bind("amq.headers", Destination::Queue("q2"), "", args);
        let mut headers = FieldTable::default();
        headers.insert("kind".into(), AMQPValue::LongString("a".into()));
        assert_eq!(t.route("amq.headers", "", Some(&headers)).unwrap(), ["q2"]);
        assert!(t.route("amq.headers", "", None).unwrap().is_empty());
        assert_eq!(topic_for_queue("jobs"), "amqp.jobs");
        assert_eq!(topic_for_queue("a b"), "amqp.x612062");
    }
}
