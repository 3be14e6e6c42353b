//! Replication status and control.
//!
//! With replication enabled every route is the runtime's answer (`Replication::status`,
//! `replicas`, `replica_of`, `promote`). Without it, status is the engine's
//! `{"role":"master","enabled":false,"stats":null,"replicas":null}`, the replica list is empty, and
//! `replicaof` / `promote` answer 409 `replication_conflict` (the request body is still validated
//! first).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vectorizer_core::replication::Replication;
use vectorizer_sdk_types::{ErrorCode, ErrorResponse, ReplicaListResponse, ReplicaOfRequest, ReplicationStatus};

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::{AppState, blocking};

/// Routes under `/api/v1/replication`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(replicas))
        .routes(routes!(replica_of))
        .routes(routes!(promote))
}

/// Status with statistics (v1.2.0). `stats` and `replicas` are null when replication is disabled;
/// `replicas` is null on a replica. Definitions of every number: `docs/REPLICATION.md`.
#[utoipa::path(get, path = "/api/v1/replication/status", tag = "replication",
    responses((status = 200, description = "Role, enabled, stats and replicas of this node", body = ReplicationStatus)))]
async fn status(State(state): State<AppState>) -> Result<Json<ReplicationStatus>, ApiError> {
    // Master-side lag reads an append time from the log: keep it off the async workers.
    match state.replication {
        Some(replication) => blocking(move || Ok(replication.status())).await.map(Json),
        None => state.run(|engine| Ok(engine.replication_status())).await.map(Json),
    }
}

/// Every replica the master knows, disconnected ones included with their last known state
/// (empty on a replica and without replication).
#[utoipa::path(get, path = "/api/v1/replication/replicas", tag = "replication",
    responses((status = 200, description = "The master's replicas", body = ReplicaListResponse)))]
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

/// Follows a master (`{"master":"host:port"}`, its replication address) or stops following
/// (`{"master":null}`, same as promote). The choice is persisted and wins over the configuration.
#[utoipa::path(post, path = "/api/v1/replication/replicaof", tag = "replication",
    request_body = ReplicaOfRequest,
    responses(
        (status = 200, description = "The node's status after the change", body = ReplicationStatus),
        (status = 400, description = "`invalid_argument`: not host:port, or this node's own address", body = ErrorResponse),
        (status = 409, description = "`replication_conflict`: replication is not enabled on this node, or the node is in cluster mode (the controller decides whom it follows)", body = ErrorResponse),
    ))]
async fn replica_of(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ReplicaOfRequest>,
) -> Result<Json<ReplicationStatus>, ApiError> {
    let replication = enabled(&state)?;
    if state.cluster.is_some() {
        return Err(ApiError::new(
            ErrorCode::ReplicationConflict,
            "this node is in cluster mode: the controller decides which master it follows; use \
             POST /api/v1/replication/promote on the node that should become master",
        ));
    }
    Ok(Json(replication.replica_of(req.master).await?))
}

/// Makes this replica the master of a new epoch (manual failover). In cluster mode the
/// controller does it: it fences the current master, waits out its lease, commits this node as
/// master, and the call returns once this node serves as master.
#[utoipa::path(post, path = "/api/v1/replication/promote", tag = "replication",
    responses(
        (status = 200, description = "The node's status as the new master", body = ReplicationStatus),
        (status = 400, description = "`invalid_argument`: cluster mode, this node has priority 0", body = ErrorResponse),
        (status = 409, description = "`replication_conflict`: already the master, or replication is not enabled", body = ErrorResponse),
        (status = 503, description = "`unavailable`: cluster mode, no controller majority to commit the change", body = ErrorResponse),
    ))]
async fn promote(State(state): State<AppState>) -> Result<Json<ReplicationStatus>, ApiError> {
    let replication = enabled(&state)?;
    let Some(controller) = &state.cluster else {
        return Ok(Json(replication.promote().await?));
    };
    if replication.position().is_master {
        return Err(ApiError::new(ErrorCode::ReplicationConflict, "this node is already the master"));
    }
    let me = controller.view().node_id;
    controller.propose_master(me).await?;
    // Committed: the controller's reconciliation promotes this node; wait for it (bounded).
    let deadline = tokio::time::Instant::now() + PROMOTE_APPLY_WAIT;
    while !replication.position().is_master {
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "the controller committed this node as master, but it did not take over within {} ms; \
                     see GET /api/v1/cluster",
                    PROMOTE_APPLY_WAIT.as_millis()
                ),
            ));
        }
        tokio::time::sleep(PROMOTE_POLL).await;
    }
    Ok(Json(blocking(move || Ok(replication.status())).await?))
}

/// Cluster mode: how long `promote` waits for the committed change to take effect locally.
const PROMOTE_APPLY_WAIT: std::time::Duration = std::time::Duration::from_secs(15);
/// ... checking this often.
const PROMOTE_POLL: std::time::Duration = std::time::Duration::from_millis(20);
