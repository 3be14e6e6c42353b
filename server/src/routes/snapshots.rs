//! `POST /api/v1/snapshots`: write a snapshot now.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use vectorizer_sdk_types::SnapshotInfo;

use crate::error::ApiError;
use crate::state::AppState;

/// The snapshot route.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/snapshots", post(snapshot))
}

async fn snapshot(State(state): State<AppState>) -> Result<Json<SnapshotInfo>, ApiError> {
    state.run(|engine| engine.snapshot_now()).await.map(|summary| Json(summary.to_wire()))
}
