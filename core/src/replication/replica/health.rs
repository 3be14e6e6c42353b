//! The replica's periodic health check: derive the link status from the recorded facts and log
//! each transition once.
//!
//! Invariant: the status is computed by the same functions as `GET /replication/status`
//! ([`stats::replica_stats`]), so the log and the API never disagree; `link.inner.last_status`
//! holds the status last logged.

use vectorizer_sdk_types::ReplicaStatus;

use crate::replication::node::Shared;
use crate::replication::stats;

/// Evaluates the link now and logs a change of status (warn for Lagging / Disconnected).
pub(super) fn on_tick(shared: &Shared, now_ms: u64) {
    let s = stats::replica_stats(shared, now_ms);
    let Some(status) = s.status else { return };
    let previous = {
        let mut inner = shared.link.inner.lock();
        let previous = inner.last_status;
        if previous == Some(status) {
            return;
        }
        inner.last_status = Some(status);
        previous
    };
    let master = s.master.as_deref().unwrap_or("-");
    match status {
        ReplicaStatus::Lagging => tracing::warn!(
            %master, ?previous, lag_ms = s.lag_ms, operations_pending = s.operations_pending,
            "replication link is lagging"
        ),
        // Before the first connection there is no transition to warn about.
        ReplicaStatus::Disconnected if previous.is_none() => {
            tracing::info!(%master, "replication link not established yet")
        }
        ReplicaStatus::Disconnected => tracing::warn!(
            %master, ?previous, lag_ms = s.lag_ms, last_error = s.last_error.as_deref().unwrap_or("-"),
            "replication link is disconnected"
        ),
        ReplicaStatus::Syncing => tracing::info!(%master, ?previous, "replication link is syncing"),
        ReplicaStatus::Connected => {
            tracing::info!(%master, ?previous, lag_ms = s.lag_ms, "replication link is connected")
        }
    }
}
