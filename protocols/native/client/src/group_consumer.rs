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
use crate::connection::Connection;
use crate::error::ClientError;
use crate::record::{ConsumedRecord, decode_batches};

/// Bytes of credit the subscription starts with and keeps topping up.
const CREDIT_WINDOW: u32 = 1024 * 1024;
/// Records handed over but not yet taken by the application.
const HANDOVER_RECORDS: usize = 4096;

/// A `Stream` of the records of the partitions assigned to this member.
pub struct GroupConsumer {
    records: mpsc::Receiver<Result<ConsumedRecord, ClientError>>,
    assignment: Arc<Mutex<Vec<i32>>>,
    connection: Arc<Connection>,
    subscription: u32,
}

impl GroupConsumer {
    pub(crate) async fn start(
        client: &Client,
        group: &str,
        topic: &str,
    ) -> Result<GroupConsumer, ClientError> {
        let connection = client.connection().await?;
        let subscription = connection.next_id();
        let subscribe = Message::GroupSubscribe {
            group: group.to_string(),
            topic: topic.to_string(),
            credit: CREDIT_WINDOW,
        };
        let (_, mut pushes) = connection.subscribe(subscription, subscribe).await?;
        let (handover, records) = mpsc::channel(HANDOVER_RECORDS);
        let assignment = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&assignment);
        let feed_connection = Arc::clone(&connection);
        let topic = topic.to_string();
        tokio::spawn(async move {
            let mut next: HashMap<i32, i64> = HashMap::new();
            let mut decoded = Vec::new();
            while let Some(push) = pushes.recv().await {
                match push {
                    Message::Assigned { partitions, .. } => {
                        next = partitions.iter().copied().collect();
                        *shared.lock() = partitions.iter().map(|(p, _)| *p).collect();
                    }
                    Message::Records {
                        partition, records, ..
                    } => {
                        // Pushes of a partition no longer assigned are dropped.
                        let Some(from) = next.get(&partition).copied() else {
                            continue;
                        };
                        decoded.clear();
                        if let Err(e) =
                            decode_batches(&topic, partition, &records, from, &mut decoded)
                        {
                            let _ = handover.send(Err(ClientError::Batch(e))).await;
                            return;
                        }
                        for record in decoded.drain(..) {
                            next.insert(partition, record.offset + 1);
                            if handover.send(Ok(record)).await.is_err() {
                                return;
                            }
                        }
                        let credit = Message::Credit {
                            subscription,
                            bytes: u32::try_from(records.len()).unwrap_or(u32::MAX),
                        };
                        let _ = feed_connection.send(feed_connection.next_id(), &credit);
                    }
                    Message::Error { code, message } => {
                        let _ = handover
                            .send(Err(ClientError::Broker { code, message }))
                            .await;
                        return;
                    }
                    other => {
                        let _ = handover.send(Err(unexpected(&other))).await;
                        return;
                    }
                }
            }
            let _ = handover.send(Err(ClientError::Closed)).await;
        });
        Ok(GroupConsumer {
            records,
            assignment,
            connection,
            subscription,
        })
    }

    /// The partitions assigned to this member now (empty until the first assignment).
    pub fn assignment(&self) -> Vec<i32> {
        self.assignment.lock().clone()
    }

    /// Commits `offset` (the next offset to read) for an assigned partition, in the member's
    /// current generation; Kafka members of the group see it.
    pub async fn commit(&self, partition: i32, offset: i64) -> Result<(), ClientError> {
        let request = Message::GroupCommit {
            subscription: self.subscription,
            partition,
            offset,
        };
        match self.connection.request(request).await? {
            Message::Ok => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

impl Drop for GroupConsumer {
    fn drop(&mut self) {
        self.connection.unsubscribe(self.subscription);
    }
}

impl Stream for GroupConsumer {
    type Item = Result<ConsumedRecord, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.records.poll_recv(cx)
    }
}
