//! One TCP connection to the broker: a writer task, a reader task that routes every frame to
//! the request, subscription or RPC handler waiting for it by correlation id.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use neo_native::wire::{FrameDecoder, Kind, Message, PROTOCOL_VERSION};
use parking_lot::Mutex;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::codec::FramedRead;

use crate::error::ClientError;
use crate::rpc_server::Handlers;

/// Largest frame this client accepts from the broker.
const MAX_INCOMING_FRAME: usize = 64 * 1024 * 1024;

type Reply = oneshot::Sender<Result<Message, ClientError>>;

/// A live connection; cheap to share.
pub(crate) struct Connection {
    out: mpsc::UnboundedSender<Bytes>,
    pending: Mutex<HashMap<u32, Reply>>,
    subscriptions: Mutex<HashMap<u32, mpsc::UnboundedSender<Message>>>,
    next_id: AtomicU32,
    closed: AtomicBool,
    /// Turned true to close the connection from this side.
    closing: watch::Sender<bool>,
    /// Turned true once the connection has closed, whichever side closed it.
    shut: watch::Sender<bool>,
}

impl Connection {
    /// Connects, says Hello and waits for Welcome.
    pub(crate) async fn open(
        addr: &str,
        client_name: &str,
        auth: &[u8],
        handlers: Arc<Handlers>,
        connect_timeout: Duration,
        heartbeat: Duration,
    ) -> Result<Arc<Connection>, ClientError> {
        let connect_error = |reason: String| ClientError::Connect {
            addr: addr.to_string(),
            reason,
        };
        let stream = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| connect_error("timed out".into()))?
            .map_err(|e| connect_error(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let (out, frames_out) = mpsc::unbounded_channel();
        let closing = watch::Sender::new(false);
        tokio::spawn(write_frames(write, frames_out, closing.subscribe()));
        let connection = Arc::new(Connection {
            out,
            pending: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(HashMap::new()),
            next_id: AtomicU32::new(1),
            closed: AtomicBool::new(false),
            closing,
            shut: watch::Sender::new(false),
        });
        let frames = FramedRead::new(read, FrameDecoder::new(MAX_INCOMING_FRAME));
        tokio::spawn(read_frames(frames, Arc::clone(&connection), handlers));
        let hello = Message::Hello {
            min_version: 1,
            max_version: PROTOCOL_VERSION,
            client: client_name.to_string(),
            auth: Bytes::copy_from_slice(auth),
        };
        match tokio::time::timeout(connect_timeout, connection.request(hello)).await {
            Ok(Ok(Message::Welcome { .. })) => {
                if !heartbeat.is_zero() {
                    tokio::spawn(send_heartbeats(Arc::downgrade(&connection), heartbeat));
                }
                Ok(connection)
            }
            Ok(Ok(other)) => Err(ClientError::Protocol(format!(
                "expected Welcome, got {:?}",
                other.kind()
            ))),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(connect_error("no Welcome in time".into())),
        }
    }

    /// Whether the connection has closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes the connection; everything waiting on it fails with [`ClientError::Closed`].
    pub(crate) fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Waits until the connection has closed.
    pub(crate) async fn wait_closed(&self) {
        let mut shut = self.shut.subscribe();
        let _ = shut.wait_for(|shut| *shut).await;
    }

    /// A fresh correlation id.
    pub(crate) fn next_id(&self) -> u32 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends a request and waits for its answer; an Error frame becomes [`ClientError::Broker`].
    pub(crate) async fn request(&self, message: Message) -> Result<Message, ClientError> {
        let id = self.next_id();
        let waiting = self.start_request(id, &message)?;
        finish(waiting.await)
    }

    /// Sends a request with `id` and returns the receiver of its answer.
    pub(crate) fn start_request(
        &self,
        id: u32,
        message: &Message,
    ) -> Result<oneshot::Receiver<Result<Message, ClientError>>, ClientError> {
        let (reply, waiting) = oneshot::channel();
        self.pending.lock().insert(id, reply);
        if self.is_closed() || self.out.send(message.to_frame(id)).is_err() {
            self.pending.lock().remove(&id);
            return Err(ClientError::Closed);
        }
        Ok(waiting)
    }

    /// Sends a message that has no answer.
    pub(crate) fn send(&self, id: u32, message: &Message) -> Result<(), ClientError> {
        self.out
            .send(message.to_frame(id))
            .map_err(|_| ClientError::Closed)
    }

    /// Opens a subscription with `id`: pushes for it go to the returned receiver, which ends
    /// when the connection does.
    pub(crate) async fn subscribe(
        &self,
        id: u32,
        message: Message,
    ) -> Result<(i64, mpsc::UnboundedReceiver<Message>), ClientError> {
        let (pushes, receiver) = mpsc::unbounded_channel();
        self.subscriptions.lock().insert(id, pushes);
        let answer = match self.start_request(id, &message) {
            Ok(waiting) => finish(waiting.await),
            Err(e) => Err(e),
        };
        match answer {
            Ok(Message::Subscribed { offset }) => Ok((offset, receiver)),
            Ok(other) => {
                self.subscriptions.lock().remove(&id);
                Err(ClientError::Protocol(format!(
                    "expected Subscribed, got {:?}",
                    other.kind()
                )))
            }
            Err(e) => {
                self.subscriptions.lock().remove(&id);
                Err(e)
            }
        }
    }

    /// Forgets a subscription locally and asks the broker to end it.
    pub(crate) fn unsubscribe(&self, subscription: u32) {
        self.subscriptions.lock().remove(&subscription);
        let _ = self.send(self.next_id(), &Message::Unsubscribe { subscription });
    }

    fn route(&self, id: u32, message: Message) {
        if let Some(reply) = self.pending.lock().remove(&id) {
            let _ = reply.send(Ok(message));
            return;
        }
        let subscription = self.subscriptions.lock().get(&id).cloned();
        match subscription {
            Some(pushes) => {
                let _ = pushes.send(message);
            }
            None if id == 0 => {
                if let Message::Error { code, message } = message {
                    tracing::info!(?code, message, "broker closes the connection");
                }
            }
            None => tracing::debug!(id, kind = ?message.kind(), "frame for nobody"),
        }
    }

    fn shut(&self) {
        self.closed.store(true, Ordering::Release);
        for (_, reply) in self.pending.lock().drain() {
            let _ = reply.send(Err(ClientError::Closed));
        }
        self.subscriptions.lock().clear();
        self.shut.send_replace(true);
    }
}

fn finish(
    answer: Result<Result<Message, ClientError>, oneshot::error::RecvError>,
) -> Result<Message, ClientError> {
    match answer {
        Ok(Ok(Message::Error { code, message })) => Err(ClientError::refused(code, message)),
        Ok(other) => other,
        Err(_) => Err(ClientError::Closed),
    }
}

/// Pings every `interval` until the connection closes or is dropped, so that the broker's
/// idle timeout never closes a connection that is only waiting for pushes or calls.
async fn send_heartbeats(connection: std::sync::Weak<Connection>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(connection) = connection.upgrade() else {
            return;
        };
        if connection.is_closed()
            || connection
                .send(connection.next_id(), &Message::Ping)
                .is_err()
        {
            return;
        }
    }
}

/// Writes queued frames, flushing when the queue is empty; stops (closing the socket's write
/// side) when the connection is closed from this side.
async fn write_frames(
    write: tokio::net::tcp::OwnedWriteHalf,
    mut frames: mpsc::UnboundedReceiver<Bytes>,
    mut closing: watch::Receiver<bool>,
) {
    let mut writer = BufWriter::with_capacity(64 * 1024, write);
    loop {
        let frame = tokio::select! {
            frame = frames.recv() => frame,
            _ = closing.wait_for(|closing| *closing) => None,
        };
        let Some(frame) = frame else {
            break;
        };
        if writer.write_all(&frame).await.is_err() {
            return;
        }
        while let Ok(frame) = frames.try_recv() {
            if writer.write_all(&frame).await.is_err() {
                return;
            }
        }
        if writer.flush().await.is_err() {
            return;
        }
    }
    let _ = writer.shutdown().await;
}

async fn read_frames(
    mut frames: FramedRead<tokio::net::tcp::OwnedReadHalf, FrameDecoder>,
    connection: Arc<Connection>,
    handlers: Arc<Handlers>,
) {
    let mut closing = connection.closing.subscribe();
    loop {
        let next = tokio::select! {
            next = frames.next() => next,
            _ = closing.wait_for(|closing| *closing) => break,
        };
        let Some(Ok(frame)) = next else {
            break;
        };
        let id = frame.header.correlation;
        let message = match Message::decode(frame.header.kind, frame.body) {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(error = %e, "undecodable frame from the broker");
                break;
            }
        };
        if message.kind() == Kind::Invoke {
            let out = connection.out.clone();
            handlers.invoke(id, message, out);
            continue;
        }
        connection.route(id, message);
    }
    connection.shut();
}
