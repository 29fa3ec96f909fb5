//! A consumer: a task that receives records from its queue while the channel's prefetch
//! allows, sends them as basic.deliver, and waits for appends when the queue is empty.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use amq_protocol::protocol::{AMQPClass, basic};
use neo_broker::queues::Queue;
use neo_storage::now_ms;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::connection::Outgoing;
use crate::delivery::{envelope, send_content};
use crate::gateway::Gateway;

/// AMQP holds an unacknowledged delivery until it is acknowledged or its channel closes: the
/// cursor lock is set far ahead and released explicitly.
pub const HOLD_MS: i64 = 100 * 365 * 24 * 3600 * 1000;

/// What a channel's consumers and the channel share.
#[derive(Debug)]
pub struct Deliveries {
    /// The cursor's name for this channel's holds.
    pub holder: u64,
    /// basic.qos prefetch count (0: no limit).
    pub prefetch: AtomicU32,
    state: Mutex<Unacked>,
    /// Bumped on every settle, so a consumer at its prefetch limit wakes up.
    settled: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Unacked {
    next_tag: u64,
    by_tag: BTreeMap<u64, (Arc<Queue>, i64)>,
}

impl Deliveries {
    pub fn new(holder: u64) -> Deliveries {
        Deliveries {
            holder,
            prefetch: AtomicU32::new(0),
            state: Mutex::new(Unacked::default()),
            settled: watch::Sender::new(0),
        }
    }

    /// The next delivery tag; held records are remembered under it until settled.
    pub fn register(&self, held: Option<(Arc<Queue>, i64)>) -> u64 {
        let mut state = self.state.lock();
        state.next_tag += 1;
        let tag = state.next_tag;
        if let Some(held) = held {
            state.by_tag.insert(tag, held);
        }
        tag
    }

    /// Removes and returns the holds of `tag` (and every earlier one with `multiple`);
    /// `None` when `tag` is not an unacknowledged delivery (tag 0 with `multiple`: all).
    pub fn take(&self, tag: u64, multiple: bool) -> Option<Vec<(Arc<Queue>, i64)>> {
        let mut state = self.state.lock();
        let taken: Vec<(Arc<Queue>, i64)> = if multiple {
            let upto = if tag == 0 { u64::MAX } else { tag };
            let keys: Vec<u64> = state.by_tag.range(..=upto).map(|(k, _)| *k).collect();
            if tag != 0 && !state.by_tag.contains_key(&tag) {
                return None;
            }
            keys.iter().filter_map(|k| state.by_tag.remove(k)).collect()
        } else {
            vec![state.by_tag.remove(&tag)?]
        };
        drop(state);
        self.settled.send_modify(|n| *n += 1);
        Some(taken)
    }

    fn room(&self) -> usize {
        let prefetch = self.prefetch.load(Ordering::Acquire) as usize;
        let held = self.state.lock().by_tag.len();
        if prefetch == 0 {
            256usize.saturating_sub(held).max(1)
        } else {
            prefetch.saturating_sub(held)
        }
    }

    fn settled(&self) -> watch::Receiver<u64> {
        self.settled.subscribe()
    }
}

/// Starts delivering `queue` to `tag` on `channel`.
pub fn spawn(
    gateway: Arc<Gateway>,
    deliveries: Arc<Deliveries>,
    queue: Arc<Queue>,
    channel: u16,
    tag: String,
    no_ack: bool,
    out: Outgoing,
) -> tokio::task::JoinHandle<()> {
    let frame_max = gateway.config.frame_max;
    tokio::spawn(async move {
        let mut settled = deliveries.settled();
        loop {
            let room = deliveries.room();
            if room == 0 {
                settled.mark_unchanged();
                let _ = tokio::time::timeout(Duration::from_secs(1), settled.changed()).await;
                continue;
            }
            let mut appended = queue.partition().log().subscribe();
            appended.mark_unchanged();
            let now = now_ms();
            let got = match queue.receive(now, room.min(64), now + HOLD_MS, deliveries.holder) {
                Ok(got) => got,
                Err(e) => {
                    tracing::warn!(error = %e, "amqp consumer cannot read its queue");
                    return;
                }
            };
            gateway.dead_letter_received(&queue, &got.expired, &got.dead);
            if got.delivered.is_empty() {
                let _ = tokio::time::timeout(Duration::from_secs(1), appended.changed()).await;
                continue;
            }
            for record in got.delivered {
                let held = (!no_ack).then(|| (Arc::clone(&queue), record.offset));
                let delivery_tag = deliveries.register(held);
                let env = envelope(&record);
                let method = AMQPClass::Basic(basic::AMQPMethod::Deliver(basic::Deliver {
                    consumer_tag: tag.as_str().into(),
                    delivery_tag,
                    redelivered: record.deliveries > 1,
                    exchange: env.exchange.into(),
                    routing_key: env.routing_key.into(),
                }));
                let body = record.value.clone().unwrap_or_default();
                if no_ack {
                    let _ = queue.ack(&[record.offset], Some(deliveries.holder));
                }
                if !send_content(&out, channel, method, env.properties, &body, frame_max).await {
                    return;
                }
            }
        }
    })
}
