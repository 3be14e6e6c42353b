//! `GET /health`: liveness of the HTTP layer.

use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vectorizer_sdk_types::HealthResponse;

use crate::state::AppState;

/// The health route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

/// Liveness: `{"status":"ok","version":...}` whenever the node serves HTTP.
#[utoipa::path(get, path = "/health", tag = "monitoring",
    responses((status = 200, description = "The node serves requests", body = HealthResponse)))]
async fn health() -> Json<HealthResponse> {
    Json(HealthResponse { status: "ok".into(), version: env!("CARGO_PKG_VERSION").into() })
}
