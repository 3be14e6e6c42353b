//! Forming the controller group: initialize exactly once, never on restart.
//!
//! Invariant: only the node with the lowest configured id ever calls `Raft::initialize`, only while
//! its own Raft state is pristine (no vote, no log), only if no reachable member reports an
//! initialized controller, and only when a majority of the voters (itself included) answered as
//! pristine. A formed group holds its membership on a majority, so a pristine majority proves no
//! group exists: a restarted node — even the lowest id with a wiped data dir — rejoins the existing
//! group instead of forming a second one.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use openraft::error::{InitializeError, RaftError};

use crate::cluster::controller::{Inner, voter_ids};
use crate::cluster::probe::probe_all;

/// Runs on every node; returns at once on all but the lowest id.
pub(crate) async fn run(inner: Arc<Inner>) {
    let lowest = inner.config.nodes.iter().map(|n| n.id).min();
    if lowest != Some(inner.me) {
        return;
    }
    let interval = inner.config.probe_interval();
    loop {
        match inner.raft.is_initialized().await {
            Ok(false) => {}
            Ok(true) => return,
            Err(e) => {
                tracing::warn!(error = %e, "controller bootstrap: Raft stopped");
                return;
            }
        }
        let replies = probe_all(&inner, interval).await;
        let others: Vec<_> = replies.values().filter(|r| r.node_id != inner.me).collect();
        if let Some(formed) = others.iter().find(|r| r.initialized) {
            tracing::info!(
                peer = formed.node_id,
                "controller bootstrap: the group is already formed; this node joins it and catches up"
            );
            return;
        }
        let pristine = 1 + others.len();
        if pristine >= inner.config.majority() {
            match inner.raft.initialize(voter_ids(&inner.config)).await {
                Ok(()) => {
                    inner.initialized_here.store(true, Ordering::SeqCst);
                    tracing::info!(voters = ?voter_ids(&inner.config), "controller group initialized");
                    return;
                }
                Err(RaftError::APIError(InitializeError::NotAllowed(e))) => {
                    tracing::info!(reason = %e, "controller bootstrap: already initialized");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "controller bootstrap: initialize failed; retrying"),
            }
        } else {
            tracing::debug!(
                pristine,
                majority = inner.config.majority(),
                "controller bootstrap: waiting for a majority"
            );
        }
        if !inner.sleep(interval).await {
            return;
        }
    }
}
