//! Points of a collection: upsert, fetch by id, delete by ids.
//!
//! `/vectors/delete` is a static segment and wins over `/vectors/{id}` in routing, so `GET` on it is
//! answered as a fetch of the point whose id is literally `delete`: every id stays fetchable.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vectorizer_sdk_types::{DeletePointsRequest, ErrorResponse, PointRecord, UpsertRequest, WriteResponse};

use crate::error::ApiError;
use crate::extract::{ApiPath, SizedJson, UpsertBody};
use crate::state::AppState;
use crate::write::{WriteOptions, WritePlace, WriteQuery, write};

/// Point routes under `/api/v1/collections/{name}/vectors`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upsert))
        .routes(routes!(get_point))
        .routes(routes!(delete, get_point_named_delete))
}

/// Inserts or replaces points (one replicated operation for the whole batch).
#[utoipa::path(put, path = "/api/v1/collections/{name}/vectors", tag = "points",
    params(("name" = String, Path, description = "Collection name"),
        WriteQuery),
    request_body = UpsertRequest,
    responses(
        (status = 200, description = "Written; `affected` points inserted or replaced", body = WriteResponse),
        (status = 400, description = "`invalid_argument` (empty batch, bad id, non-finite value, payload not an object); `dimension_mismatch`", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 409, description = "`read_only_replica` on a replica (`error.master` names the master)", body = ErrorResponse),
        (status = 503, description = "`unavailable`: the node is shutting down or its log failed; `no_quorum`: cluster mode, this master holds no controller lease", body = ErrorResponse),
        (status = 504, description = "`write_concern_timeout`: fewer than `w` nodes held the write within `timeout_ms` (the message says how many)", body = ErrorResponse),
    ))]
async fn upsert(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    opts: WriteOptions,
    UpsertBody { value: req, body_len }: UpsertBody,
) -> Result<Json<WriteResponse>, ApiError> {
    let place = WritePlace::for_body(body_len);
    write(&state, opts, place, move |engine| engine.prepare_upsert(&name, req)).await.map(Json)
}

/// One point with its vector and payload. Ids containing `/` are percent-encoded by clients.
#[utoipa::path(get, path = "/api/v1/collections/{name}/vectors/{id}", tag = "points",
    params(
        ("name" = String, Path, description = "Collection name"),
        ("id" = String, Path, description = "Point id (percent-encoded)"),
    ),
    responses(
        (status = 200, description = "The point", body = PointRecord),
        (status = 404, description = "`collection_not_found`, `point_not_found`", body = ErrorResponse),
    ))]
async fn get_point(
    State(state): State<AppState>,
    ApiPath((name, id)): ApiPath<(String, String)>,
) -> Result<Json<PointRecord>, ApiError> {
    state.run_inline(|engine| engine.get_point(&name, &id)).map(Json)
}

/// The point whose id is literally `delete` (the path is shared with `POST .../vectors/delete`).
#[utoipa::path(get, path = "/api/v1/collections/{name}/vectors/delete", tag = "points",
    params(("name" = String, Path, description = "Collection name")),
    responses(
        (status = 200, description = "The point with id `delete`", body = PointRecord),
        (status = 404, description = "`collection_not_found`, `point_not_found`", body = ErrorResponse),
    ))]
async fn get_point_named_delete(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<PointRecord>, ApiError> {
    state.run_inline(|engine| engine.get_point(&name, "delete")).map(Json)
}

/// Removes points by id (one replicated operation; unknown ids are not an error).
#[utoipa::path(post, path = "/api/v1/collections/{name}/vectors/delete", tag = "points",
    params(("name" = String, Path, description = "Collection name"),
        WriteQuery),
    request_body = DeletePointsRequest,
    responses(
        (status = 200, description = "Written; `affected` points removed", body = WriteResponse),
        (status = 400, description = "`invalid_argument`: empty list, too many or bad ids", body = ErrorResponse),
        (status = 404, description = "`collection_not_found`", body = ErrorResponse),
        (status = 409, description = "`read_only_replica` on a replica (`error.master` names the master)", body = ErrorResponse),
        (status = 503, description = "`unavailable`: the node is shutting down or its log failed; `no_quorum`: cluster mode, this master holds no controller lease", body = ErrorResponse),
        (status = 504, description = "`write_concern_timeout`: fewer than `w` nodes held the write within `timeout_ms` (the message says how many)", body = ErrorResponse),
    ))]
async fn delete(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    opts: WriteOptions,
    SizedJson { value: req, body_len }: SizedJson<DeletePointsRequest>,
) -> Result<Json<WriteResponse>, ApiError> {
    let place = WritePlace::for_body(body_len);
    write(&state, opts, place, move |engine| engine.prepare_delete_points(&name, &req)).await.map(Json)
}
