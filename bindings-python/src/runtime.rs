//! The one tokio runtime of the extension, and the only place that blocks on it.
//!
//! Invariants: the runtime is created lazily on first use and again in a forked child (a runtime's
//! worker threads do not survive `fork`; the parent's runtime is leaked in the child, never dropped,
//! because dropping it would wait for threads that do not exist there). Every blocking wait releases
//! the GIL (`py.detach`).

use std::future::Future;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use tokio::runtime::Runtime;

use crate::error::runtime_error;

static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);

/// The runtime of the current process, created on first use (or first use after a fork).
fn runtime() -> PyResult<Arc<Runtime>> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((owner, rt)) = slot.as_ref()
        && *owner == pid
    {
        return Ok(rt.clone());
    }
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("vectorizer-io")
            .enable_all()
            .build()
            .map_err(|e| runtime_error(&e.to_string()))?,
    );
    if let Some(inherited) = slot.replace((pid, rt.clone())) {
        // Inherited across fork: its threads are gone; dropping it could block forever.
        std::mem::forget(inherited);
    }
    Ok(rt)
}

/// Runs `future` to completion on the runtime with the GIL released.
pub(crate) fn block_on<F>(py: Python<'_>, future: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = runtime()?;
    Ok(py.detach(move || rt.block_on(future)))
}

/// The current process id, for objects that must be rebuilt after a fork.
pub(crate) fn current_pid() -> u32 {
    std::process::id()
}
