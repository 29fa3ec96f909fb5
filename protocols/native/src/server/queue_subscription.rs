//! Queue subscriptions: records acquired from the queue cursor are pushed with a lock; the
//! client acks (settles) or nacks (requeues or archives) them. At most `prefetch` records are
//! held unsettled by one subscription (see [`Holds`]). The queue may be led by another broker:
//! every operation goes through a [`QueueHandle`].

use std::sync::Arc;
use std::time::Duration;

use neo_broker::BrokerError;
use neo_broker::acls::{Operation, Resource};
use neo_broker::queue_handle::{QueueHandle, Settlement};
use neo_broker::queues::{CursorError, QueueConfig, QueuedRecord};
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
/// How long a consumer waits before reading its queue again after a failure (a failover).
const RETRY: Duration = Duration::from_millis(200);
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
    if broker.topic(name).is_none() {
        let reply = error(
            ErrorCode::UnknownTopicOrPartition,
            format!("no queue {name}"),
        );
        connection.send(id, reply).await;
        return;
    }
    // Served by whichever broker leads the queue, this one or another.
    let queue = broker.queue_handle(name, QueueConfig::default());
    let holder = connection.context.next_holder();
    let lock_ms = lock_ms.clamp(LOCK_MS_RANGE.0, LOCK_MS_RANGE.1);
    connection.send(id, Message::Subscribed { offset: 0 }).await;
    let holds = Arc::new(Holds::new(usize::try_from(prefetch).unwrap_or(usize::MAX)));
    let task = tokio::spawn(push(
        id,
        queue.clone(),
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
    let how = match requeue {
        None => Settlement::Ack,
        Some(true) => Settlement::Release,
        Some(false) => Settlement::Archive,
    };
    holds.release(offsets);
    let out = connection.out.clone();
    let held = offsets.to_vec();
    tokio::spawn(async move {
        let reply = match queue.settle(how, &held, Some(holder)).await {
            Err(e) => broker_error(&e),
            Ok(results) => match not_held(&held, &results) {
                Some(reply) => reply,
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

/// The error for the first offset `results` says was not held, if any.
fn not_held(offsets: &[i64], results: &[Result<(), CursorError>]) -> Option<Message> {
    let i = results.iter().position(Result::is_err)?;
    Some(error(
        ErrorCode::InvalidRequest,
        format!(
            "offset {} is not held by this subscription",
            offsets.get(i).copied().unwrap_or(-1)
        ),
    ))
}

/// Acquires and pushes records while there is room; ends when the connection does or the
/// queue is gone. While the queue has no leader (a failover) it tries again.
async fn push(
    id: u32,
    queue: QueueHandle,
    holder: u64,
    lock_ms: i64,
    holds: Arc<Holds>,
    out: mpsc::Sender<bytes::Bytes>,
) {
    loop {
        let room = holds.wait_room(now_ms).await;
        let now = now_ms();
        let max = room.min(RECEIVE_BATCH);
        let received = match queue
            .receive(now, max, now + lock_ms, holder, false, IDLE_RECHECK)
            .await
        {
            Ok(received) => received,
            Err(
                e @ (BrokerError::PartitionClosed | BrokerError::UnknownTopicOrPartition { .. }),
            ) => {
                let _ = out.send(broker_error(&e).to_frame(id)).await;
                return;
            }
            Err(e) => {
                tracing::debug!(queue = queue.topic(), error = %e, "native queue consumer cannot read its queue yet");
                if out.is_closed() {
                    return;
                }
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        if received.delivered.is_empty() {
            if out.is_closed() {
                return;
            }
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
    let out = connection.out.clone();
    let held = offsets.to_vec();
    tokio::spawn(async move {
        let reply = match queue.set_deadline(&held, Some(holder), deadline).await {
            Ok(each) => not_held(&held, &each).unwrap_or(Message::Ok),
            Err(e) => broker_error(&e),
        };
        let _ = out.send(reply.to_frame(correlation)).await;
    });
}
