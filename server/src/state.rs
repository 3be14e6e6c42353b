//! Shared state of the request handlers and the bridge from async handlers to the synchronous engine.
//!
//! Invariants:
//! - Engine calls that may wait for an fsync, a lock held across I/O, or a large file operation
//!   (snapshots, status, large writes, fsync waits) never run on the async worker threads; they run
//!   in `tokio::task::spawn_blocking`, and a task that panics or is cancelled becomes a 500, never
//!   a panic of the server.
//! - Calls that never wait run inline through [`AppState::run_inline`]: lookups that read memory
//!   under the engine's short-held locks (a point by id, a collection's description), and small
//!   writes through `Engine::try_commit_nowait` (its page-cache append included; `write.rs`).
//!   Handing them to the blocking pool costs two thread wake-ups, more than the call itself.
//! - Searches (CPU-bound, no I/O) run through [`AppState::compute`]: on the calling worker thread
//!   inside `tokio::task::block_in_place`, which first hands the worker's other tasks to another
//!   thread, so the request itself waits for no thread hand-off; a panic becomes a 500 there too.

use std::sync::Arc;

use std::time::Duration;

use vectorizer_core::CoreError;
use vectorizer_core::cluster::Controller;
use vectorizer_core::engine::Engine;
use vectorizer_core::replication::{Replication, WriteConcern};

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::write::WriteOptions;

/// `replication.write_timeout_ms` default: how long a write waits for `w` above 1.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// The cluster controller; `None` outside cluster mode.
    pub cluster: Option<Arc<Controller>>,
    /// Cluster mode: the replication ids of the other voting nodes (write concern counts only
    /// them, and their number fixes the majority).
    pub cluster_members: Option<Arc<[String]>>,
    /// `?w=` / `?timeout_ms=` when a write does not give them.
    pub write_defaults: WriteOptions,
}

impl AppState {
    /// State over an opened engine, without replication.
    pub fn new(engine: Arc<Engine>, max_body_bytes: usize) -> Self {
        Self {
            engine,
            max_body_bytes,
            replication: None,
            metrics: Arc::new(Metrics::default()),
            cluster: None,
            cluster_members: None,
            write_defaults: WriteOptions { w: WriteConcern::One, timeout: DEFAULT_WRITE_TIMEOUT },
        }
    }

    /// The same state in cluster mode: `members` are the other voters' replication ids.
    pub fn with_cluster(mut self, controller: Arc<Controller>, members: Vec<String>) -> Self {
        self.cluster = Some(controller);
        self.cluster_members = Some(members.into());
        self
    }

    /// The same state with other write defaults.
    pub fn with_write_defaults(mut self, defaults: WriteOptions) -> Self {
        self.write_defaults = defaults;
        self
    }

    /// The same state with a running replication runtime.
    pub fn with_replication(mut self, replication: Arc<Replication>) -> Self {
        self.replication = Some(replication);
        self
    }

    /// Runs `f` on the calling async worker; a panic becomes a 500. Only for calls that never
    /// wait: lookups, and writes through `Engine::try_commit_nowait` (see `write.rs`).
    pub fn run_inline<T>(&self, f: impl FnOnce(&Engine) -> Result<T, CoreError>) -> Result<T, ApiError> {
        let engine = &self.engine;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(engine))) {
            Ok(result) => result.map_err(ApiError::from),
            Err(_) => Err(handler_panicked()),
        }
    }

    /// Runs the CPU-bound engine call `f` (no I/O, no fsync wait) on the calling thread, with the
    /// worker's other tasks moved to another thread for the duration. On a current-thread runtime
    /// (in-process tests), where that is not possible, it runs on the blocking pool instead.
    pub async fn compute<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Engine) -> Result<T, CoreError> + Send + 'static,
    {
        use tokio::runtime::{Handle, RuntimeFlavor};
        if Handle::current().runtime_flavor() != RuntimeFlavor::MultiThread {
            return self.run(f).await;
        }
        let engine = &self.engine;
        let result =
            tokio::task::block_in_place(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(engine))));
        match result {
            Ok(result) => result.map_err(ApiError::from),
            Err(_) => Err(handler_panicked()),
        }
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
        Err(join) if join.is_panic() => Err(handler_panicked()),
        Err(join) => Err(ApiError::internal(format!("the request handler was cancelled: {join}"))),
    }
}

/// The 500 of a handler that panicked (the panic itself is in the server log).
fn handler_panicked() -> ApiError {
    ApiError::internal("the request handler panicked (see the server log)")
}
