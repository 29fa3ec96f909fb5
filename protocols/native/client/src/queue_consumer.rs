//! The queue consumer: records pushed under a lock, settled one by one with ack or nack.

use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use neo_native::wire::Message;
use tokio::sync::mpsc;

use crate::client::{Client, unexpected};
use crate::connection::Connection;
use crate::error::ClientError;
use crate::subscription_slot::{Slot, resubscribe};

/// A record from a queue, held for this consumer until acked, nacked or its lock ends.
#[derive(Debug, Clone)]
pub struct QueueMessage {
    /// The record's offset in the queue's log.
    pub offset: i64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// Deliveries so far, this one included (more than 1: redelivered).
    pub deliveries: u32,
    /// The record's key.
    pub key: Option<Bytes>,
    /// The record's value (the message body).
    pub value: Option<Bytes>,
    connection: Weak<Connection>,
    subscription: u32,
}

impl QueueMessage {
    /// Settles the record: it is not delivered again.
    pub async fn ack(&self) -> Result<(), ClientError> {
        self.settle(Message::Ack {
            subscription: self.subscription,
            offsets: vec![self.offset],
        })
        .await
    }

    /// Gives the record back: delivered again if `requeue`, else archived (not delivered
    /// again).
    pub async fn nack(&self, requeue: bool) -> Result<(), ClientError> {
        self.settle(Message::Nack {
            subscription: self.subscription,
            offsets: vec![self.offset],
            requeue,
        })
        .await
    }

    /// Keeps the record held for `lock` from now (work that takes longer than the lock).
    pub async fn extend(&self, lock: Duration) -> Result<(), ClientError> {
        self.settle(Message::Extend {
            subscription: self.subscription,
            offsets: vec![self.offset],
            lock_ms: u32::try_from(lock.as_millis()).unwrap_or(u32::MAX),
        })
        .await
    }

    async fn settle(&self, message: Message) -> Result<(), ClientError> {
        // Held records belong to the connection that received them: a new connection cannot
        // settle them (the broker released them when the old one closed).
        let connection = self.connection.upgrade().ok_or(ClientError::Closed)?;
        match connection.request(message).await? {
            Message::Ok => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

/// A `Stream` of queue records; at most `prefetch` are held unsettled at once. After a
/// reconnect it subscribes again (records it held were released by the broker and are
/// delivered again).
pub struct QueueConsumer {
    messages: mpsc::UnboundedReceiver<Result<QueueMessage, ClientError>>,
    slot: Arc<Slot>,
}

impl QueueConsumer {
    pub(crate) async fn start(
        client: Client,
        queue: &str,
        prefetch: u32,
        lock: Duration,
    ) -> Result<QueueConsumer, ClientError> {
        let subscribe = Message::QueueSubscribe {
            queue: queue.to_string(),
            prefetch,
            lock_ms: u32::try_from(lock.as_millis()).unwrap_or(u32::MAX),
        };
        let (connection, subscription, _, pushes) = resubscribe(&client, subscribe.clone()).await?;
        let slot = Arc::new(Slot::new(&connection, subscription));
        // Unbounded only in name: the broker pushes at most `prefetch` unsettled records.
        let (handover, messages) = mpsc::unbounded_channel();
        tokio::spawn(feed(client, subscribe, Arc::clone(&slot), pushes, handover));
        Ok(QueueConsumer { messages, slot })
    }
}

/// Hands pushed records to the application, subscribing again after a reconnect.
async fn feed(
    client: Client,
    subscribe: Message,
    slot: Arc<Slot>,
    mut pushes: mpsc::UnboundedReceiver<Message>,
    handover: mpsc::UnboundedSender<Result<QueueMessage, ClientError>>,
) {
    loop {
        let (connection, subscription) = slot.current();
        let weak = connection.as_ref().map(Arc::downgrade).unwrap_or_default();
        drop(connection);
        while let Some(push) = pushes.recv().await {
            let batch = match push {
                Message::QueueRecords { records } => records,
                Message::Error { code, message } => {
                    let _ = handover.send(Err(ClientError::refused(code, message)));
                    return;
                }
                other => {
                    let _ = handover.send(Err(unexpected(&other)));
                    return;
                }
            };
            for r in batch {
                let message = QueueMessage {
                    offset: r.offset,
                    timestamp: r.timestamp,
                    deliveries: r.deliveries,
                    key: r.key,
                    value: r.value,
                    connection: weak.clone(),
                    subscription,
                };
                if handover.send(Ok(message)).is_err() {
                    return;
                }
            }
        }
        // The pushes ended: unsubscribed (the consumer is gone) or the connection was lost.
        if handover.is_closed() {
            return;
        }
        match resubscribe(&client, subscribe.clone()).await {
            Ok((connection, id, _, fresh)) => {
                slot.set(&connection, id);
                pushes = fresh;
            }
            Err(e) => {
                let _ = handover.send(Err(e));
                return;
            }
        }
    }
}

impl Drop for QueueConsumer {
    fn drop(&mut self) {
        // Closed first, so the feed task sees the consumer gone and does not subscribe again.
        self.messages.close();
        self.slot.unsubscribe();
    }
}

impl Stream for QueueConsumer {
    type Item = Result<QueueMessage, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.messages.poll_recv(cx)
    }
}
