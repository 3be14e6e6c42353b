//! Nearest-neighbour search in a collection.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vectorizer_sdk_types::{ErrorResponse, SearchRequest, SearchResponse};

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

/// `POST /api/v1/collections/{name}/search`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
}

/// The `limit` nearest points, best first (HNSW, or exact with `exact: true`).
#[utoipa::path(post, path = "/api/v1/collections/{name}/search", tag = "search",
    params(("name" = String, Path, description = "Collection name")),
    request_body = SearchRequest,
    responses(
        (status = 200, description = "Hits, best first", body = SearchResponse),
        (status = 400, description = "`invalid_argument` (limit or ef_search out of range, non-finite value); `dimension_mismatch`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
    ))]
async fn search(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<SearchRequest>,
) -> Result<Json<SearchResponse>, ApiError> {
    state.compute(move |engine| engine.search(&name, &req)).await.map(Json)
}
