//! Replica side of replication: connecting to the master with backoff, the handshake, receiving a
//! full sync, applying the record stream, acknowledging and heartbeating.
//!
//! UNFINISHED (being built): the client logic. The entry points below are the contract with
//! `node.rs`; see `docs/dev/REPLICATION-DESIGN.md`.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::replication::node::Shared;

/// Follows `master` (replication address) until `cancel` fires, reconnecting with backoff.
pub async fn run(shared: Arc<Shared>, master: String, cancel: CancellationToken) {
    let _ = (shared, master);
    cancel.cancelled().await;
}

/// Health tick on a replica: log link status transitions.
pub fn on_tick(shared: &Shared, now_ms: u64) {
    let _ = (shared, now_ms);
}
