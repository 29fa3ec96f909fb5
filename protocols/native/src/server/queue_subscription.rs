//! Queue subscriptions: records acquired from the queue cursor are pushed with a lock; the
//! client acks (settles) or nacks (requeues or archives) them. At most `prefetch` records are
//! held unsettled by one subscription (see [`Holds`]).

use std::sync::Arc;
use std::time::Duration;

use neo_broker::acls::{Operation, Resource};
use neo_broker::queues::{Queue, QueueConfig, QueuedRecord};
use neo_record::now_ms;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::connection::Connection;
use super::credit::Credit;
use super::error_map::{authorize, broker_error, error};
use super::queue_holds::Holds;
use super::subscription::check_room;
use super::subscription_handle::{QueueSubscription, SubscriptionHandle};
use crate::wire::{ErrorCode, Message, QueueRecord};

/// Records acquired per cursor call.
const RECEIVE_BATCH: usize = 256;
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
    // A queue is its topic; its consumers are the group of the queue's name.
    let broker = &connection.context.broker;
    let caller = &connection.caller;
    let allowed = check_room(connection, id)
        .and_then(|()| authorize(broker, caller, Operation::Read, Resource::topic(name)))
        .and_then(|()| authorize(broker, caller, Operation::Read, Resource::group(name)));
    if let Err(reply) = allowed {
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
        .await
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
    let holds = Arc::new(Holds::new(usize::try_from(prefetch).unwrap_or(usize::MAX)));
    let task = tokio::spawn(push(
        id,
        Arc::clone(&queue),
        holder,
        i64::from(lock_ms),
        Arc::clone(&holds),
        connection.out.clone(),
    ));
    connection.subscriptions.insert(
        id,
        SubscriptionHandle {
            // Queue subscriptions take no byte credit: their room is in `holds`.
            credit: Arc::new(Credit::new(0, 0)),
            task,
            queue: Some(QueueSubscription {
                queue,
                holder,
                holds,
            }),
            group: None,
        },
    );
}

/// Acks (`requeue` None) or nacks records of a subscription, answering once the cursor
/// change is durable; the settled records' room goes back to the subscription.
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
    let Some(QueueSubscription {
        queue,
        holder,
        holds,
    }) = handle.queue.clone()
    else {
        let reply = error(ErrorCode::InvalidRequest, "not a queue subscription");
        connection.send(correlation, reply).await;
        return;
    };
    let settled = match requeue {
        None => queue.ack(offsets, Some(holder)),
        Some(true) => queue.release(offsets, Some(holder)),
        Some(false) => queue.archive(offsets, Some(holder)),
    };
    holds.release(offsets);
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

/// Acquires and pushes records while there is room; ends when the connection does.
async fn push(
    id: u32,
    queue: Arc<Queue>,
    holder: u64,
    lock_ms: i64,
    holds: Arc<Holds>,
    out: mpsc::Sender<bytes::Bytes>,
) {
    let mut positions = queue.partition().watch();
    loop {
        let room = holds.wait_room(now_ms).await;
        positions.mark_unchanged();
        let now = now_ms();
        let max = room.min(RECEIVE_BATCH);
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
        holds.hold(received.delivered.iter().map(|r| r.offset), now + lock_ms);
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

/// Moves the lock of held records to `lock_ms` from now (a consumer that needs longer).
pub(crate) async fn extend(
    connection: &Connection,
    correlation: u32,
    subscription: u32,
    offsets: &[i64],
    lock_ms: u32,
) {
    let Some(QueueSubscription {
        queue,
        holder,
        holds,
    }) = connection
        .subscriptions
        .get(&subscription)
        .and_then(|s| s.queue.clone())
    else {
        let reply = error(ErrorCode::UnknownSubscription, "no such queue subscription");
        connection.send(correlation, reply).await;
        return;
    };
    let deadline = now_ms() + i64::from(lock_ms.clamp(LOCK_MS_RANGE.0, LOCK_MS_RANGE.1));
    holds.extend(offsets, deadline);
    let reply = match queue.set_deadline(offsets, Some(holder), deadline) {
        Ok(each) => match offsets.iter().zip(each).find(|(_, r)| r.is_err()) {
            Some((offset, _)) => error(
                ErrorCode::InvalidRequest,
                format!("offset {offset} is not held by this subscription"),
            ),
            None => Message::Ok,
        },
        Err(e) => broker_error(&e),
    };
    connection.send(correlation, reply).await;
}
