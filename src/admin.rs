//! The admin HTTP listener: `/live` (and its older name `/health`), `/ready`, `/metrics`, and
//! the cluster's state, leader transfers, reassignments and brokers joining and leaving for
//! `neo cluster`.

use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use neo_broker::leader_transfer::TransferRequest;
use neo_broker::membership::{AddBrokerRequest, Removal, RemoveBrokerRequest};
use neo_broker::reassign::ReassignRequest;
use neo_broker::{Broker, BrokerError};

/// What the admin routes answer from: the broker, once it has opened. The listener serves
/// from the start, so that `/live` answers while the broker recovers its logs or waits for
/// its peers.
#[derive(Debug, Clone, Default)]
pub struct AdminState {
    broker: Arc<OnceLock<Arc<Broker>>>,
}

impl AdminState {
    /// Makes the routes that need the broker answer from `broker`.
    pub fn opened(&self, broker: Arc<Broker>) {
        let _ = self.broker.set(broker);
    }
}

/// The opened broker, for routes that need it: 503 while it is still opening.
struct Opened(Arc<Broker>);

impl FromRequestParts<AdminState> for Opened {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(
        _parts: &mut Parts,
        state: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        state.broker.get().cloned().map(Opened).ok_or((
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: starting (recovering the logs, or waiting for the cluster)\n",
        ))
    }
}

/// The admin routes over `state`.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/live", get(live))
        .route("/health", get(live))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/cluster", get(cluster_status))
        .route("/cluster/transfer-leader", post(transfer_leader))
        .route("/cluster/reassign", post(reassign))
        .route("/cluster/add-broker", post(add_broker))
        .route("/cluster/remove-broker", post(remove_broker))
        .with_state(state)
}

/// Liveness: answered while the process's runtime runs, whatever the cluster's state (a
/// restart would not help a broker waiting for its peers).
async fn live() -> &'static str {
    "ok\n"
}

/// Readiness: 200 while the broker is started, a live voter of its cluster and caught up with
/// the controller's metadata; 503 with the reason otherwise.
async fn ready(Opened(broker): Opened) -> impl IntoResponse {
    match broker.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        ),
    }
}

async fn metrics(Opened(broker): Opened) -> impl IntoResponse {
    let families = broker.metrics().registry().gather();
    match prometheus::TextEncoder::new().encode_to_string(&families) {
        Ok(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn cluster_status(Opened(broker): Opened) -> impl IntoResponse {
    Json(broker.cluster_status())
}

/// Moves a partition's leadership; answers the new leader's id, or why not.
async fn transfer_leader(
    Opened(broker): Opened,
    Json(request): Json<TransferRequest>,
) -> impl IntoResponse {
    match broker
        .transfer_leader(&request.topic, request.partition, request.to)
        .await
    {
        Ok(leader) => (
            StatusCode::OK,
            Json(serde_json::json!({ "leader": leader })),
        ),
        Err(e) => {
            let status = match e {
                BrokerError::UnknownTopicOrPartition { .. } => StatusCode::NOT_FOUND,
                BrokerError::LeaderNotMoved { .. } => StatusCode::CONFLICT,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            (status, Json(serde_json::json!({ "error": e.to_string() })))
        }
    }
}

/// Starts moving a partition to another replica set; answers once the move is recorded.
async fn reassign(
    Opened(broker): Opened,
    Json(request): Json<ReassignRequest>,
) -> impl IntoResponse {
    match broker
        .reassign(&request.topic, request.partition, request.replicas.clone())
        .await
    {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "replicas": request.replicas })),
        ),
        Err(e) => {
            let status = match e {
                BrokerError::UnknownTopicOrPartition { .. } => StatusCode::NOT_FOUND,
                BrokerError::InvalidReplicaAssignment(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            (status, Json(serde_json::json!({ "error": e.to_string() })))
        }
    }
}

/// Adds a broker to the cluster; answers once it is a voter of the controller.
async fn add_broker(
    Opened(broker): Opened,
    Json(request): Json<AddBrokerRequest>,
) -> impl IntoResponse {
    match broker.add_broker(request.id, request.address).await {
        Ok(()) => (
            StatusCode::OK,
            Json(serde_json::json!({ "id": request.id })),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": e.to_string() })),
        ),
    }
}

/// Moves a broker's replicas off it, or removes it once it holds none: 202 with the number
/// of partitions still moving, 200 once removed.
async fn remove_broker(
    Opened(broker): Opened,
    Json(request): Json<RemoveBrokerRequest>,
) -> impl IntoResponse {
    match broker.remove_broker(request.id).await {
        Ok(removal) => {
            let status = match removal {
                Removal::Moving { .. } => StatusCode::ACCEPTED,
                Removal::Removed => StatusCode::OK,
            };
            (status, Json(serde_json::json!(removal)))
        }
        Err(e) => {
            let status = match e {
                BrokerError::InvalidReplicaAssignment(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            (status, Json(serde_json::json!({ "error": e.to_string() })))
        }
    }
}
