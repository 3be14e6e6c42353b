//! Operator endpoints: `GET /api/v1/admin/digest`, the content digest used to check that nodes
//! converged (documented in `vectorizer_sdk_types::DigestResponse`).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use vectorizer_sdk_types::DigestResponse;

use crate::error::ApiError;
use crate::state::AppState;

/// Routes under `/api/v1/admin`.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/admin/digest", get(digest))
}

async fn digest(State(state): State<AppState>) -> Result<Json<DigestResponse>, ApiError> {
    state.run(|engine| Ok(engine.digest())).await.map(Json)
}
