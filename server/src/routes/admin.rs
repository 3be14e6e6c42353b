//! Operator endpoints: `GET /api/v1/admin/digest`, the content digest used to check that nodes
//! converged (documented in `vectorizer_sdk_types::DigestResponse`).

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vectorizer_sdk_types::DigestResponse;

use crate::error::ApiError;
use crate::state::AppState;

/// Routes under `/api/v1/admin`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(digest))
}

/// Applied offset and a blake3 digest per collection: two nodes with equal answers hold the same data.
#[utoipa::path(get, path = "/api/v1/admin/digest", tag = "admin",
    responses((status = 200, description = "This node's content digest", body = DigestResponse)))]
async fn digest(State(state): State<AppState>) -> Result<Json<DigestResponse>, ApiError> {
    state.run(|engine| Ok(engine.digest())).await.map(Json)
}
