//! The admin HTTP listener: `/health`, `/ready`, `/metrics`, and the cluster's state and
//! leader transfers and reassignments for `neo cluster`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use neo_broker::leader_transfer::TransferRequest;
use neo_broker::reassign::ReassignRequest;
use neo_broker::{Broker, BrokerError};

/// The admin routes over `broker`.
pub fn router(broker: Arc<Broker>) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/cluster", get(cluster_status))
        .route("/cluster/transfer-leader", post(transfer_leader))
        .route("/cluster/reassign", post(reassign))
        .with_state(broker)
}

async fn ready(State(broker): State<Arc<Broker>>) -> impl IntoResponse {
    if broker.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn metrics(State(broker): State<Arc<Broker>>) -> impl IntoResponse {
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

async fn cluster_status(State(broker): State<Arc<Broker>>) -> impl IntoResponse {
    Json(broker.cluster_status())
}

/// Moves a partition's leadership; answers the new leader's id, or why not.
async fn transfer_leader(
    State(broker): State<Arc<Broker>>,
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
    State(broker): State<Arc<Broker>>,
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
