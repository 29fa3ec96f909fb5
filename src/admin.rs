//! The admin HTTP listener: `/health`, `/ready`, `/metrics`, and the cluster's state, leader
//! transfers, reassignments and brokers joining and leaving for `neo cluster`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use neo_broker::leader_transfer::TransferRequest;
use neo_broker::membership::{AddBrokerRequest, Removal, RemoveBrokerRequest};
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
        .route("/cluster/add-broker", post(add_broker))
        .route("/cluster/remove-broker", post(remove_broker))
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

/// Adds a broker to the cluster; answers once it is a voter of the controller.
async fn add_broker(
    State(broker): State<Arc<Broker>>,
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
    State(broker): State<Arc<Broker>>,
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
