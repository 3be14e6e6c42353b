//! Master side of replication: accepting replicas, handshakes, full and partial sync, the record
//! stream, acknowledgements and replica health enforcement.
//!
//! UNFINISHED (being built): the session logic. The entry points below are the contract with
//! `node.rs`; see `docs/dev/REPLICATION-DESIGN.md`.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::replication::node::Shared;

/// Accepts replication connections until `cancel` fires; one task per connection.
pub async fn serve(shared: Arc<Shared>, listener: TcpListener, cancel: CancellationToken) {
    let _ = (shared, listener);
    cancel.cancelled().await;
}

/// Health tick on a master: disconnect silent replicas, enforce the backlog cap, log status
/// transitions, and pin the log for active replicas.
pub fn on_tick(shared: &Shared, now_ms: u64) {
    let _ = (shared, now_ms);
}
