//! The replication client's connect loop: one session after another until cancelled, with
//! exponential backoff and jitter between failed attempts.
//!
//! Invariants:
//! - Cancellation is prompt: the token is awaited beside every session and every backoff sleep,
//!   and dropping a session drops its connection and its acknowledging task. Only an engine
//!   mutation already running on the blocking pool (one frame's apply, or a snapshot
//!   installation) is waited for, so that `run` returns with the engine at a final offset.
//! - Every session failure marks the link down with its error; the backoff returns to its
//!   minimum after a session that got through the handshake.
//! - A streak of identical failures (a master that stays down) is logged at warn level once and
//!   then at debug level, so the log does not fill with the same line every few seconds.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::engine::now_ms;
use crate::replication::node::Shared;
use crate::replication::replica::backoff::Backoff;
use crate::replication::replica::engine_work::EngineWork;
use crate::replication::replica::session;

/// Follows `master` until `cancel` fires.
pub(super) async fn run(shared: Arc<Shared>, master: String, cancel: CancellationToken) {
    let work = EngineWork::default();
    let mut backoff = Backoff::new(shared.config.reconnect_min, shared.config.reconnect_max);
    let mut streak: u64 = 0;
    let mut last_error: Option<String> = None;
    tracing::info!(%master, "following the master");
    loop {
        let mut handshake_passed = false;
        let result = tokio::select! {
            () = cancel.cancelled() => break,
            result = session::run(&shared, &master, &work, &mut handshake_passed) => result,
        };
        let Err(error) = result;
        let message = error.to_string();
        shared.link.down(Some(message.clone()), now_ms());
        if handshake_passed {
            backoff.reset();
            streak = 0;
        }
        streak += 1;
        let delay = backoff.next_delay();
        let retry_in_ms = delay.as_millis() as u64;
        if streak == 1 || last_error.as_deref() != Some(message.as_str()) {
            tracing::warn!(%master, error = %error, retry_in_ms, "replication link down");
        } else {
            tracing::debug!(%master, error = %error, retry_in_ms, attempts = streak, "replication link still down");
        }
        last_error = Some(message);
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(delay) => {}
        }
    }
    work.settle().await;
    shared.link.down(None, now_ms());
    tracing::info!(%master, "stopped following the master");
}
