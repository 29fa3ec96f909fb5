//! The group consumer: the broker makes this client a member of a consumer group (shared with
//! Kafka clients of the same group) and pushes the records of the partitions assigned to it,
//! from the group's committed offsets; rebalances move partitions between members.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use neo_native::wire::Message;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::client::{Client, unexpected};
use crate::error::ClientError;
use crate::record::{ConsumedRecord, decode_batches};
use crate::subscription_slot::{Slot, resubscribe};

/// Bytes of credit the subscription starts with and keeps topping up.
const CREDIT_WINDOW: u32 = 1024 * 1024;
/// Records handed over but not yet taken by the application.
const HANDOVER_RECORDS: usize = 4096;

/// A `Stream` of the records of the partitions assigned to this member. After a reconnect it
/// joins the group again and continues from the group's committed offsets.
pub struct GroupConsumer {
    records: mpsc::Receiver<Result<ConsumedRecord, ClientError>>,
    assignment: Arc<Mutex<Vec<i32>>>,
    slot: Arc<Slot>,
}

impl GroupConsumer {
    pub(crate) async fn start(
        client: &Client,
        group: &str,
        topic: &str,
    ) -> Result<GroupConsumer, ClientError> {
        let subscribe = Message::GroupSubscribe {
            group: group.to_string(),
            topic: topic.to_string(),
            credit: CREDIT_WINDOW,
        };
        let (connection, subscription, _, pushes) = resubscribe(client, subscribe.clone()).await?;
        let slot = Arc::new(Slot::new(&connection, subscription));
        let (handover, records) = mpsc::channel(HANDOVER_RECORDS);
        let assignment = Arc::new(Mutex::new(Vec::new()));
        let feed = Feed {
            client: client.clone(),
            subscribe,
            topic: topic.to_string(),
            slot: Arc::clone(&slot),
            assignment: Arc::clone(&assignment),
            handover,
        };
        tokio::spawn(feed.run(pushes));
        Ok(GroupConsumer {
            records,
            assignment,
            slot,
        })
    }

    /// The partitions assigned to this member now (empty until the first assignment).
    pub fn assignment(&self) -> Vec<i32> {
        self.assignment.lock().clone()
    }

    /// Commits `offset` (the next offset to read) for an assigned partition, in the member's
    /// current generation; Kafka members of the group see it.
    pub async fn commit(&self, partition: i32, offset: i64) -> Result<(), ClientError> {
        let (Some(connection), subscription) = self.slot.current() else {
            return Err(ClientError::Closed);
        };
        let request = Message::GroupCommit {
            subscription,
            partition,
            offset,
        };
        match connection.request(request).await? {
            Message::Ok => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

impl Drop for GroupConsumer {
    fn drop(&mut self) {
        // Closed first, so the feed task sees the consumer gone and does not subscribe again.
        self.records.close();
        self.slot.unsubscribe();
    }
}

/// The task between the group subscription and the application.
struct Feed {
    client: Client,
    subscribe: Message,
    topic: String,
    slot: Arc<Slot>,
    assignment: Arc<Mutex<Vec<i32>>>,
    handover: mpsc::Sender<Result<ConsumedRecord, ClientError>>,
}

impl Feed {
    async fn run(self, mut pushes: mpsc::UnboundedReceiver<Message>) {
        loop {
            if let Err(e) = self.deliver(&mut pushes).await {
                let _ = self.handover.send(Err(e)).await;
                return;
            }
            if self.handover.is_closed() {
                return;
            }
            // The connection was lost: join again on a new one.
            self.assignment.lock().clear();
            match resubscribe(&self.client, self.subscribe.clone()).await {
                Ok((connection, id, _, fresh)) => {
                    self.slot.set(&connection, id);
                    pushes = fresh;
                }
                Err(e) => {
                    let _ = self.handover.send(Err(e)).await;
                    return;
                }
            }
        }
    }

    /// Hands records over until the pushes end (Ok) or fail (Err).
    async fn deliver(
        &self,
        pushes: &mut mpsc::UnboundedReceiver<Message>,
    ) -> Result<(), ClientError> {
        let mut next: HashMap<i32, i64> = HashMap::new();
        let mut decoded = Vec::new();
        while let Some(push) = pushes.recv().await {
            match push {
                Message::Assigned { partitions, .. } => {
                    next = partitions.iter().copied().collect();
                    *self.assignment.lock() = partitions.iter().map(|(p, _)| *p).collect();
                }
                Message::Records {
                    partition, records, ..
                } => {
                    // Pushes of a partition no longer assigned are dropped.
                    let Some(from) = next.get(&partition).copied() else {
                        continue;
                    };
                    decoded.clear();
                    decode_batches(&self.topic, partition, &records, from, &mut decoded)
                        .map_err(ClientError::Batch)?;
                    for record in decoded.drain(..) {
                        next.insert(partition, record.offset + 1);
                        if self.handover.send(Ok(record)).await.is_err() {
                            return Ok(());
                        }
                    }
                    if let (Some(connection), subscription) = self.slot.current() {
                        let credit = Message::Credit {
                            subscription,
                            bytes: u32::try_from(records.len()).unwrap_or(u32::MAX),
                        };
                        let _ = connection.send(connection.next_id(), &credit);
                    }
                }
                Message::Error { code, message } => {
                    return Err(ClientError::refused(code, message));
                }
                other => return Err(unexpected(&other)),
            }
        }
        Ok(())
    }
}

impl Stream for GroupConsumer {
    type Item = Result<ConsumedRecord, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.records.poll_recv(cx)
    }
}
