//! Collections: create, list, inspect, delete.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use vectorizer_sdk_types::{CollectionInfo, CreateCollectionRequest, ListCollectionsResponse, WriteResponse};

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

/// Collection routes under `/api/v1/collections`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/collections", get(list).post(create))
        .route("/api/v1/collections/{name}", get(info).delete(delete))
}

async fn create(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateCollectionRequest>,
) -> Result<(StatusCode, Json<WriteResponse>), ApiError> {
    let written = state.run(move |engine| engine.create_collection(&req)).await?;
    Ok((StatusCode::CREATED, Json(written)))
}

async fn list(State(state): State<AppState>) -> Result<Json<ListCollectionsResponse>, ApiError> {
    state.run(|engine| Ok(engine.list_collections())).await.map(Json)
}

async fn info(State(state): State<AppState>, ApiPath(name): ApiPath<String>) -> Result<Json<CollectionInfo>, ApiError> {
    state.run(move |engine| engine.collection_info(&name)).await.map(Json)
}

async fn delete(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<WriteResponse>, ApiError> {
    state.run(move |engine| engine.delete_collection(&name)).await.map(Json)
}
