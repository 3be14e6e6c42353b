//! One router per resource; [`api`] merges them and [`crate::app::app`] serves the result.
//!
//! Invariant: handlers only parse the request, call one engine operation through
//! [`crate::state::AppState::run`] and map the result; no business rule lives here. Every route is
//! registered through `utoipa_axum::routes!` on a handler with `#[utoipa::path]`, so the router and
//! the OpenAPI document ([`crate::openapi`]) list the same routes.

pub mod admin;
pub mod cluster;
pub mod collections;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod points;
pub mod replication;
pub mod search;
pub mod snapshots;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Every route of the server, with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .merge(health::router())
        .merge(metrics::router())
        .merge(openapi::router())
        .merge(collections::router())
        .merge(points::router())
        .merge(search::router())
        .merge(snapshots::router())
        .merge(replication::router())
        .merge(admin::router())
        .merge(cluster::router())
}
