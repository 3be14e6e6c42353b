//! Obeying the committed state: the appointed master promotes, every other node follows it.
//!
//! Invariants: the hooks are called only while a controller leader is known (a node that just
//! restarted may hold a stale state until the leader's first heartbeat), once per committed
//! (epoch, master) when they succeed, and again after a delay when they fail; a call never
//! outlives `failover_timeout`.

use std::sync::Arc;
use std::time::Duration;

use crate::cluster::controller::Inner;

/// Delay before retrying a hook that failed.
const RETRY_DELAY: Duration = Duration::from_millis(500);

pub(crate) async fn run(inner: Arc<Inner>) {
    let mut changes = inner.applied.subscribe();
    let mut shutdown = inner.shutdown.subscribe();
    let mut done: Option<(u64, u64)> = None;
    loop {
        let mut wait = inner.config.probe_interval();
        let state = inner.applied.current();
        if let Some(master) = state.master_id
            && inner.facts().leader.is_some()
            && done != Some((state.epoch, master))
        {
            let call = if master == inner.me {
                inner.hooks.become_master(state.epoch)
            } else {
                match inner.config.node(master) {
                    Some(n) => inner.hooks.follow(n.repl.clone(), n.http.clone(), state.epoch),
                    None => {
                        tracing::error!(master, "controller: the committed master is not in cluster.nodes");
                        Box::pin(async { Ok(()) })
                    }
                }
            };
            let result = tokio::select! {
                r = tokio::time::timeout(inner.config.failover_timeout, call) => r,
                _ = shutdown.changed() => return,
            };
            match result {
                Ok(Ok(())) => {
                    tracing::info!(
                        master,
                        epoch = state.epoch,
                        me = inner.me,
                        "controller: node obeys the committed master"
                    );
                    done = Some((state.epoch, master));
                }
                Ok(Err(e)) => {
                    tracing::warn!(master, epoch = state.epoch, error = %e, "controller: could not obey the committed master; retrying");
                    wait = RETRY_DELAY;
                }
                Err(_) => {
                    tracing::warn!(
                        master,
                        epoch = state.epoch,
                        "controller: obeying the committed master timed out; retrying"
                    );
                    wait = RETRY_DELAY;
                }
            }
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}
