//! Nearest-neighbour search in a collection.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use vectorizer_sdk_types::{SearchRequest, SearchResponse};

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

/// `POST /api/v1/collections/{name}/search`.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/collections/{name}/search", post(search))
}

async fn search(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<SearchRequest>,
) -> Result<Json<SearchResponse>, ApiError> {
    state.run(move |engine| engine.search(&name, &req)).await.map(Json)
}
