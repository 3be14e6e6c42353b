//! Points of a collection: upsert, fetch by id, delete by ids.
//!
//! `/vectors/delete` is a static segment and wins over `/vectors/{id}` in routing, so `GET` on it is
//! answered as a fetch of the point whose id is literally `delete`: every id stays fetchable.

use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use vectorizer_sdk_types::{DeletePointsRequest, PointRecord, UpsertRequest, WriteResponse};

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

/// Point routes under `/api/v1/collections/{name}/vectors`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/collections/{name}/vectors", put(upsert))
        .route("/api/v1/collections/{name}/vectors/{id}", get(get_point))
        .route("/api/v1/collections/{name}/vectors/delete", post(delete).get(get_point_named_delete))
}

async fn upsert(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<UpsertRequest>,
) -> Result<Json<WriteResponse>, ApiError> {
    state.run(move |engine| engine.upsert(&name, req)).await.map(Json)
}

async fn get_point(
    State(state): State<AppState>,
    ApiPath((name, id)): ApiPath<(String, String)>,
) -> Result<Json<PointRecord>, ApiError> {
    state.run(move |engine| engine.get_point(&name, &id)).await.map(Json)
}

async fn get_point_named_delete(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<PointRecord>, ApiError> {
    state.run(move |engine| engine.get_point(&name, "delete")).await.map(Json)
}

async fn delete(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<DeletePointsRequest>,
) -> Result<Json<WriteResponse>, ApiError> {
    state.run(move |engine| engine.delete_points(&name, &req)).await.map(Json)
}
