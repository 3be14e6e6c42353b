//! The cluster controller as this node sees it (`GET /api/v1/cluster`).
//!
//! Invariant: the answer never waits on the network (the controller's view is built from what the
//! node last learnt); outside cluster mode the route answers 409 `replication_conflict` saying so.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vectorizer_sdk_types::{ClusterView, ErrorCode, ErrorResponse};

use crate::error::ApiError;
use crate::state::AppState;

/// Routes under `/api/v1/cluster`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(view))
}

/// Controller term and leader, epoch, master, members (role, health, applied offset, priority)
/// and the last failover (time, reason, old and new master, operations discarded).
#[utoipa::path(get, path = "/api/v1/cluster", tag = "cluster",
    responses(
        (status = 200, description = "The cluster as this node sees it", body = ClusterView),
        (status = 409, description = "`replication_conflict`: cluster mode is not enabled on this node", body = ErrorResponse),
    ))]
async fn view(State(state): State<AppState>) -> Result<Json<ClusterView>, ApiError> {
    match &state.cluster {
        Some(controller) => Ok(Json(controller.view())),
        None => Err(ApiError::new(
            ErrorCode::ReplicationConflict,
            "cluster mode is not enabled on this node (no [cluster] section in its configuration)",
        )),
    }
}
