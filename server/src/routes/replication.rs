//! Replication status and control.
//!
//! With replication enabled every route is the runtime's answer (`Replication::status`,
//! `replicas`, `replica_of`, `promote`). Without it, status is the engine's
//! `{"role":"master","enabled":false,"stats":null,"replicas":null}`, the replica list is empty, and
//! `replicaof` / `promote` answer 409 `replication_conflict` (the request body is still validated
//! first).

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use vectorizer_core::replication::Replication;
use vectorizer_sdk_types::{ErrorCode, ReplicaListResponse, ReplicaOfRequest, ReplicationStatus};

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::{AppState, blocking};

/// Routes under `/api/v1/replication`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/replication/status", get(status))
        .route("/api/v1/replication/replicas", get(replicas))
        .route("/api/v1/replication/replicaof", post(replica_of))
        .route("/api/v1/replication/promote", post(promote))
}

async fn status(State(state): State<AppState>) -> Result<Json<ReplicationStatus>, ApiError> {
    // Master-side lag reads an append time from the log: keep it off the async workers.
    match state.replication {
        Some(replication) => blocking(move || Ok(replication.status())).await.map(Json),
        None => state.run(|engine| Ok(engine.replication_status())).await.map(Json),
    }
}

async fn replicas(State(state): State<AppState>) -> Result<Json<ReplicaListResponse>, ApiError> {
    let replicas = match state.replication {
        Some(replication) => blocking(move || Ok(replication.replicas())).await?,
        None => Vec::new(),
    };
    Ok(Json(ReplicaListResponse { replicas }))
}

fn enabled(state: &AppState) -> Result<Arc<Replication>, ApiError> {
    state
        .replication
        .clone()
        .ok_or_else(|| ApiError::new(ErrorCode::ReplicationConflict, "replication is not enabled on this node"))
}

async fn replica_of(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ReplicaOfRequest>,
) -> Result<Json<ReplicationStatus>, ApiError> {
    let replication = enabled(&state)?;
    Ok(Json(replication.replica_of(req.master).await?))
}

async fn promote(State(state): State<AppState>) -> Result<Json<ReplicationStatus>, ApiError> {
    let replication = enabled(&state)?;
    Ok(Json(replication.promote().await?))
}
