//! Vectorizer server: configuration, the axum REST API and the node's lifecycle.
//!
//! - [`config`]: layered configuration (defaults -> TOML file -> environment -> CLI flags).
//! - [`app`]: the HTTP application ([`app::app`]) built from one router per resource in [`routes`].
//! - [`error`] / [`extract`]: the error envelope and the extractors whose rejections are our errors.
//! - [`metrics`]: `GET /metrics` (Prometheus), [`openapi`]: `GET /openapi.json` generated from the routes.
//! - [`serve`]: recovery, the ready line, graceful shutdown.
//! - [`write`]: the write path (cluster lease gate, `?w=` durability); [`cluster`]: the replication
//!   runtime obeying the failover controller.
//!
//! Invariant: the server holds no business logic; handlers parse, call one engine operation on the
//! blocking pool and map the result.

pub mod app;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod error;
pub mod extract;
pub mod logging;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod serve;
pub mod state;
pub mod upsert_json;
pub mod write;

pub use app::app;
pub use state::AppState;
