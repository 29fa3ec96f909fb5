//! Queue subscriptions: records acquired from the queue cursor are pushed with a lock; the
//! client acks (settles) or nacks (requeues or archives) them. Credit counts records: at most
//! `prefetch` are held unsettled by one subscription.

use std::sync::Arc;
use std::time::Duration;

use neo_broker::queues::{Queue, QueueConfig, QueuedRecord};
use neo_storage::now_ms;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::connection::{Connection, SubscriptionHandle};
use super::credit::Credit;
use super::error_map::{broker_error, error};
use super::subscription::check_room;
use crate::wire::{ErrorCode, Message, QueueRecord};

/// Records acquired per cursor call.
const RECEIVE_BATCH: u64 = 256;
/// Longest wait between looks at the cursor when nothing is appended (locks that end and
/// delayed records become deliverable without an append).
const IDLE_RECHECK: Duration = Duration::from_millis(200);
/// Shortest and longest lock a client may ask for.
const LOCK_MS_RANGE: (u32, u32) = (100, 12 * 60 * 60 * 1000);

/// Starts a queue subscription whose id is the request's correlation id.
pub(crate) async fn start(
    connection: &mut Connection,
    id: u32,
    name: &str,
    prefetch: u32,
    lock_ms: u32,
) {
    if let Err(reply) = check_room(connection, id) {
        connection.send(id, reply).await;
        return;
    }
    let config = &connection.context.config;
    if prefetch == 0 || prefetch > config.max_prefetch {
        let reply = error(
            ErrorCode::InvalidRequest,
            format!("prefetch must be 1..={}", config.max_prefetch),
        );
        connection.send(id, reply).await;
        return;
    }
    let queue = match connection
        .context
        .broker
        .queue(name, QueueConfig::default())
    {
        Ok(queue) => queue,
        Err(e) => {
            connection.send(id, broker_error(&e)).await;
            return;
        }
    };
    // Random holder ids keep apart from the other front-ends' consumers of the same queue.
    let holder: u64 = rand::random::<u64>() | (1 << 63);
    let lock_ms = lock_ms.clamp(LOCK_MS_RANGE.0, LOCK_MS_RANGE.1);
    connection.send(id, Message::Subscribed { offset: 0 }).await;
    let credit = Arc::new(Credit::new(prefetch, prefetch));
    let task = tokio::spawn(push(
        id,
        Arc::clone(&queue),
        holder,
        i64::from(lock_ms),
        Arc::clone(&credit),
        connection.out.clone(),
    ));
    connection.subscriptions.insert(
        id,
        SubscriptionHandle {
            credit,
            task,
            queue: Some((queue, holder)),
            group: None,
        },
    );
}

/// Acks (`requeue` None) or nacks records of a subscription, answering once the cursor
/// change is durable; the settled records' credit goes back to the subscription.
pub(crate) async fn settle(
    connection: &Connection,
    correlation: u32,
    subscription: u32,
    offsets: &[i64],
    requeue: Option<bool>,
    permit: Option<OwnedSemaphorePermit>,
) {
    let Some(handle) = connection.subscriptions.get(&subscription) else {
        let reply = error(ErrorCode::UnknownSubscription, "no such subscription");
        connection.send(correlation, reply).await;
        return;
    };
    let Some((queue, holder)) = handle.queue.clone() else {
        let reply = error(ErrorCode::InvalidRequest, "not a queue subscription");
        connection.send(correlation, reply).await;
        return;
    };
    let settled = match requeue {
        None => queue.ack(offsets, Some(holder)),
        Some(true) => queue.release(offsets, Some(holder)),
        Some(false) => queue.archive(offsets, Some(holder)),
    };
    handle
        .credit
        .grant(u32::try_from(offsets.len()).unwrap_or(u32::MAX));
    let out = connection.out.clone();
    let held = offsets.to_vec();
    tokio::spawn(async move {
        let reply = match settled {
            Err(e) => broker_error(&e),
            Ok(results) => match results.iter().position(Result::is_err) {
                Some(i) => error(
                    ErrorCode::InvalidRequest,
                    format!(
                        "offset {} is not held by this subscription",
                        held.get(i).copied().unwrap_or(-1)
                    ),
                ),
                None => match queue.sync().await {
                    Ok(()) => Message::Ok,
                    Err(e) => broker_error(&e),
                },
            },
        };
        let _ = out.send(reply.to_frame(correlation)).await;
        drop(permit);
    });
}

/// Acquires and pushes records while credit lasts; ends when the connection does.
async fn push(
    id: u32,
    queue: Arc<Queue>,
    holder: u64,
    lock_ms: i64,
    credit: Arc<Credit>,
    out: mpsc::Sender<bytes::Bytes>,
) {
    let mut positions = queue.partition().log().subscribe();
    loop {
        let room = credit.wait_positive().await;
        positions.mark_unchanged();
        let now = now_ms();
        let max = usize::try_from(room.min(RECEIVE_BATCH)).unwrap_or(1);
        let received = match queue.receive(now, max, now + lock_ms, holder) {
            Ok(received) => received,
            Err(e) => {
                let _ = out.send(broker_error(&e).to_frame(id)).await;
                return;
            }
        };
        if received.delivered.is_empty() {
            let _ = tokio::time::timeout(IDLE_RECHECK, positions.changed()).await;
            continue;
        }
        credit.spend(received.delivered.len());
        let records = received.delivered.into_iter().map(wire_record).collect();
        if out
            .send(Message::QueueRecords { records }.to_frame(id))
            .await
            .is_err()
        {
            return;
        }
    }
}

fn wire_record(r: QueuedRecord) -> QueueRecord {
    QueueRecord {
        offset: r.offset,
        timestamp: r.timestamp,
        deliveries: r.deliveries,
        key: r.key,
        value: r.value,
    }
}
