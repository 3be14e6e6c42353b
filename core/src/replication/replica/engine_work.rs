//! Blocking engine mutations (apply, install) run on the blocking pool, tracked so that the client
//! can wait for them after a cancelled session.
//!
//! Invariant: a closure started through [`EngineWork::run`] holds the tracker until it returns,
//! even when the future awaiting it was dropped (a cancelled session); [`EngineWork::settle`]
//! returns only when no such closure is running. So once the client's `run` returned, the engine's
//! offsets are final and a promotion that follows cannot race a late apply.

use std::sync::Arc;

use crate::error::{CoreError, Result};

/// Tracker of in-flight engine mutations of one replication client.
#[derive(Debug, Clone, Default)]
pub(super) struct EngineWork {
    running: Arc<tokio::sync::Mutex<()>>,
}

impl EngineWork {
    /// Runs `work` on the blocking pool and returns its result.
    pub(super) async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
        let held = self.running.clone().lock_owned().await;
        let task = tokio::task::spawn_blocking(move || {
            let result = work();
            drop(held);
            result
        });
        task.await.map_err(|e| CoreError::Unavailable { reason: format!("a replica apply task failed: {e}") })?
    }

    /// Runs `work` on the calling task (no hand-off to the blocking pool), tracked like
    /// [`EngineWork::run`]. Only for work that cannot block for long: no fsync wait and no lock
    /// held across I/O (a log segment rotation, one fsync per segment, is the accepted exception).
    pub(super) async fn run_inline<T>(&self, work: impl FnOnce() -> Result<T>) -> Result<T> {
        let _held = self.running.lock().await;
        work()
    }

    /// Waits until no mutation is running.
    pub(super) async fn settle(&self) {
        drop(self.running.lock().await);
    }
}

/// Runs a blocking call that does not mutate the engine (fsync waits, staging cleanup).
pub(super) async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| CoreError::Unavailable { reason: format!("a replica I/O task failed: {e}") })?
}
