//! `GET /metrics`: Prometheus text exposition of the node (see [`crate::metrics`]).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::metrics::CONTENT_TYPE;
use crate::state::{AppState, blocking};

/// The metrics route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Prometheus metrics (text format 0.0.4): replication role, offsets, lag, per-replica status,
/// byte and sync counters, snapshot size and duration, engine gauges, HTTP request counts and
/// latencies. Names and meanings: `docs/MONITORING.md`.
#[utoipa::path(get, path = "/metrics", tag = "monitoring",
    responses((status = 200, description = "The exposition", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)))]
async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let encoded = blocking(move || {
        Ok(state.metrics.render(&state.engine, state.replication.as_deref(), state.cluster.as_deref()))
    })
    .await?;
    let text = encoded.map_err(|_| ApiError::internal("the metrics could not be encoded"))?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text))
}
