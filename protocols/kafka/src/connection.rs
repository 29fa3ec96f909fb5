//! One client connection: frames are read and started in order, responses are written in
//! request order (Kafka's rule) while slow ones (long-poll fetches, durable produces) wait
//! concurrently. At most `max_in_flight` requests are pending; beyond that the connection
//! stops reading, so a client that does not read its responses cannot make the broker buffer
//! without bound.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::future::{BoxFuture, FutureExt};
use futures_util::stream::FuturesOrdered;
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::context::Context;
use crate::dispatch;
use crate::frame::{self, FrameError, Request};
use crate::handler::Handler;
use crate::reply::Reply;

/// Serves `stream` until the client closes it, sends a bad frame, or idles too long.
pub async fn serve(stream: TcpStream, handler: Arc<Handler>) {
    let peer = stream.peer_addr().ok();
    let Ok(local_addr) = stream.local_addr() else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let context = Context::new(local_addr, peer);
    let (mut reader, mut writer) = stream.into_split();
    let config = Arc::clone(&handler.config);
    let (frames_tx, mut frames) = mpsc::channel::<Bytes>(1);
    let read_task = tokio::spawn(async move {
        loop {
            let frame = tokio::time::timeout(
                config.idle_timeout,
                frame::read_frame(&mut reader, config.max_request_bytes),
            )
            .await;
            match frame {
                Ok(Ok(Some(frame))) => {
                    if frames_tx.send(frame).await.is_err() {
                        return;
                    }
                }
                Ok(Ok(None)) => return,
                Ok(Err(FrameError::Io(e))) => {
                    tracing::debug!(?peer, error = %e, "kafka connection read failed");
                    return;
                }
                Ok(Err(e)) => {
                    tracing::warn!(?peer, error = %e, "closing kafka connection");
                    return;
                }
                Err(_) => {
                    tracing::debug!(?peer, "closing idle kafka connection");
                    return;
                }
            }
        }
    });

    let max_in_flight = handler.config.max_in_flight.max(1);
    let mut pending: FuturesOrdered<BoxFuture<'static, Response>> = FuturesOrdered::new();
    let mut reading = true;
    loop {
        // Answers first: a response that is ready goes out before the next request is
        // started, so an ack never waits behind the next append.
        tokio::select! {
            biased;
            Some(response) = pending.next(), if !pending.is_empty() => {
                match response {
                    Response::Frame(bytes) => {
                        if let Err(e) = writer.write_all(&bytes).await {
                            tracing::debug!(?peer, error = %e, "kafka connection write failed");
                            break;
                        }
                    }
                    Response::None => {}
                    // The client would wait forever for an answer that never comes.
                    Response::Unencodable => break,
                }
                if !reading && pending.is_empty() {
                    break;
                }
            }
            frame = frames.recv(), if reading && pending.len() < max_in_flight => {
                let Some(frame) = frame else {
                    reading = false;
                    if pending.is_empty() { break; }
                    continue;
                };
                match frame::decode(frame) {
                    Ok(request) => pending.push_back(start(&handler, &context, request).await),
                    Err(e) => {
                        tracing::warn!(?peer, error = %e, "closing kafka connection");
                        break;
                    }
                }
            }
        }
    }
    read_task.abort();
}

/// What goes back for one request.
enum Response {
    Frame(Bytes),
    /// `acks=0`: nothing.
    None,
    /// Encoding failed (logged): the connection is closed.
    Unencodable,
}

/// Starts one request and returns the future of its encoded response frame.
async fn start(
    handler: &Arc<Handler>,
    context: &Context,
    request: Request,
) -> BoxFuture<'static, Response> {
    match request {
        Request::ApiVersionsTooNew { correlation_id } => {
            let response = crate::apis::api_versions::supported(
                kafka_protocol::error::ResponseError::UnsupportedVersion.code(),
            );
            let bytes = encode(
                ApiKey::ApiVersions,
                0,
                correlation_id,
                &ResponseKind::ApiVersions(response),
            );
            async move { bytes }.boxed()
        }
        Request::Known {
            header,
            version,
            body,
        } => {
            let api = ApiKey::try_from(header.request_api_key).unwrap_or(ApiKey::ApiVersions);
            let correlation_id = header.correlation_id;
            let client_id = header.client_id.as_deref().unwrap_or_default();
            match dispatch::start(handler, context, client_id, version, *body).await {
                Reply::Now(response) => {
                    let bytes = encode(api, version, correlation_id, &response);
                    async move { bytes }.boxed()
                }
                Reply::Later(future) => future
                    .map(move |response| encode(api, version, correlation_id, &response))
                    .boxed(),
                Reply::Nothing => async { Response::None }.boxed(),
            }
        }
    }
}

/// Bytes to reserve for a response: fetches carry their records, so size the buffer for them
/// once instead of growing it by doubling (each growth copies what is there).
fn size_hint(response: &ResponseKind) -> usize {
    const OVERHEAD: usize = 1024;
    match response {
        ResponseKind::Fetch(fetch) => {
            fetch
                .responses
                .iter()
                .flat_map(|t| &t.partitions)
                .map(|p| p.records.as_ref().map_or(0, |r| r.len()) + 64)
                .sum::<usize>()
                + OVERHEAD
        }
        _ => OVERHEAD,
    }
}

/// A response frame: length, header at the version the API requires, body.
fn encode(api: ApiKey, version: i16, correlation_id: i32, response: &ResponseKind) -> Response {
    let mut buf = BytesMut::with_capacity(size_hint(response));
    buf.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let encoded = header
        .encode(&mut buf, api.response_header_version(version))
        .and_then(|()| response.encode(&mut buf, version));
    if let Err(e) = encoded {
        tracing::error!(?api, version, error = %e, "cannot encode a kafka response");
        return Response::Unencodable;
    }
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Response::Frame(buf.freeze())
}
