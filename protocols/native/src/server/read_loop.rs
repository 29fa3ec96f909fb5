//! One client connection served: handshake, then a read loop that dispatches each frame while
//! a separate task writes responses and pushes in whatever order they complete.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{mpsc, watch};
use tokio_util::codec::FramedRead;

use super::connection::Connection;
use super::context::Context;
use super::error_map::error;
use super::{
    admin, group_subscription, metadata, offsets, outbox, produce, producer_id, queue_subscription,
    rpc, rpc_forward, subscription,
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
    let mut connection = Connection::new(id, peer, context, out);
    let close = run(&mut connection, frames, stop).await;
    if let Close::WithError(code, message) = close {
        tracing::debug!(%peer, ?code, message, "closing native connection");
        connection.send(0, error(code, message)).await;
    }
    connection.close();
    drop(connection);
    let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, writer).await;
}

/// Reads frames until the connection ends, the client breaks the protocol or the server stops.
async fn run(
    connection: &mut Connection,
    mut frames: Frames,
    mut stop: watch::Receiver<bool>,
) -> Close {
    let hello = match tokio::time::timeout(HANDSHAKE_TIMEOUT, frames.next()).await {
        Ok(Some(Ok(frame))) => frame,
        Ok(Some(Err(e))) => return frame_error(e),
        Ok(None) | Err(_) => return Close::Quietly,
    };
    if let Err(close) = handshake(connection, hello).await {
        return close;
    }
    let idle = connection.context.config.idle_timeout;
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
        if let Err(close) = dispatch(connection, frame).await {
            return close;
        }
    }
}

/// Hello and Welcome: the version spoken and the client's token checked.
async fn handshake(connection: &mut Connection, frame: Frame) -> Result<(), Close> {
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
            format!("versions {min_version}..={max_version} asked, 1..={PROTOCOL_VERSION} spoken"),
        ));
    }
    if let Some(token) = &connection.context.config.auth_token
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
        max_frame: u32::try_from(connection.context.config.max_frame_bytes).unwrap_or(u32::MAX),
        max_in_flight: u32::try_from(connection.context.config.max_in_flight).unwrap_or(u32::MAX),
    };
    connection.send(frame.header.correlation, welcome).await;
    Ok(())
}

/// Answers one request (or starts the work that will).
async fn dispatch(connection: &mut Connection, frame: Frame) -> Result<(), Close> {
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
        Message::Ping => connection.send(correlation, Message::Pong).await,
        Message::Produce {
            topic,
            partition,
            acks,
            records,
        } => {
            let permit = connection.permit().await;
            produce::handle(
                connection,
                correlation,
                &topic,
                partition,
                acks,
                records,
                permit,
            )
            .await;
        }
        Message::Subscribe {
            topic,
            partition,
            start,
            credit,
        } => {
            subscription::start(connection, correlation, &topic, partition, start, credit).await;
        }
        Message::GroupSubscribe {
            group,
            topic,
            credit,
        } => {
            group_subscription::start(connection, correlation, &group, &topic, credit).await;
        }
        Message::GroupCommit {
            subscription,
            partition,
            offset,
        } => {
            let permit = connection.permit().await;
            group_subscription::commit(
                connection,
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
            queue_subscription::start(connection, correlation, &queue, prefetch, lock_ms).await;
        }
        Message::Credit {
            subscription,
            bytes,
        } => {
            if let Some(s) = connection.subscriptions.get(&subscription) {
                s.credit.grant(bytes);
            }
        }
        Message::Unsubscribe { subscription } => {
            let reply = match connection.end_subscription(subscription) {
                true => Message::Ok,
                false => error(ErrorCode::UnknownSubscription, "no such subscription"),
            };
            connection.send(correlation, reply).await;
        }
        Message::Ack {
            subscription,
            offsets,
        } => {
            let permit = connection.permit().await;
            queue_subscription::settle(
                connection,
                correlation,
                subscription,
                &offsets,
                None,
                permit,
            )
            .await;
        }
        Message::Nack {
            subscription,
            offsets,
            requeue,
        } => {
            let permit = connection.permit().await;
            queue_subscription::settle(
                connection,
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
            queue_subscription::extend(connection, correlation, subscription, &offsets, lock_ms)
                .await;
        }
        Message::DescribeTopic { name } => {
            let reply = admin::describe_topic(&connection.context, &connection.caller, &name);
            connection.send(correlation, reply).await;
        }
        Message::ListGroups => {
            let reply = admin::list_groups(&connection.context, &connection.caller);
            connection.send(correlation, reply).await;
        }
        Message::CommitOffset {
            group,
            topic,
            partition,
            offset,
        } => {
            let permit = connection.permit().await;
            let context = Arc::clone(&connection.context);
            let caller = connection.caller.clone();
            let out = connection.out.clone();
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
            let reply = offsets::fetch(
                &connection.context,
                &connection.caller,
                &group,
                &topic,
                partition,
            );
            connection.send(correlation, reply).await;
        }
        Message::CreateTopic { name, partitions } => {
            let permit = connection.permit().await;
            let caller = connection.caller.clone();
            connection.spawn_reply(correlation, permit, move |context| async move {
                admin::create_topic(&context, &caller, &name, partitions).await
            });
        }
        Message::DeleteTopic { name } => {
            let permit = connection.permit().await;
            let caller = connection.caller.clone();
            connection.spawn_reply(correlation, permit, move |context| async move {
                admin::delete_topic(&context, &caller, &name).await
            });
        }
        Message::ListTopics => {
            let reply = admin::list_topics(&connection.context, &connection.caller);
            connection.send(correlation, reply).await;
        }
        Message::Metadata { topics } => {
            let reply = metadata::metadata(&connection.context, &connection.caller, &topics);
            connection.send(correlation, reply).await;
        }
        Message::InitProducer => {
            let permit = connection.permit().await;
            connection.spawn_reply(correlation, permit, move |context| async move {
                producer_id::init_producer(&context).await
            });
        }
        Message::Register { service, methods } => {
            connection.context.rpc.register(
                connection.id,
                &service,
                methods,
                connection.out.clone(),
            );
            connection.send(correlation, Message::Ok).await;
        }
        Message::Call {
            service,
            method,
            timeout_ms,
            payload,
        } => {
            let permit = connection.permit().await;
            let context = Arc::clone(&connection.context);
            let caller = rpc::Caller {
                out: connection.out.clone(),
                correlation,
            };
            tokio::spawn(async move {
                let timeout = Duration::from_millis(u64::from(timeout_ms));
                let answer = match context
                    .rpc
                    .call(&service, &method, payload.clone(), timeout, &caller)
                    .await
                {
                    // None here: one may be on another broker.
                    Some(Message::Error {
                        code: ErrorCode::NoInstance,
                        ..
                    }) => Some(
                        rpc_forward::call_elsewhere(
                            &context, &service, &method, payload, timeout_ms,
                        )
                        .await,
                    ),
                    answer => answer,
                };
                if let Some(answer) = answer {
                    let _ = caller.out.send(answer.to_frame(correlation)).await;
                }
                drop(permit);
            });
        }
        Message::InvokeReply { ok, payload } => {
            connection
                .context
                .rpc
                .complete(connection.id, correlation, ok, payload);
        }
        Message::ListServices => {
            let reply = connection.context.rpc.list();
            connection.send(correlation, reply).await;
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

fn frame_error(e: FrameError) -> Close {
    match e {
        FrameError::TooLarge { .. } => Close::WithError(ErrorCode::FrameTooLarge, e.to_string()),
        FrameError::TooShort(_) => Close::WithError(ErrorCode::MalformedFrame, e.to_string()),
        FrameError::Io(_) => Close::Quietly,
    }
}
