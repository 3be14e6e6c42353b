//! The master's lease: the permission to accept writes, renewed through the controller.
//!
//! Invariant: the lease is extended only by a `LeaseRenewal` that the controller committed and
//! accepted, and only up to (monotonic instant the renewal was *sent*) + `lease`. The leader never
//! appoints another master before `lease * (1 + max_clock_drift) + margin` after it applied the last
//! accepted renewal, which happened after the send. So a master cut off from the controller
//! majority stops accepting writes before any other node can be appointed.

use std::sync::Arc;
use std::time::Instant;

use crate::cluster::controller::Inner;
use crate::cluster::state::{Command, Outcome};

/// A granted lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lease {
    /// Epoch the lease was granted for.
    pub epoch: u64,
    /// Monotonic end of the lease.
    pub until: Instant,
}

/// Whether this node holds a valid master lease for the committed epoch right now.
pub(crate) fn valid(inner: &Inner) -> bool {
    if inner.is_shut_down() {
        return false;
    }
    let (master, epoch, fenced) = inner.applied.master();
    if master != Some(inner.me) || fenced {
        return false;
    }
    matches!(*inner.lease.lock(), Some(l) if l.epoch == epoch && Instant::now() < l.until)
}

/// While the committed state names this node master, renews the lease every `lease / 3`.
pub(crate) async fn run(inner: Arc<Inner>) {
    let mut changes = inner.applied.subscribe();
    let mut shutdown = inner.shutdown.subscribe();
    let interval = inner.config.renew_interval();
    loop {
        let state = inner.applied.current();
        if state.master_id != Some(inner.me) || state.fenced {
            *inner.lease.lock() = None;
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = shutdown.changed() => return,
            }
            continue;
        }
        let sent = Instant::now();
        let renewal = Command::LeaseRenewal { master_id: inner.me, epoch: state.epoch };
        match inner.propose(renewal, interval).await {
            Ok(Outcome::Applied) => {
                let until = sent + inner.config.lease;
                let mut lease = inner.lease.lock();
                let extend = match *lease {
                    Some(l) => l.epoch != state.epoch || l.until < until,
                    None => true,
                };
                if extend && !inner.is_shut_down() {
                    *lease = Some(Lease { epoch: state.epoch, until });
                }
            }
            Ok(Outcome::Rejected { epoch, master_id, fenced }) => {
                tracing::info!(
                    epoch,
                    ?master_id,
                    fenced,
                    "controller: lease renewal refused; this node is not the master"
                );
                *inner.lease.lock() = None;
            }
            Err(e) => tracing::debug!(error = %e, "controller: lease renewal failed"),
        }
        if !inner.sleep(interval.saturating_sub(sent.elapsed())).await {
            return;
        }
    }
}
