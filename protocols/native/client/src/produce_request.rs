//! One produce request of the producer, sent to its partition's leader until answered for
//! good: a request refused because the leadership moved, or whose broker was lost, is sent
//! again to the leader the metadata names then. An idempotent producer's requests of one
//! partition are sent again in sequence order, at most [`MAX_OUTSTANDING`] at once, so the
//! leader (which remembers that many batches per producer) answers each one sent again with
//! its first offsets, and never takes a later batch before an earlier one.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use neo_native::wire::{ErrorCode, Message};
use parking_lot::Mutex;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use crate::client::{Client, unexpected};
use crate::error::ClientError;

/// An idempotent producer's batches of one partition sent and not answered for good: the
/// batches a partition leader remembers per producer (Kafka's `max.in.flight` of 5).
pub(crate) const MAX_OUTSTANDING: usize = 5;

/// How long a request waits before it is sent again.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// The sequence numbers of an idempotent producer's batches of one partition not yet
/// answered for good.
#[derive(Debug, Default)]
pub(crate) struct Outstanding {
    sequences: Mutex<BTreeSet<i32>>,
    changed: Notify,
}

impl Outstanding {
    /// Waits until fewer than [`MAX_OUTSTANDING`] are outstanding, then adds `sequence`.
    pub(crate) async fn add(&self, sequence: i32) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut sequences = self.sequences.lock();
                if sequences.len() < MAX_OUTSTANDING {
                    sequences.insert(sequence);
                    return;
                }
            }
            changed.await;
        }
    }

    /// Waits until `sequence` is the lowest outstanding: the batches before it are answered.
    async fn wait_first(&self, sequence: i32) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self
                .sequences
                .lock()
                .first()
                .is_none_or(|first| *first >= sequence)
            {
                return;
            }
            changed.await;
        }
    }

    fn remove(&self, sequence: i32) {
        self.sequences.lock().remove(&sequence);
        self.changed.notify_waiters();
    }
}

/// One produce request: its partition, its batches, and, for an idempotent producer's, the
/// partition's outstanding batches and this one's sequence number.
pub(crate) struct ProduceRequest {
    pub client: Client,
    pub topic: Arc<str>,
    pub partition: i32,
    pub acks: u8,
    pub records: Bytes,
    pub idempotent: Option<(Arc<Outstanding>, i32)>,
}

/// A request sent (or not) for the first time.
pub(crate) struct Sent {
    answer: Result<oneshot::Receiver<Result<Message, ClientError>>, ClientError>,
}

impl ProduceRequest {
    /// Sends the request to the partition's leader as last known: called in the order the
    /// batches were made, so a partition's requests reach its leader in sequence order.
    pub(crate) async fn send(&self) -> Sent {
        Sent {
            answer: self.start().await,
        }
    }

    /// The base offset once `sent` is answered, sending it again while the leadership
    /// moves, until `until`; or why it failed.
    pub(crate) async fn finish(self, sent: Sent, until: Instant) -> Result<i64, ClientError> {
        let mut attempt = sent.answer;
        let answer = loop {
            let (answer, was_sent) = match attempt {
                Ok(waiting) => (answered(waiting.await), true),
                Err(e) => (Err(e), false),
            };
            if !self.again(&answer, was_sent) || Instant::now() >= until {
                break answer;
            }
            if let Some((outstanding, sequence)) = &self.idempotent {
                outstanding.wait_first(*sequence).await;
            }
            tokio::time::sleep(RETRY_BACKOFF).await;
            self.client.refresh_metadata().await;
            attempt = self.start().await;
        };
        if let Some((outstanding, sequence)) = &self.idempotent {
            outstanding.remove(*sequence);
        }
        answer
    }

    /// Whether a failed request is sent again.
    fn again(&self, answer: &Result<i64, ClientError>, sent: bool) -> bool {
        match answer {
            Ok(_) => false,
            Err(e) if !sent => e.leader_moved(),
            // Refused before anything was appended.
            Err(e) if e.code() == Some(ErrorCode::NotLeader) => true,
            // Sent, and maybe appended: only an idempotent batch goes again (the leader
            // answers it with its first offsets if it has it); an out-of-order one waits for
            // the batches before it, sent again too.
            Err(e) => {
                self.idempotent.is_some()
                    && (e.leader_moved() || e.code() == Some(ErrorCode::OutOfOrderSequence))
            }
        }
    }

    async fn start(&self) -> Result<oneshot::Receiver<Result<Message, ClientError>>, ClientError> {
        let connection = self
            .client
            .leader_connection(&self.topic, self.partition)
            .await?;
        let request = Message::Produce {
            topic: self.topic.to_string(),
            partition: self.partition,
            acks: self.acks,
            records: BytesMut::from(&self.records[..]),
        };
        connection.start_request(connection.next_id(), &request)
    }
}

/// The base offset a produce answer gives, or why it failed.
fn answered(
    answer: Result<Result<Message, ClientError>, oneshot::error::RecvError>,
) -> Result<i64, ClientError> {
    match answer {
        Ok(Ok(Message::Produced { base_offset, .. })) => Ok(base_offset),
        Ok(Ok(Message::Error { code, message })) => Err(ClientError::refused(code, message)),
        Ok(Ok(other)) => Err(unexpected(&other)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ClientError::Closed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batches_wait_for_room_and_for_the_ones_before_them() {
        let outstanding = Arc::new(Outstanding::default());
        for sequence in 0..MAX_OUTSTANDING as i32 {
            outstanding.add(sequence).await;
        }
        let more = {
            let outstanding = Arc::clone(&outstanding);
            tokio::spawn(async move { outstanding.add(5).await })
        };
        let third = {
            let outstanding = Arc::clone(&outstanding);
            tokio::spawn(async move { outstanding.wait_first(2).await })
        };
        tokio::task::yield_now().await;
        assert!(!more.is_finished() && !third.is_finished());
        outstanding.remove(0);
        more.await.unwrap();
        outstanding.remove(1);
        third.await.unwrap();
    }
}
