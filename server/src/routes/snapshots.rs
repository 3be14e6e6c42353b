//! `POST /api/v1/snapshots`: write a snapshot now.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vectorizer_sdk_types::{ErrorResponse, SnapshotInfo};

use crate::error::ApiError;
use crate::state::AppState;

/// The snapshot route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(snapshot))
}

/// Writes and verifies a snapshot of every collection now (writes continue meanwhile).
#[utoipa::path(post, path = "/api/v1/snapshots", tag = "snapshots",
    responses(
        (status = 200, description = "The snapshot written", body = SnapshotInfo),
        (status = 503, description = "`unavailable`: the node's log failed", body = ErrorResponse),
    ))]
async fn snapshot(State(state): State<AppState>) -> Result<Json<SnapshotInfo>, ApiError> {
    state.run(|engine| engine.snapshot_now()).await.map(|summary| Json(summary.to_wire()))
}
