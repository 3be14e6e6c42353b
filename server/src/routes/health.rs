//! `GET /health`: liveness of the HTTP layer.

use axum::routing::get;
use axum::{Json, Router};
use vectorizer_sdk_types::HealthResponse;

use crate::state::AppState;

/// The health route.
pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health() -> Json<HealthResponse> {
    Json(HealthResponse { status: "ok".into(), version: env!("CARGO_PKG_VERSION").into() })
}
