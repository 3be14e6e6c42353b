//! `POST /api/v1/snapshots`: write a snapshot now.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use vectorizer_core::engine::SnapshotSummary;
use vectorizer_sdk_types::SnapshotInfo;

use crate::error::ApiError;
use crate::state::AppState;

/// The snapshot route.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/snapshots", post(snapshot))
}

async fn snapshot(State(state): State<AppState>) -> Result<Json<SnapshotInfo>, ApiError> {
    let summary = state.run(|engine| engine.snapshot_now()).await?;
    snapshot_info(summary).map(Json)
}

/// UNFINISHED: the placeholder engine's `SnapshotSummary` carries neither the epoch nor the creation
/// time that `SnapshotInfo` reports (the contract says `snapshot_now` returns a `SnapshotManifest`).
/// Until the real engine lands this answers a 500 rather than invent those two fields.
fn snapshot_info(summary: SnapshotSummary) -> Result<SnapshotInfo, ApiError> {
    Err(ApiError::internal(format!(
        "snapshot at offset {} written ({} bytes) but its epoch and creation time are not reported by this engine build",
        summary.offset, summary.bytes
    )))
}
