//! A consumer: a task that receives records from its queue (on whichever broker leads it)
//! while its prefetch and the channel's allow, sends them as basic.deliver, and waits for
//! appends when the queue is empty (or, on a single-active-consumer queue, until it is the
//! active consumer). When its queue is deleted it sends basic.cancel and ends; while its
//! queue has no leader (a failover) it tries again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{AMQPClass, basic};
use neo_broker::queue_handle::{QueueHandle, Settlement};
use neo_record::now_ms;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::consumers::Registration;
use crate::delivery::{envelope, send_content};
use crate::gateway::Gateway;
use crate::outgoing::{Outgoing, send};

/// AMQP holds an unacknowledged delivery until it is acknowledged or its channel closes: the
/// cursor lock is set far ahead and released explicitly.
pub const HOLD_MS: i64 = 100 * 365 * 24 * 3600 * 1000;

/// How long a consumer waits before reading its queue again after a failure.
const RETRY: Duration = Duration::from_millis(200);

/// What a channel's consumers and the channel share.
#[derive(Debug)]
pub struct Deliveries {
    /// The cursor's name for this channel's holds.
    pub holder: u64,
    /// basic.qos prefetch count with `global`: for the channel's consumers together
    /// (0: no limit).
    pub prefetch: AtomicU32,
    /// basic.qos prefetch count without `global`: for each consumer started after it.
    pub consumer_prefetch: AtomicU32,
    state: Mutex<Unacked>,
    /// Bumped on every settle, so a consumer at its prefetch limit wakes up.
    settled: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Unacked {
    next_tag: u64,
    /// The record each unacknowledged delivery holds, and the consumer it went to.
    by_tag: BTreeMap<u64, (QueueHandle, i64, Option<u64>)>,
    /// Unacknowledged deliveries per consumer.
    per_consumer: HashMap<u64, usize>,
}

impl Deliveries {
    pub fn new(holder: u64) -> Deliveries {
        Deliveries {
            holder,
            prefetch: AtomicU32::new(0),
            consumer_prefetch: AtomicU32::new(0),
            state: Mutex::new(Unacked::default()),
            settled: watch::Sender::new(0),
        }
    }

    /// The next delivery tag; held records are remembered under it until settled, counted
    /// against `consumer`'s prefetch.
    pub fn register(&self, held: Option<(QueueHandle, i64)>, consumer: Option<u64>) -> u64 {
        let mut state = self.state.lock();
        state.next_tag += 1;
        let tag = state.next_tag;
        if let Some((queue, offset)) = held {
            state.by_tag.insert(tag, (queue, offset, consumer));
            if let Some(c) = consumer {
                *state.per_consumer.entry(c).or_default() += 1;
            }
        }
        tag
    }

    /// Removes and returns the holds of `tag` (and every earlier one with `multiple`);
    /// `None` when `tag` is not an unacknowledged delivery (tag 0 with `multiple`: all).
    pub fn take(&self, tag: u64, multiple: bool) -> Option<Vec<(QueueHandle, i64)>> {
        let mut state = self.state.lock();
        let taken: Vec<(QueueHandle, i64, Option<u64>)> = if multiple {
            let upto = if tag == 0 { u64::MAX } else { tag };
            let keys: Vec<u64> = state.by_tag.range(..=upto).map(|(k, _)| *k).collect();
            if tag != 0 && !state.by_tag.contains_key(&tag) {
                return None;
            }
            keys.iter().filter_map(|k| state.by_tag.remove(k)).collect()
        } else {
            vec![state.by_tag.remove(&tag)?]
        };
        for c in taken.iter().filter_map(|(_, _, c)| *c) {
            if let Some(n) = state.per_consumer.get_mut(&c) {
                *n = n.saturating_sub(1);
            }
        }
        drop(state);
        let taken = taken.into_iter().map(|(q, o, _)| (q, o)).collect();
        self.settled.send_modify(|n| *n += 1);
        Some(taken)
    }

    /// How many more deliveries consumer `id` (with prefetch `limit`, 0 for none) may get.
    fn room(&self, id: u64, limit: usize) -> usize {
        let prefetch = self.prefetch.load(Ordering::Acquire) as usize;
        let state = self.state.lock();
        let held = state.by_tag.len();
        let mine = state.per_consumer.get(&id).copied().unwrap_or(0);
        let channel = if prefetch == 0 {
            256usize.saturating_sub(held).max(1)
        } else {
            prefetch.saturating_sub(held)
        };
        if limit == 0 {
            channel
        } else {
            channel.min(limit.saturating_sub(mine))
        }
    }

    /// Forgets the count of a consumer that ended (its deliveries stay unacknowledged).
    pub fn forget_consumer(&self, id: u64) {
        self.state.lock().per_consumer.remove(&id);
    }

    fn settled(&self) -> watch::Receiver<u64> {
        self.settled.subscribe()
    }
}

/// What a consumer is.
pub struct ConsumerSpec {
    pub id: u64,
    pub tag: String,
    pub channel: u16,
    /// The AMQP name of its queue.
    pub queue_name: String,
    pub no_ack: bool,
    /// Only the registry's first consumer of the queue receives.
    pub single_active: bool,
    /// Its own prefetch (0: none).
    pub prefetch: usize,
}

/// Starts delivering `queue` to a consumer on a channel.
pub fn spawn(
    gateway: Arc<Gateway>,
    deliveries: Arc<Deliveries>,
    queue: QueueHandle,
    spec: ConsumerSpec,
    mut registration: Registration,
    out: Outgoing,
) -> tokio::task::JoinHandle<()> {
    let frame_max = gateway.config.frame_max;
    tokio::spawn(async move {
        let mut settled = deliveries.settled();
        let wait = Duration::from_secs(1);
        loop {
            if *registration.cancelled.borrow() {
                let cancel = basic::AMQPMethod::Cancel(basic::Cancel {
                    consumer_tag: spec.tag.as_str().into(),
                    nowait: true,
                });
                send(
                    &out,
                    AMQPFrame::Method(spec.channel, AMQPClass::Basic(cancel)),
                )
                .await;
                return;
            }
            registration.changed.mark_unchanged();
            if spec.single_active && !gateway.consumers.is_first(&spec.queue_name, spec.id) {
                tokio::select! {
                    _ = registration.changed.changed() => {}
                    _ = registration.cancelled.changed() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
                continue;
            }
            settled.mark_unchanged();
            let room = deliveries.room(spec.id, spec.prefetch);
            if room == 0 {
                tokio::select! {
                    _ = settled.changed() => {}
                    _ = registration.cancelled.changed() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
                continue;
            }
            let now = now_ms();
            let holder = deliveries.holder;
            let got = match queue
                .receive(now, room.min(64), now + HOLD_MS, holder, false, wait)
                .await
            {
                Ok(got) => got,
                Err(e) => {
                    // Deleted queues cancel their consumers; anything else (a failover) passes.
                    tracing::debug!(error = %e, "amqp consumer cannot read its queue yet");
                    tokio::select! {
                        _ = registration.cancelled.changed() => {}
                        _ = tokio::time::sleep(RETRY) => {}
                    }
                    continue;
                }
            };
            gateway
                .dead_letter_received(queue.topic(), &got.expired, &got.dead)
                .await;
            if spec.no_ack {
                let offsets: Vec<i64> = got.delivered.iter().map(|r| r.offset).collect();
                if let Err(e) = queue.settle(Settlement::Ack, &offsets, Some(holder)).await {
                    tracing::warn!(error = %e, "amqp: cannot settle deliveries without ack");
                }
            }
            for record in got.delivered {
                let held = (!spec.no_ack).then(|| (queue.clone(), record.offset));
                let delivery_tag = deliveries.register(held, Some(spec.id));
                let env = envelope(&record);
                let method = AMQPClass::Basic(basic::AMQPMethod::Deliver(basic::Deliver {
                    consumer_tag: spec.tag.as_str().into(),
                    delivery_tag,
                    redelivered: record.deliveries > 1,
                    exchange: env.exchange.into(),
                    routing_key: env.routing_key.into(),
                }));
                let body = record.value.clone().unwrap_or_default();
                if !send_content(&out, spec.channel, method, env.properties, &body, frame_max).await
                {
                    return;
                }
            }
        }
    })
}
