//! Collections: create, list, inspect, delete.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vectorizer_sdk_types::{
    CollectionInfo, CreateCollectionRequest, ErrorResponse, ListCollectionsResponse, WriteResponse,
};

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use crate::write::{WriteOptions, WritePlace, WriteQuery, write};

/// Collection routes under `/api/v1/collections`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(info, delete))
}

/// Creates a collection (one replicated operation).
#[utoipa::path(post, path = "/api/v1/collections", tag = "collections",
    params(WriteQuery),
    request_body = CreateCollectionRequest,
    responses(
        (status = 201, description = "Created; `offset` is the log offset of the durable write", body = WriteResponse),
        (status = 400, description = "`invalid_argument`: a name, dimension or HNSW parameter outside its limits", body = ErrorResponse),
        (status = 409, description = "`collection_exists`; `read_only_replica` on a replica (`error.master` names the master)", body = ErrorResponse),
        (status = 503, description = "`unavailable`: the node is shutting down or its log failed; `no_quorum`: cluster mode, this master holds no controller lease", body = ErrorResponse),
        (status = 504, description = "`write_concern_timeout`: fewer than `w` nodes held the write within `timeout_ms` (the message says how many)", body = ErrorResponse),
    ))]
async fn create(
    State(state): State<AppState>,
    opts: WriteOptions,
    ApiJson(req): ApiJson<CreateCollectionRequest>,
) -> Result<(StatusCode, Json<WriteResponse>), ApiError> {
    let written =
        write(&state, opts, WritePlace::Blocking, move |engine| engine.prepare_create_collection(&req)).await?;
    Ok((StatusCode::CREATED, Json(written)))
}

/// Every collection with its counts.
#[utoipa::path(get, path = "/api/v1/collections", tag = "collections",
    responses((status = 200, description = "All collections, ordered by name", body = ListCollectionsResponse)))]
async fn list(State(state): State<AppState>) -> Result<Json<ListCollectionsResponse>, ApiError> {
    state.run_inline(|engine| Ok(engine.list_collections())).map(Json)
}

/// One collection's configuration and counts.
#[utoipa::path(get, path = "/api/v1/collections/{name}", tag = "collections",
    params(("name" = String, Path, description = "Collection name")),
    responses(
        (status = 200, description = "The collection", body = CollectionInfo),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
    ))]
async fn info(State(state): State<AppState>, ApiPath(name): ApiPath<String>) -> Result<Json<CollectionInfo>, ApiError> {
    state.run_inline(|engine| engine.collection_info(&name)).map(Json)
}

/// Deletes a collection and its points (one replicated operation).
#[utoipa::path(delete, path = "/api/v1/collections/{name}", tag = "collections",
    params(("name" = String, Path, description = "Collection name"),
        WriteQuery),
    responses(
        (status = 200, description = "Deleted; `offset` is the log offset of the durable write", body = WriteResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 409, description = "`read_only_replica` on a replica (`error.master` names the master)", body = ErrorResponse),
        (status = 503, description = "`unavailable`: the node is shutting down or its log failed; `no_quorum`: cluster mode, this master holds no controller lease", body = ErrorResponse),
        (status = 504, description = "`write_concern_timeout`: fewer than `w` nodes held the write within `timeout_ms` (the message says how many)", body = ErrorResponse),
    ))]
async fn delete(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    opts: WriteOptions,
) -> Result<Json<WriteResponse>, ApiError> {
    write(&state, opts, WritePlace::Blocking, move |engine| engine.prepare_delete_collection(&name)).await.map(Json)
}
