//! The master's periodic health tick over its replicas: logs status transitions, closes sessions
//! of silent replicas and of replicas whose backlog exceeds the cap, and pins the log for the
//! replicas it still serves.
//!
//! Invariants:
//! - Each status change of a replica is logged once (`warn` for Lagging and Disconnected).
//! - A session is closed (and a buffer overflow counted) at most once, whoever else closes it at
//!   the same time (see `ReplicaEntry::close_session_because`).
//! - The retention floor is the lowest position over live sessions (`u64::MAX` when none): the
//!   log after every served replica's position is kept, nothing is kept for a dropped replica.

use std::sync::atomic::Ordering;

use parking_lot::Mutex;
use vectorizer_sdk_types::ReplicaStatus;

use crate::replication::node::Shared;
use crate::replication::registry::Evaluated;
use crate::replication::stats;

/// Serialises computing and storing the retention floor, so a floor computed before a session
/// registered its position can never overwrite one computed after.
static PIN: Mutex<()> = Mutex::new(());

pub(super) fn on_tick(shared: &Shared, now_ms: u64) {
    let evaluated = stats::evaluate_replicas(shared, now_ms);
    for e in &evaluated {
        let _changed = log_transition(e);
        enforce(shared, e, now_ms);
    }
    pin_log(shared);
}

/// Logs a status change; returns whether there was one.
fn log_transition(e: &Evaluated) -> bool {
    let (previous, last_error) = {
        let mut facts = e.entry.facts.lock();
        (std::mem::replace(&mut facts.last_status, e.status), facts.last_error.clone())
    };
    if previous == e.status {
        return false;
    }
    let (replica_id, lag_ms) = (&e.entry.id, e.lag_ms);
    match e.status {
        ReplicaStatus::Lagging | ReplicaStatus::Disconnected => {
            tracing::warn!(%replica_id, from = ?previous, to = ?e.status, lag_ms, ?last_error, "replica status changed");
        }
        ReplicaStatus::Connected | ReplicaStatus::Syncing => {
            tracing::info!(%replica_id, from = ?previous, to = ?e.status, lag_ms, "replica status changed");
        }
    }
    true
}

/// Closes the session of a silent replica, or of one whose backlog exceeds the cap.
fn enforce(shared: &Shared, e: &Evaluated, now_ms: u64) {
    let entry = &e.entry;
    let position = {
        let facts = entry.facts.lock();
        if !(facts.link_up && facts.close.is_some()) {
            return;
        }
        facts.position
    };
    let timeout_ms = shared.config.health.disconnect_timeout.as_millis() as u64;
    let silent_ms = now_ms.saturating_sub(entry.last_heartbeat_ms.load(Ordering::Relaxed));
    if silent_ms > timeout_ms {
        let reason = format!("no frame from the replica for {silent_ms} ms (disconnect_timeout is {timeout_ms} ms)");
        if entry.close_session_because(reason) {
            tracing::warn!(replica_id = %entry.id, silent_ms, "closing the session of a silent replica");
        }
        return;
    }
    let Some(position) = position else {
        return;
    };
    let cap = shared.config.replica_buffer_bytes;
    let backlog = shared.engine.log().bytes_after(position);
    if backlog > cap {
        let reason = format!(
            "backlog overflow: {backlog} bytes of log after the replica's position {position} exceed \
             replica_buffer_bytes ({cap}); the log is no longer kept for it"
        );
        if entry.close_session_because(reason) {
            shared.counters.buffer_overflows.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(replica_id = %entry.id, backlog, cap, position, "replica backlog overflow: link dropped");
        }
    }
}

/// Pins the log after the lowest position of the live sessions (none: no pin).
pub(super) fn pin_log(shared: &Shared) {
    let _one_at_a_time = PIN.lock();
    let floor = shared
        .registry
        .entries()
        .iter()
        .filter_map(|entry| {
            let facts = entry.facts.lock();
            if facts.link_up && facts.close.is_some() { facts.position } else { None }
        })
        .min()
        .unwrap_or(u64::MAX);
    shared.engine.set_retention_floor(floor);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::registry::{Announced, Registry};

    #[test]
    fn each_status_change_is_logged_once() {
        let registry = Registry::default();
        let announced = Announced { host: "h".into(), port: 1, repl_addr: "h:2".into() };
        let guard = registry.attach("r-1", announced, 4, 1).expect("attach");
        let at = |status| Evaluated { entry: guard.entry.clone(), status, lag_ms: 0 };
        let sequence = [
            (ReplicaStatus::Syncing, true),
            (ReplicaStatus::Syncing, false),
            (ReplicaStatus::Connected, true),
            (ReplicaStatus::Lagging, true),
            (ReplicaStatus::Lagging, false),
            (ReplicaStatus::Disconnected, true),
            (ReplicaStatus::Disconnected, false),
        ];
        for (status, logged) in sequence {
            assert_eq!(log_transition(&at(status)), logged, "{status:?}");
            assert_eq!(guard.entry.facts.lock().last_status, status);
        }
    }
}
