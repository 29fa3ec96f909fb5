//! One client connection: handshake, then a read loop that dispatches each frame while a
//! separate task writes responses and pushes in whatever order they complete.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use neo_broker::acls::Caller;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;

use super::credit::Credit;
use super::error_map::error;
use super::{
    Context, admin, group_subscription, offsets, outbox, produce, queue_subscription, rpc,
    subscription,
};
use crate::wire::{ErrorCode, Frame, FrameDecoder, FrameError, Message, PROTOCOL_VERSION};

/// How long a client has to say Hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the outbox gets to flush a closing connection's last frames.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

type Frames = FramedRead<OwnedReadHalf, FrameDecoder>;

/// Why the read loop stops.
enum Close {
    /// The peer went away or the server is stopping: nothing to say.
    Quietly,
    /// A protocol error: an error frame with correlation id 0, then close.
    WithError(ErrorCode, String),
}

/// A live subscription of this connection.
pub(crate) struct SubscriptionHandle {
    pub credit: Arc<Credit>,
    pub task: JoinHandle<()>,
    /// Set for queue subscriptions.
    pub queue: Option<queue_subscription::QueueSubscription>,
    /// Set for group subscriptions: the membership to leave when it ends.
    pub group: Option<Arc<parking_lot::Mutex<group_subscription::Membership>>>,
}

/// State of one connection, owned by its read loop.
pub(crate) struct Connection {
    pub id: u64,
    /// Who the client is for ACLs: anonymous (the Hello's token is a shared secret, not a
    /// user), known by its IP address.
    pub caller: Caller,
    pub context: Arc<Context>,
    pub out: mpsc::Sender<Bytes>,
    in_flight: Arc<Semaphore>,
    pub subscriptions: HashMap<u32, SubscriptionHandle>,
}

/// Serves one accepted connection to its end.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    context: Arc<Context>,
    stop: watch::Receiver<bool>,
) {
    let (read, write) = stream.into_split();
    let (out, frames_out) = mpsc::channel(context.config.outbox_frames.max(1));
    let writer = tokio::spawn(outbox::drain(write, frames_out));
    let frames = FramedRead::new(read, FrameDecoder::new(context.config.max_frame_bytes));
    let mut connection = Connection {
        id,
        caller: Caller::anonymous(peer.ip().to_string()),
        in_flight: Arc::new(Semaphore::new(context.config.max_in_flight.max(1))),
        context,
        out,
        subscriptions: HashMap::new(),
    };
    let close = connection.run(frames, stop).await;
    if let Close::WithError(code, message) = close {
        tracing::debug!(%peer, ?code, message, "closing native connection");
        connection.send(0, error(code, message)).await;
    }
    connection.close();
    drop(connection);
    let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, writer).await;
}

impl Connection {
    async fn run(&mut self, mut frames: Frames, mut stop: watch::Receiver<bool>) -> Close {
        let hello = match tokio::time::timeout(HANDSHAKE_TIMEOUT, frames.next()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(e))) => return frame_error(e),
            Ok(None) | Err(_) => return Close::Quietly,
        };
        if let Err(close) = self.handshake(hello).await {
            return close;
        }
        let idle = self.context.config.idle_timeout;
        loop {
            let next = tokio::select! {
                next = tokio::time::timeout(idle, frames.next()) => next,
                _ = stop.wait_for(|stop| *stop) => {
                    return Close::WithError(ErrorCode::ShuttingDown, "broker is shutting down".into());
                }
            };
            let frame = match next {
                Ok(Some(Ok(frame))) => frame,
                Ok(Some(Err(e))) => return frame_error(e),
                Ok(None) => return Close::Quietly,
                Err(_) => return Close::Quietly,
            };
            if let Err(close) = self.dispatch(frame).await {
                return close;
            }
        }
    }

    async fn handshake(&mut self, frame: Frame) -> Result<(), Close> {
        let Ok(Message::Hello {
            min_version,
            max_version,
            auth,
            ..
        }) = Message::decode(frame.header.kind, frame.body)
        else {
            return Err(Close::WithError(
                ErrorCode::HandshakeRequired,
                "the first frame must be Hello".into(),
            ));
        };
        if min_version > PROTOCOL_VERSION || max_version < 1 || min_version > max_version {
            return Err(Close::WithError(
                ErrorCode::UnsupportedVersion,
                format!(
                    "versions {min_version}..={max_version} asked, 1..={PROTOCOL_VERSION} spoken"
                ),
            ));
        }
        if let Some(token) = &self.context.config.auth_token
            && auth.as_ref() != token.as_bytes()
        {
            return Err(Close::WithError(
                ErrorCode::AuthenticationFailed,
                "authentication failed".into(),
            ));
        }
        let welcome = Message::Welcome {
            version: max_version.min(PROTOCOL_VERSION),
            server: format!("neo {}", env!("CARGO_PKG_VERSION")),
            max_frame: u32::try_from(self.context.config.max_frame_bytes).unwrap_or(u32::MAX),
            max_in_flight: u32::try_from(self.context.config.max_in_flight).unwrap_or(u32::MAX),
        };
        self.send(frame.header.correlation, welcome).await;
        Ok(())
    }

    async fn dispatch(&mut self, frame: Frame) -> Result<(), Close> {
        let correlation = frame.header.correlation;
        if frame.header.version == 0 || frame.header.version > PROTOCOL_VERSION {
            return Err(Close::WithError(
                ErrorCode::UnsupportedVersion,
                format!("frame of version {}", frame.header.version),
            ));
        }
        let message = Message::decode(frame.header.kind, frame.body).map_err(|e| {
            let code = match e {
                crate::wire::BodyError::UnknownKind(_) => ErrorCode::UnknownKind,
                _ => ErrorCode::MalformedFrame,
            };
            Close::WithError(code, e.to_string())
        })?;
        match message {
            Message::Ping => self.send(correlation, Message::Pong).await,
            Message::Produce {
                topic,
                partition,
                acks,
                records,
            } => {
                let permit = self.permit().await;
                produce::handle(self, correlation, &topic, partition, acks, records, permit).await;
            }
            Message::Subscribe {
                topic,
                partition,
                start,
                credit,
            } => {
                subscription::start(self, correlation, &topic, partition, start, credit).await;
            }
            Message::GroupSubscribe {
                group,
                topic,
                credit,
            } => {
                group_subscription::start(self, correlation, &group, &topic, credit).await;
            }
            Message::GroupCommit {
                subscription,
                partition,
                offset,
            } => {
                let permit = self.permit().await;
                group_subscription::commit(
                    self,
                    correlation,
                    subscription,
                    partition,
                    offset,
                    permit,
                )
                .await;
            }
            Message::QueueSubscribe {
                queue,
                prefetch,
                lock_ms,
            } => {
                queue_subscription::start(self, correlation, &queue, prefetch, lock_ms).await;
            }
            Message::Credit {
                subscription,
                bytes,
            } => {
                if let Some(s) = self.subscriptions.get(&subscription) {
                    s.credit.grant(bytes);
                }
            }
            Message::Unsubscribe { subscription } => {
                let reply = match self.end_subscription(subscription) {
                    true => Message::Ok,
                    false => error(ErrorCode::UnknownSubscription, "no such subscription"),
                };
                self.send(correlation, reply).await;
            }
            Message::Ack {
                subscription,
                offsets,
            } => {
                let permit = self.permit().await;
                queue_subscription::settle(self, correlation, subscription, &offsets, None, permit)
                    .await;
            }
            Message::Nack {
                subscription,
                offsets,
                requeue,
            } => {
                let permit = self.permit().await;
                queue_subscription::settle(
                    self,
                    correlation,
                    subscription,
                    &offsets,
                    Some(requeue),
                    permit,
                )
                .await;
            }
            Message::Extend {
                subscription,
                offsets,
                lock_ms,
            } => {
                queue_subscription::extend(self, correlation, subscription, &offsets, lock_ms)
                    .await;
            }
            Message::DescribeTopic { name } => {
                let reply = admin::describe_topic(&self.context, &self.caller, &name);
                self.send(correlation, reply).await;
            }
            Message::ListGroups => {
                let reply = admin::list_groups(&self.context, &self.caller);
                self.send(correlation, reply).await;
            }
            Message::CommitOffset {
                group,
                topic,
                partition,
                offset,
            } => {
                let permit = self.permit().await;
                let context = Arc::clone(&self.context);
                let caller = self.caller.clone();
                let out = self.out.clone();
                tokio::spawn(async move {
                    let reply =
                        offsets::commit(&context, &caller, &group, &topic, partition, offset).await;
                    let _ = out.send(reply.to_frame(correlation)).await;
                    drop(permit);
                });
            }
            Message::FetchCommitted {
                group,
                topic,
                partition,
            } => {
                let reply = offsets::fetch(&self.context, &self.caller, &group, &topic, partition);
                self.send(correlation, reply).await;
            }
            Message::CreateTopic { name, partitions } => {
                let permit = self.permit().await;
                let caller = self.caller.clone();
                self.spawn_reply(correlation, permit, move |context| async move {
                    admin::create_topic(&context, &caller, &name, partitions).await
                });
            }
            Message::DeleteTopic { name } => {
                let permit = self.permit().await;
                let caller = self.caller.clone();
                self.spawn_reply(correlation, permit, move |context| async move {
                    admin::delete_topic(&context, &caller, &name).await
                });
            }
            Message::ListTopics => {
                let reply = admin::list_topics(&self.context, &self.caller);
                self.send(correlation, reply).await;
            }
            Message::Register { service, methods } => {
                self.context
                    .rpc
                    .register(self.id, &service, methods, self.out.clone());
                self.send(correlation, Message::Ok).await;
            }
            Message::Call {
                service,
                method,
                timeout_ms,
                payload,
            } => {
                let permit = self.permit().await;
                let context = Arc::clone(&self.context);
                let caller = rpc::Caller {
                    out: self.out.clone(),
                    correlation,
                };
                tokio::spawn(async move {
                    let timeout = Duration::from_millis(u64::from(timeout_ms));
                    let answer = context
                        .rpc
                        .call(&service, &method, payload, timeout, &caller)
                        .await;
                    if let Some(answer) = answer {
                        let _ = caller.out.send(answer.to_frame(correlation)).await;
                    }
                    drop(permit);
                });
            }
            Message::InvokeReply { ok, payload } => {
                self.context.rpc.complete(self.id, correlation, ok, payload);
            }
            Message::ListServices => {
                let reply = self.context.rpc.list();
                self.send(correlation, reply).await;
            }
            other => {
                return Err(Close::WithError(
                    ErrorCode::InvalidRequest,
                    format!("{:?} is not a request", other.kind()),
                ));
            }
        }
        Ok(())
    }

    /// Takes one of the connection's in-flight slots, waiting (and so not reading) when all
    /// are taken.
    async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.in_flight).acquire_owned().await.ok()
    }

    /// Runs `work` in its own task and sends what it returns as the response.
    fn spawn_reply<F, Fut>(&self, correlation: u32, permit: Option<OwnedSemaphorePermit>, work: F)
    where
        F: FnOnce(Arc<Context>) -> Fut + Send + 'static,
        Fut: Future<Output = Message> + Send,
    {
        let context = Arc::clone(&self.context);
        let out = self.out.clone();
        tokio::spawn(async move {
            let reply = work(context).await;
            let _ = out.send(reply.to_frame(correlation)).await;
            drop(permit);
        });
    }

    /// Queues a frame for writing (waits while the outbox is full).
    pub(crate) async fn send(&self, correlation: u32, message: Message) {
        let _ = self.out.send(message.to_frame(correlation)).await;
    }

    /// Stops a subscription; false if there was none with that id.
    fn end_subscription(&mut self, id: u32) -> bool {
        let Some(handle) = self.subscriptions.remove(&id) else {
            return false;
        };
        handle.task.abort();
        if let Some(membership) = &handle.group {
            group_subscription::leave(&self.context.broker, membership);
        }
        if let Some(q) = handle.queue
            && let Err(e) = q.queue.release_consumer(q.holder)
        {
            tracing::warn!(error = %e, "releasing a queue consumer's records failed");
        }
        true
    }

    /// Ends everything the connection started: subscriptions and RPC registrations.
    fn close(&mut self) {
        let ids: Vec<u32> = self.subscriptions.keys().copied().collect();
        for id in ids {
            self.end_subscription(id);
        }
        self.context.rpc.disconnect(self.id);
    }
}

fn frame_error(e: FrameError) -> Close {
    match e {
        FrameError::TooLarge { .. } => Close::WithError(ErrorCode::FrameTooLarge, e.to_string()),
        FrameError::TooShort(_) => Close::WithError(ErrorCode::MalformedFrame, e.to_string()),
        FrameError::Io(_) => Close::Quietly,
    }
}
