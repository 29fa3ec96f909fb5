//! Partition subscriptions: the server pushes batches as they become readable, as far as the
//! client's credit (in bytes) allows, so a slow consumer costs the broker one batch at most.

use std::sync::Arc;

use neo_broker::acls::{Operation, Resource};
use neo_broker::{BrokerError, OffsetSpec, Partition};
use tokio::sync::mpsc;

use super::connection::Connection;
use super::credit::Credit;
use super::error_map::{authorize, broker_error, error};
use super::subscription_handle::SubscriptionHandle;
use crate::wire::{ErrorCode, Message, StartAt};

/// Bytes of frame header and fields around the records of a push.
pub(crate) const PUSH_OVERHEAD: usize = 64;

/// Starts a subscription whose id is the request's correlation id.
pub(crate) async fn start(
    connection: &mut Connection,
    id: u32,
    topic: &str,
    partition: i32,
    start: StartAt,
    credit: u32,
) {
    let broker = &connection.context.broker;
    let allowed = check_room(connection, id).and_then(|()| {
        authorize(
            broker,
            &connection.caller,
            Operation::Read,
            Resource::topic(topic),
        )
    });
    if let Err(reply) = allowed {
        connection.send(id, reply).await;
        return;
    }
    // Pushed by the partition's leader only: its followers may be behind it.
    let resolved = broker
        .leader_partition(topic, partition, None)
        .and_then(|p| Ok((start_offset(&p, start)?, p)));
    let (offset, partition) = match resolved {
        Ok(found) => found,
        Err(reply) => {
            connection.send(id, broker_error(&reply)).await;
            return;
        }
    };
    connection.send(id, Message::Subscribed { offset }).await;
    let config = &connection.context.config;
    let credit = Arc::new(Credit::new(credit, config.max_credit_bytes));
    let max_push = config.max_frame_bytes.saturating_sub(PUSH_OVERHEAD).max(1);
    let task = tokio::spawn(push(
        id,
        partition,
        offset,
        Arc::clone(&credit),
        max_push,
        connection.out.clone(),
    ));
    connection.subscriptions.insert(
        id,
        SubscriptionHandle {
            credit,
            task,
            queue: None,
            group: None,
        },
    );
}

/// Refuses a subscription id already in use or one subscription too many.
pub(crate) fn check_room(connection: &Connection, id: u32) -> Result<(), Message> {
    if connection.subscriptions.contains_key(&id) {
        return Err(error(
            ErrorCode::InvalidRequest,
            format!("subscription {id} already exists"),
        ));
    }
    if connection.subscriptions.len() >= connection.context.config.max_subscriptions {
        return Err(error(ErrorCode::InvalidRequest, "too many subscriptions"));
    }
    Ok(())
}

fn start_offset(partition: &Partition, start: StartAt) -> Result<i64, BrokerError> {
    Ok(match start {
        StartAt::Earliest => partition.log_start_offset(),
        StartAt::Latest => partition.high_watermark(),
        StartAt::Offset(offset) => partition.check_offset(offset)?,
        StartAt::Timestamp(ts) => partition
            .list_offset(OffsetSpec::Timestamp(ts))?
            .map_or_else(|| partition.high_watermark(), |found| found.offset),
    })
}

/// Pushes batches from `offset` on while credit lasts; ends when the connection does.
pub(crate) async fn push(
    id: u32,
    partition: Arc<Partition>,
    mut offset: i64,
    credit: Arc<Credit>,
    max_push: usize,
    out: mpsc::Sender<bytes::Bytes>,
) {
    let mut positions = partition.watch();
    loop {
        let available = credit.wait_positive().await;
        positions.mark_unchanged();
        let limit = usize::try_from(available)
            .unwrap_or(usize::MAX)
            .min(max_push);
        let slice = match partition.read(offset, limit) {
            Ok(slice) => slice,
            Err(e) => {
                let _ = out.send(broker_error(&e).to_frame(id)).await;
                return;
            }
        };
        if slice.records.is_empty() {
            if positions.changed().await.is_err() {
                return;
            }
            continue;
        }
        credit.spend(slice.records.len());
        offset = slice.next_offset;
        let push = Message::Records {
            partition: partition.index(),
            high_watermark: slice.high_watermark,
            records: slice.records,
        };
        if out.send(push.to_frame(id)).await.is_err() {
            return;
        }
    }
}
