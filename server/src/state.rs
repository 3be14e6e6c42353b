//! Shared state of the request handlers and the bridge from async handlers to the synchronous engine.
//!
//! Invariant: engine calls never run on the async worker threads; they run in
//! `tokio::task::spawn_blocking`, and a task that panics or is cancelled becomes a 500, never a
//! panic of the server.

use std::sync::Arc;

use vectorizer_core::CoreError;
use vectorizer_core::engine::Engine;
use vectorizer_core::replication::Replication;

use crate::error::ApiError;
use crate::metrics::Metrics;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    /// `http.max_body_bytes`, enforced by the body limit layer and named in 413 answers.
    pub max_body_bytes: usize,
    /// The replication runtime; `None` when `replication.enabled` is off.
    pub replication: Option<Arc<Replication>>,
    /// HTTP metric families (node metrics are computed per scrape from `engine` and `replication`).
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// State over an opened engine, without replication.
    pub fn new(engine: Arc<Engine>, max_body_bytes: usize) -> Self {
        Self { engine, max_body_bytes, replication: None, metrics: Arc::new(Metrics::default()) }
    }

    /// The same state with a running replication runtime.
    pub fn with_replication(mut self, replication: Arc<Replication>) -> Self {
        self.replication = Some(replication);
        self
    }

    /// Runs `f` with the engine on the blocking thread pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Engine) -> Result<T, CoreError> + Send + 'static,
    {
        let engine = Arc::clone(&self.engine);
        blocking(move || f(&engine)).await
    }
}

/// Runs `f` on the blocking thread pool (for engine and replication calls that may touch the disk).
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, CoreError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(join) if join.is_panic() => Err(ApiError::internal("the request handler panicked (see the server log)")),
        Err(join) => Err(ApiError::internal(format!("the request handler was cancelled: {join}"))),
    }
}
