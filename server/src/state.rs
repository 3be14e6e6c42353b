//! Shared state of the request handlers and the bridge from async handlers to the synchronous engine.
//!
//! Invariant: engine calls never run on the async worker threads; they run in
//! `tokio::task::spawn_blocking`, and a task that panics or is cancelled becomes a 500, never a
//! panic of the server.

use std::sync::Arc;

use vectorizer_core::CoreError;
use vectorizer_core::engine::Engine;

use crate::error::ApiError;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    /// `http.max_body_bytes`, enforced by the body limit layer and named in 413 answers.
    pub max_body_bytes: usize,
}

impl AppState {
    /// State over an opened engine.
    pub fn new(engine: Arc<Engine>, max_body_bytes: usize) -> Self {
        Self { engine, max_body_bytes }
    }

    /// Runs `f` with the engine on the blocking thread pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Engine) -> Result<T, CoreError> + Send + 'static,
    {
        let engine = Arc::clone(&self.engine);
        match tokio::task::spawn_blocking(move || f(&engine)).await {
            Ok(result) => result.map_err(ApiError::from),
            Err(join) if join.is_panic() => {
                Err(ApiError::internal("the request handler panicked (see the server log)"))
            }
            Err(join) => Err(ApiError::internal(format!("the request handler was cancelled: {join}"))),
        }
    }
}
