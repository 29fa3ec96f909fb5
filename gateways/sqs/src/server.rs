//! The HTTP side: one axum handler for every path (JSON and Query protocols, queue URL
//! paths), bodies capped before they are read, every answer an SQS answer.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use neo_broker::Broker;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::SqsConfig;
use crate::error::SqsError;
use crate::gateway::Gateway;
use crate::request::{RawRequest, parse, protocol_of};
use crate::response::{Reply, failure, success};

/// The listening SQS gateway.
pub struct SqsServer {
    listener: TcpListener,
    config: SqsConfig,
}

impl SqsServer {
    /// Binds the listen address.
    pub async fn bind(config: SqsConfig) -> std::io::Result<SqsServer> {
        let listener = TcpListener::bind(config.listen).await?;
        Ok(SqsServer { listener, config })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves requests until `shutdown` turns true.
    pub async fn run(self, broker: Arc<Broker>, shutdown: watch::Receiver<bool>) {
        let port = self.listener.local_addr().map(|a| a.port()).unwrap_or(9324);
        let gateway = Arc::new(Gateway::new(broker, self.config, port, shutdown.clone()).await);
        let following = gateway.follow_registry();
        gateway.answer_forwarded();
        let router = Router::new().fallback(serve).with_state(gateway);
        let mut stop = shutdown;
        // Answers go out at once: with Nagle's algorithm a small answer can wait for the
        // client's delayed acknowledgement (tens of milliseconds per request).
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "sqs: cannot set TCP_NODELAY");
            }
        });
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, service)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
        following.abort();
        if let Err(e) = served {
            tracing::error!(error = %e, "sqs: server stopped");
        }
    }
}

async fn serve(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = crate::message::random_uuid().to_string();
    let target = headers.get("x-amz-target").map(HeaderValue::as_bytes);
    let content_type = headers.get(header::CONTENT_TYPE).map(HeaderValue::as_bytes);
    let probe = RawRequest {
        path: uri.path(),
        query: uri.query(),
        target,
        content_type,
        authorization: headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes),
        body: &[],
    };
    let protocol = protocol_of(&probe);
    let max = gateway.config.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return reply(
            failure(protocol, &SqsError::RequestTooLarge(max), &request_id),
            &request_id,
        );
    }
    let bytes = match axum::body::to_bytes(body, max).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return reply(
                failure(protocol, &SqsError::RequestTooLarge(max), &request_id),
                &request_id,
            );
        }
    };
    if method != Method::POST && method != Method::GET {
        let e = SqsError::UnsupportedOperation(format!("HTTP method {method} is not supported."));
        return reply(failure(protocol, &e, &request_id), &request_id);
    }
    let raw = RawRequest {
        body: &bytes,
        ..probe
    };
    let answer = match parse(&raw) {
        Ok(request) => match gateway.leader_elsewhere(&request) {
            Some(leader) => {
                crate::forward::forward(
                    &gateway,
                    leader,
                    request,
                    peer.ip().to_string(),
                    &request_id,
                )
                .await
            }
            None => answer(&gateway, request, peer, &request_id).await,
        },
        Err(e) => failure(protocol, &e, &request_id),
    };
    reply(answer, &request_id)
}

/// The answer to `request`, served here.
async fn answer(
    gateway: &Arc<Gateway>,
    request: crate::request::Request,
    peer: SocketAddr,
    request_id: &str,
) -> Reply {
    let caller = crate::actions::caller(&request, peer.ip().to_string());
    match crate::actions::handle(gateway, &request, &caller).await {
        Ok(result) => success(request.protocol, &request.action, &result, request_id),
        Err(e) => {
            tracing::debug!(action = request.action, error = %e, "sqs: request refused");
            failure(request.protocol, &e, request_id)
        }
    }
}

fn reply(answer: Reply, request_id: &str) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (status, answer.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(answer.content_type),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    if let Some(code) = answer
        .query_error
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        headers.insert("x-amzn-query-error", code);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_send<T: Send>(_: &T) {}

    #[allow(dead_code)]
    fn handlers_are_send(
        gateway: Arc<Gateway>,
        request: crate::request::Request,
        caller: neo_broker::acls::Caller,
    ) {
        let f = async move { crate::actions::handle(&gateway, &request, &caller).await };
        is_send(&f);
    }
}
