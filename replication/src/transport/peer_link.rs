//! The connection from this node to one peer, shared by every group: opened on the first
//! request, requests multiplexed by correlation id with a bounded number in flight, reopened
//! with backoff when it fails.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::dial::Dialer;
use super::error::CallError;
use super::frame::FrameCodec;
use super::frame_io::{EncodedFrame, read_frame, write_frames};
use super::message::{Request, Response};
use crate::types::NodeId;

type Reply = oneshot::Sender<Result<Response, CallError>>;

/// Frames on one peer's connection, counted for tests and metrics.
#[derive(Debug, Default)]
pub(crate) struct LinkCounters {
    pub(crate) frames_sent: AtomicU64,
    pub(crate) frames_received: AtomicU64,
}

/// The state shared by the callers and the connection task.
#[derive(Debug)]
struct Shared {
    target: NodeId,
    codec: FrameCodec,
    /// Callers waiting for an answer, by correlation id.
    pending: Mutex<HashMap<u64, Reply>>,
    in_flight: Semaphore,
    next_correlation: AtomicU64,
    counters: Arc<LinkCounters>,
    /// When the last connection closed, or an attempt failed, with no connection open since:
    /// most often the peer's process is gone.
    lost: Mutex<Option<std::time::Instant>>,
}

impl Shared {
    fn answer(&self, correlation: u64, result: Result<Response, CallError>) {
        if let Some(reply) = self.pending.lock().remove(&correlation) {
            // The caller may have given up (timed out) meanwhile.
            let _ = reply.send(result);
        }
    }

    fn fail_all(&self, error: &CallError) {
        let waiting: Vec<Reply> = self
            .pending
            .lock()
            .drain()
            .map(|(_, reply)| reply)
            .collect();
        for reply in waiting {
            let _ = reply.send(Err(error.clone()));
        }
    }

    fn is_pending(&self, correlation: u64) -> bool {
        self.pending.lock().contains_key(&correlation)
    }
}

/// Removes a caller's pending entry when it stops waiting, answered or not.
struct PendingGuard<'a> {
    shared: &'a Shared,
    correlation: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.pending.lock().remove(&self.correlation);
    }
}

/// A multiplexed connection to one peer.
#[derive(Debug)]
pub(crate) struct PeerLink {
    shared: Arc<Shared>,
    outbox: mpsc::Sender<EncodedFrame>,
    task: JoinHandle<()>,
}

impl PeerLink {
    /// A link to `target`; the connection opens when the first request is sent.
    pub(crate) fn spawn(
        target: NodeId,
        dialer: Dialer,
        max_in_flight: usize,
        counters: Arc<LinkCounters>,
    ) -> Self {
        let shared = Arc::new(Shared {
            target,
            codec: dialer.codec,
            pending: Mutex::new(HashMap::new()),
            in_flight: Semaphore::new(max_in_flight),
            next_correlation: AtomicU64::new(1),
            counters,
            lost: Mutex::new(None),
        });
        // Permits bound the callers, so the queue never holds more than `max_in_flight`.
        let (outbox, queue) = mpsc::channel(max_in_flight);
        let task = tokio::spawn(run(shared.clone(), queue, dialer));
        Self {
            shared,
            outbox,
            task,
        }
    }

    /// The peer this link connects to.
    pub(crate) fn target(&self) -> NodeId {
        self.shared.target
    }

    /// An id no other request or transfer on this link uses.
    pub(crate) fn next_id(&self) -> u64 {
        self.shared.next_correlation.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends `request` and waits for its answer until `deadline`.
    pub(crate) async fn call(
        &self,
        request: &Request,
        deadline: Instant,
    ) -> Result<Response, CallError> {
        let timeout = CallError::Timeout {
            node: self.shared.target,
            timeout: deadline.saturating_duration_since(Instant::now()),
        };
        let _permit = tokio::time::timeout_at(deadline, self.shared.in_flight.acquire())
            .await
            .map_err(|_| timeout.clone())?
            .map_err(|_| CallError::Closed)?;

        let correlation = self.next_id();
        let mut bytes = BytesMut::new();
        self.shared
            .codec
            .encode(correlation, request, &mut bytes)
            .map_err(CallError::Encode)?;
        let (reply, answer) = oneshot::channel();
        self.shared.pending.lock().insert(correlation, reply);
        let _guard = PendingGuard {
            shared: &self.shared,
            correlation,
        };
        let frame = EncodedFrame {
            correlation,
            bytes: bytes.freeze(),
        };
        // The queue is full only while the connection cannot write (a peer not reading).
        tokio::time::timeout_at(deadline, self.outbox.send(frame))
            .await
            .map_err(|_| timeout.clone())?
            .map_err(|_| CallError::Closed)?;

        match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(CallError::Closed),
            Err(_) => Err(timeout),
        }
    }

    /// Since when the connection to the peer is lost (closed, or the peer cannot be reached),
    /// if it was not opened again since.
    pub(crate) fn lost_since(&self) -> Option<std::time::Instant> {
        *self.shared.lost.lock()
    }

    /// Stops the connection; waiting and later callers get [`CallError::Closed`].
    pub(crate) fn close(&self) {
        self.task.abort();
        self.shared.fail_all(&CallError::Closed);
    }
}

impl Drop for PeerLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connects when there is something to send, serves the connection until it fails, fails
/// whatever was waiting, and backs off before the next attempt.
async fn run(shared: Arc<Shared>, mut queue: mpsc::Receiver<EncodedFrame>, dialer: Dialer) {
    let mut backoff = dialer.config.reconnect_backoff_min;
    while let Some(first) = queue.recv().await {
        if !shared.is_pending(first.correlation) {
            continue;
        }
        let error = match dialer.dial(shared.target).await {
            Ok((stream, buf)) => {
                backoff = dialer.config.reconnect_backoff_min;
                *shared.lost.lock() = None;
                tracing::debug!(peer = shared.target, "cluster connection open");
                let reason = serve(&shared, stream, buf, first, &mut queue).await;
                *shared.lost.lock() = Some(std::time::Instant::now());
                tracing::info!(peer = shared.target, %reason, "cluster connection closed");
                shared.fail_all(&CallError::Disconnected {
                    node: shared.target,
                    reason,
                });
                continue;
            }
            Err(error) => error,
        };
        shared
            .lost
            .lock()
            .get_or_insert_with(std::time::Instant::now);
        tracing::warn!(peer = shared.target, %error, retry_in = ?backoff, "cannot reach peer");
        shared.answer(first.correlation, Err(error.clone()));
        shared.fail_all(&error);
        // Until the next attempt, requests fail at once: openraft backs off on its own.
        let retry_at = Instant::now() + backoff;
        backoff = (backoff * 2).min(dialer.config.reconnect_backoff_max);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(retry_at) => break,
                next = queue.recv() => match next {
                    Some(frame) => shared.answer(frame.correlation, Err(error.clone())),
                    None => return,
                },
            }
        }
    }
}

/// Writes queued requests and delivers answers until either direction fails; says why.
async fn serve(
    shared: &Shared,
    stream: TcpStream,
    mut buf: BytesMut,
    first: EncodedFrame,
    queue: &mut mpsc::Receiver<EncodedFrame>,
) -> String {
    let (mut reader, writer) = stream.into_split();
    let count_sent = || {
        shared.counters.frames_sent.fetch_add(1, Ordering::Relaxed);
    };
    let read = async {
        loop {
            match read_frame::<Response, _>(&mut reader, &mut buf, &shared.codec).await {
                Ok(Some((correlation, response))) => {
                    shared
                        .counters
                        .frames_received
                        .fetch_add(1, Ordering::Relaxed);
                    shared.answer(correlation, Ok(response));
                }
                Ok(None) => return "closed by the peer".to_owned(),
                Err(e) => return e.to_string(),
            }
        }
    };
    tokio::select! {
        reason = read => reason,
        written = write_frames(writer, Some(first), queue, count_sent) => match written {
            Ok(()) => "the transport is shutting down".to_owned(),
            Err(e) => format!("write failed: {e}"),
        },
    }
}
