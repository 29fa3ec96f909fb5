//! One incoming cluster connection: the hello, then requests read in order and served
//! concurrently (at most `max_in_flight` at once), each answer written when it is ready.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::dispatch::dispatch;
use super::frame_io::{FrameIoError, read_frame, write_frames};
use super::message::{RemoteError, Request, Response};
use super::server_context::{Responder, ServerContext};
use super::snapshot_receive::{StepKind, TransferStep, receive_snapshot};
use crate::group_id::GroupId;
use crate::types::NodeId;

/// Why an incoming connection ended.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error(transparent)]
    Frames(#[from] FrameIoError),
    #[error("no hello within {0:?}")]
    NoHello(std::time::Duration),
    #[error("refused: {0}")]
    Refused(RemoteError),
}

/// Serves `stream` until it closes or fails.
pub(crate) async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    context: Arc<ServerContext>,
) {
    match serve(stream, &context).await {
        Ok(()) => tracing::debug!(%remote, "cluster connection closed by the peer"),
        Err(error) => tracing::info!(%remote, %error, "cluster connection closed"),
    }
}

async fn serve(mut stream: TcpStream, context: &Arc<ServerContext>) -> Result<(), ConnectionError> {
    stream.set_nodelay(true).map_err(FrameIoError::Io)?;
    let mut buf = BytesMut::new();
    let from = greet(&mut stream, &mut buf, context).await?;
    let (mut reader, writer) = stream.into_split();
    let (queue, mut answers) = mpsc::channel(context.config.max_in_flight);
    let responder = Responder::new(queue, context.codec);
    tokio::select! {
        read = read_requests(&mut reader, buf, from, context, responder) => read,
        written = write_frames(writer, None, &mut answers, || {}) => {
            written.map_err(|e| ConnectionError::Frames(FrameIoError::Io(e)))
        }
    }
}

/// Reads the hello and answers it; the caller's node id if it is of this cluster.
async fn greet(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    context: &ServerContext,
) -> Result<NodeId, ConnectionError> {
    let wait = context.config.connect_timeout;
    let hello = tokio::time::timeout(wait, read_frame::<Request, _>(stream, buf, &context.codec))
        .await
        .map_err(|_| ConnectionError::NoHello(wait))??;
    let Some((correlation, hello)) = hello else {
        return Err(ConnectionError::NoHello(wait));
    };
    let (answer, from) = match hello {
        Request::Hello {
            node_id,
            cluster_id,
        } if cluster_id == context.config.cluster_id => (
            Response::Welcome {
                node_id: context.node_id,
            },
            Ok(node_id),
        ),
        Request::Hello { cluster_id, .. } => {
            let error = RemoteError::ClusterMismatch {
                expected: context.config.cluster_id.clone(),
                offered: cluster_id,
            };
            (Response::Error(error.clone()), Err(error))
        }
        _ => (
            Response::Error(RemoteError::HelloOutOfPlace),
            Err(RemoteError::HelloOutOfPlace),
        ),
    };
    let mut out = BytesMut::new();
    context
        .codec
        .encode(correlation, &answer, &mut out)
        .map_err(FrameIoError::Frame)?;
    stream.write_all(&out).await.map_err(FrameIoError::Io)?;
    from.map_err(ConnectionError::Refused)
}

/// A snapshot transfer in progress on the connection.
struct Transfer {
    group: GroupId,
    steps: mpsc::Sender<TransferStep>,
}

/// Reads requests and starts serving each; returns when the peer closes the connection.
async fn read_requests(
    reader: &mut OwnedReadHalf,
    mut buf: BytesMut,
    from: NodeId,
    context: &Arc<ServerContext>,
    responder: Responder,
) -> Result<(), ConnectionError> {
    let slots = Arc::new(Semaphore::new(context.config.max_in_flight));
    // Dropped with the connection, which aborts whatever is still being served.
    let mut tasks = JoinSet::new();
    let mut transfers: HashMap<u64, Transfer> = HashMap::new();
    while let Some((correlation, request)) =
        read_frame::<Request, _>(reader, &mut buf, &context.codec).await?
    {
        context.last_heard.heard(from);
        // Never closed: a request waits here for a free slot, and reading waits with it.
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        while tasks.try_join_next().is_some() {}
        let (transfer, kind) = match request {
            Request::SnapshotOffer(offer) => {
                // A leader sends one snapshot of a group at a time: a new offer replaces an
                // abandoned one (dropping its channel ends it and removes its files).
                transfers.retain(|_, t| !t.steps.is_closed() && t.group != offer.group);
                if transfers.len() >= context.config.max_snapshot_transfers {
                    let busy = RemoteError::SnapshotRefused(format!(
                        "{} transfers already in progress on this connection",
                        transfers.len()
                    ));
                    responder.send(correlation, Response::Error(busy)).await;
                    continue;
                }
                let (steps, received) = mpsc::channel(1);
                let transfer = Transfer {
                    group: offer.group,
                    steps,
                };
                transfers.insert(offer.transfer, transfer);
                tasks.spawn(receive_snapshot(
                    offer,
                    (correlation, permit),
                    from,
                    context.clone(),
                    received,
                    responder.clone(),
                ));
                continue;
            }
            Request::SnapshotChunk {
                transfer,
                file,
                offset,
                data,
            } => (transfer, StepKind::Chunk { file, offset, data }),
            Request::SnapshotDone { transfer } => (transfer, StepKind::Done),
            Request::Call(payload) => {
                let handler = context.calls.read().clone();
                let responder = responder.clone();
                tasks.spawn(async move {
                    let response = match handler {
                        Some(handler) => Response::Reply(handler.call(from, payload).await),
                        None => Response::Error(RemoteError::NoCallHandler),
                    };
                    responder.send(correlation, response).await;
                    drop(permit);
                });
                continue;
            }
            request => {
                let (context, responder) = (context.clone(), responder.clone());
                tasks.spawn(async move {
                    let response = dispatch(&context.registry, request).await;
                    responder.send(correlation, response).await;
                    drop(permit);
                });
                continue;
            }
        };
        let step = TransferStep {
            correlation,
            kind,
            permit,
        };
        let delivered = match transfers.get(&transfer) {
            Some(transfer) => transfer.steps.send(step).await.is_ok(),
            None => false,
        };
        if !delivered {
            let unknown =
                RemoteError::SnapshotRefused(format!("no transfer {transfer} in progress"));
            responder.send(correlation, Response::Error(unknown)).await;
        }
    }
    Ok(())
}
