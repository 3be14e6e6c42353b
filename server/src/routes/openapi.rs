//! `GET /openapi.json`: the OpenAPI 3.1 description of this API, generated from the code
//! (see [`crate::openapi`]).

use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The OpenAPI route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// This document: every route, request and response type, and the error envelope.
#[utoipa::path(get, path = "/openapi.json", tag = "monitoring",
    responses((status = 200, description = "The OpenAPI document (the same as `docs/openapi.json`)", content_type = "application/json", body = Object)))]
async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::json())
}
