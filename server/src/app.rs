//! The HTTP application: every resource router merged, fallbacks and layers.
//!
//! Invariant: every answer, including unknown routes (404), wrong methods (405) and oversized bodies
//! (413), is an `ErrorResponse` JSON body when it is not a success.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use tower_http::trace::TraceLayer;
use vectorizer_sdk_types::ErrorCode;

use crate::error::{ApiError, log_server_errors};
use crate::routes;
use crate::state::AppState;

/// Builds the application over `state`.
pub fn app(state: AppState) -> Router {
    let body_limit = state.max_body_bytes;
    Router::new()
        .merge(routes::health::router())
        .merge(routes::collections::router())
        .merge(routes::points::router())
        .merge(routes::search::router())
        .merge(routes::snapshots::router())
        .merge(routes::replication::router())
        .merge(routes::admin::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(log_server_errors))
        .layer(TraceLayer::new_for_http().on_failure(()))
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, format!("{} does not accept method {method}", uri.path()))
}
