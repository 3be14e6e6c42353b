//! Replication status and control.
//!
//! Status and the replica list are whatever the engine reports. `replicaof` and `promote` answer 409
//! `replication_conflict` until replication exists (the request body is still validated first).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use vectorizer_sdk_types::{ErrorCode, ReplicaListResponse, ReplicaOfRequest, ReplicationStatus};

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// Routes under `/api/v1/replication`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/replication/status", get(status))
        .route("/api/v1/replication/replicas", get(replicas))
        .route("/api/v1/replication/replicaof", post(replica_of))
        .route("/api/v1/replication/promote", post(promote))
}

async fn status(State(state): State<AppState>) -> Result<Json<ReplicationStatus>, ApiError> {
    state.run(|engine| Ok(engine.replication_status())).await.map(Json)
}

async fn replicas(State(state): State<AppState>) -> Result<Json<ReplicaListResponse>, ApiError> {
    let status = state.run(|engine| Ok(engine.replication_status())).await?;
    Ok(Json(ReplicaListResponse { replicas: status.replicas.unwrap_or_default() }))
}

fn not_enabled() -> ApiError {
    ApiError::new(ErrorCode::ReplicationConflict, "replication is not enabled on this node")
}

async fn replica_of(ApiJson(_req): ApiJson<ReplicaOfRequest>) -> Result<Json<ReplicationStatus>, ApiError> {
    Err(not_enabled())
}

async fn promote() -> Result<Json<ReplicationStatus>, ApiError> {
    Err(not_enabled())
}
