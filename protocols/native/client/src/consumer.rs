//! The push consumer of one partition: a background task keeps the subscription open
//! (re-subscribing after the last delivered record when the connection is re-established)
//! and hands records over a bounded channel, granting the broker credit only for what it
//! has handed over, so a slow application slows the broker's pushes instead of filling memory.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use neo_native::wire::{Message, StartAt};
use tokio::sync::mpsc;

use crate::client::Client;
use crate::error::ClientError;
use crate::record::{ConsumedRecord, decode_batches};
use crate::subscription_slot::{Slot, resubscribe};

/// Bytes of credit a subscription starts with (and keeps topping up).
const CREDIT_WINDOW: u32 = 1024 * 1024;
/// Records handed over but not yet taken by the application.
const HANDOVER_RECORDS: usize = 4096;

/// A `Stream` of the records of one partition, in offset order.
pub struct Consumer {
    records: mpsc::Receiver<Result<ConsumedRecord, ClientError>>,
    slot: std::sync::Arc<Slot>,
}

impl Drop for Consumer {
    fn drop(&mut self) {
        // Closed first, so the feed task sees the consumer gone and does not subscribe again.
        self.records.close();
        self.slot.unsubscribe();
    }
}

impl Consumer {
    pub(crate) async fn start(
        client: Client,
        topic: &str,
        partition: i32,
        start: StartAt,
    ) -> Result<Consumer, ClientError> {
        let subscribe = subscribe_message(topic, partition, start);
        let (connection, id, offset, pushes) = resubscribe(&client, subscribe).await?;
        let slot = std::sync::Arc::new(Slot::new(&connection, id));
        let (handover, records) = mpsc::channel(HANDOVER_RECORDS);
        let feed = Feed {
            client,
            topic: topic.to_string(),
            partition,
            next_offset: offset,
            handover,
            slot: std::sync::Arc::clone(&slot),
        };
        tokio::spawn(feed.run(connection, id, pushes));
        Ok(Consumer { records, slot })
    }
}

impl Stream for Consumer {
    type Item = Result<ConsumedRecord, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.records.poll_recv(cx)
    }
}

fn subscribe_message(topic: &str, partition: i32, start: StartAt) -> Message {
    Message::Subscribe {
        topic: topic.to_string(),
        partition,
        start,
        credit: CREDIT_WINDOW,
    }
}

/// The task between a subscription and the application.
struct Feed {
    client: Client,
    topic: String,
    partition: i32,
    /// The offset after the last record handed over: where a resumed subscription starts.
    next_offset: i64,
    handover: mpsc::Sender<Result<ConsumedRecord, ClientError>>,
    slot: std::sync::Arc<Slot>,
}

impl Feed {
    async fn run(
        mut self,
        mut connection: std::sync::Arc<crate::connection::Connection>,
        mut id: u32,
        mut pushes: mpsc::UnboundedReceiver<Message>,
    ) {
        loop {
            match self.deliver(&connection, id, &mut pushes).await {
                Delivery::ApplicationGone => {
                    connection.unsubscribe(id);
                    return;
                }
                Delivery::Failed(e) => {
                    let _ = self.handover.send(Err(e)).await;
                    return;
                }
                Delivery::ConnectionLost if self.handover.is_closed() => return,
                Delivery::ConnectionLost => {}
            }
            // Resume after the last record handed over, on a new connection.
            let start = StartAt::Offset(self.next_offset);
            let subscribe = subscribe_message(&self.topic, self.partition, start);
            match resubscribe(&self.client, subscribe).await {
                Ok((fresh, fresh_id, _, fresh_pushes)) => {
                    self.slot.set(&fresh, fresh_id);
                    connection = fresh;
                    id = fresh_id;
                    pushes = fresh_pushes;
                }
                Err(e) => {
                    let _ = self.handover.send(Err(e)).await;
                    return;
                }
            }
        }
    }

    async fn deliver(
        &mut self,
        connection: &crate::connection::Connection,
        id: u32,
        pushes: &mut mpsc::UnboundedReceiver<Message>,
    ) -> Delivery {
        let mut decoded = Vec::new();
        while let Some(push) = pushes.recv().await {
            let records = match push {
                Message::Records { records, .. } => records,
                Message::Error { code, message } => {
                    return Delivery::Failed(ClientError::refused(code, message));
                }
                other => {
                    return Delivery::Failed(ClientError::Protocol(format!(
                        "unexpected push {:?}",
                        other.kind()
                    )));
                }
            };
            decoded.clear();
            let from = self.next_offset;
            if let Err(e) =
                decode_batches(&self.topic, self.partition, &records, from, &mut decoded)
            {
                return Delivery::Failed(ClientError::Batch(e));
            }
            for record in decoded.drain(..) {
                let next = record.offset + 1;
                if self.handover.send(Ok(record)).await.is_err() {
                    return Delivery::ApplicationGone;
                }
                self.next_offset = next;
            }
            let bytes = u32::try_from(records.len()).unwrap_or(u32::MAX);
            let credit = Message::Credit {
                subscription: id,
                bytes,
            };
            if connection.send(connection.next_id(), &credit).is_err() {
                return Delivery::ConnectionLost;
            }
        }
        Delivery::ConnectionLost
    }
}

enum Delivery {
    ApplicationGone,
    ConnectionLost,
    Failed(ClientError),
}
