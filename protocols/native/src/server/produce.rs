//! Produce: batches in the log's format appended as they arrived, in arrival order; the
//! acknowledgement waits (for fsync, with acks=durable) run concurrently.

use bytes::BytesMut;
use neo_broker::Acks;
use neo_broker::acls::{Operation, Resource};
use tokio::sync::OwnedSemaphorePermit;

use super::connection::Connection;
use super::error_map::{authorize, broker_error};
use crate::wire::Message;

/// Appends `records` and answers at the level `acks` asks (0 none, 1 leader, 2 durable).
pub(crate) async fn handle(
    connection: &Connection,
    correlation: u32,
    topic: &str,
    partition: i32,
    acks: u8,
    records: BytesMut,
    permit: Option<OwnedSemaphorePermit>,
) {
    let broker = &connection.context.broker;
    if let Err(refused) = authorize(
        broker,
        &connection.caller,
        Operation::Write,
        Resource::topic(topic),
    ) {
        if acks != 0 {
            connection.send(correlation, refused).await;
        }
        return;
    }
    let appended = connection
        .context
        .broker
        .append(topic, partition, records.freeze(), native_acks(acks))
        .await;
    let appended = match appended {
        Ok(appended) => appended,
        Err(e) => {
            tracing::debug!(topic, partition, error = %e, "native produce refused");
            if acks != 0 {
                connection.send(correlation, broker_error(&e)).await;
            }
            return;
        }
    };
    match acks {
        0 => {}
        1 => {
            let outcome = appended.outcome();
            let reply = Message::Produced {
                base_offset: outcome.base_offset,
                last_offset: outcome.last_offset,
            };
            connection.send(correlation, reply).await;
        }
        _ => {
            let out = connection.out.clone();
            tokio::spawn(async move {
                let reply = match appended.acknowledged(Acks::All).await {
                    Ok(outcome) => Message::Produced {
                        base_offset: outcome.base_offset,
                        last_offset: outcome.last_offset,
                    },
                    Err(e) => broker_error(&e),
                };
                let _ = out.send(reply.to_frame(correlation)).await;
                drop(permit);
            });
        }
    }
}

/// The broker's acknowledgement level for the native protocol's `acks` byte (0 none, 1 the
/// leader, anything else durable on the replicas).
fn native_acks(acks: u8) -> Acks {
    match acks {
        0 => Acks::None,
        1 => Acks::Leader,
        _ => Acks::All,
    }
}
