//! The HTTP application: every resource router merged, fallbacks and layers.
//!
//! Invariant: every answer, including unknown routes (404), wrong methods (405) and oversized bodies
//! (413), is an `ErrorResponse` JSON body when it is not a success; every request, matched or not,
//! is counted by the HTTP metrics middleware (`crate::metrics::http`).

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::middleware::{from_fn, from_fn_with_state};
use tower_http::trace::TraceLayer;
use vectorizer_sdk_types::ErrorCode;

use crate::error::{ApiError, log_server_errors};
use crate::metrics::http::track;
use crate::routes;
use crate::state::AppState;

/// Builds the application over `state`.
pub fn app(state: AppState) -> Router {
    let body_limit = state.max_body_bytes;
    let (router, _described): (Router<AppState>, _) = routes::api().split_for_parts();
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn(log_server_errors))
        // `Router::layer` wraps each route and the fallbacks: the matched route is known in there.
        .layer(from_fn_with_state(state.clone(), track))
        .layer(TraceLayer::new_for_http().on_failure(()))
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, format!("{} does not accept method {method}", uri.path()))
}
