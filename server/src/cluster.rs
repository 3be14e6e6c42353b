//! Cluster mode glue: the replication runtime obeys the controller ([`ReplicationHooks`]), and the
//! controller hears about operations discarded on rejoin ([`report_discards`]).
//!
//! Invariant: the hooks only move the node forward — `become_master` / `follow` with an epoch
//! below the node's current one are refused by the runtime — and repeating the call the node
//! already obeys is a no-op, as [`NodeHooks`] requires.

use std::sync::Arc;

use vectorizer_core::cluster::{BoxFuture, Controller, NodeHooks, NodePosition};
use vectorizer_core::replication::Replication;

/// [`NodeHooks`] over the node's replication runtime.
#[derive(Debug)]
pub struct ReplicationHooks {
    pub replication: Arc<Replication>,
}

impl NodeHooks for ReplicationHooks {
    fn position(&self) -> NodePosition {
        self.replication.position()
    }

    fn become_master(&self, epoch: u64) -> BoxFuture<'static, vectorizer_core::Result<()>> {
        let replication = Arc::clone(&self.replication);
        Box::pin(async move { replication.become_master_at(epoch).await })
    }

    fn follow(
        &self,
        master_repl_addr: String,
        _master_http: String,
        epoch: u64,
    ) -> BoxFuture<'static, vectorizer_core::Result<()>> {
        let replication = Arc::clone(&self.replication);
        Box::pin(async move { replication.follow_at(master_repl_addr, epoch).await })
    }
}

/// Reports every rejoin that discarded operations to the controller (shown as
/// `last_failover.ops_discarded` in `GET /api/v1/cluster`); runs until aborted or the runtime
/// stops. A report the controller rejects (this node was not the old master of that failover) is
/// logged and dropped.
pub async fn report_discards(replication: Arc<Replication>, controller: Arc<Controller>) {
    let mut rx = replication.discarded();
    loop {
        if rx.changed().await.is_err() {
            return;
        }
        let Some(d) = *rx.borrow_and_update() else { continue };
        match controller.report_discarded(d.epoch, d.ops).await {
            Ok(()) => {
                tracing::info!(epoch = d.epoch, ops = d.ops, "reported the discarded operations to the controller")
            }
            Err(e) => {
                tracing::warn!(epoch = d.epoch, ops = d.ops, error = %e, "could not report the discarded operations")
            }
        }
    }
}
