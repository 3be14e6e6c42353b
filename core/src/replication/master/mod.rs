//! Master side of replication: accepting replicas, handshakes, full and partial sync, the record
//! stream, acknowledgements and replica health enforcement.
//!
//! | file | job |
//! |---|---|
//! | `listener` | accept loop, one task per connection, orderly stop |
//! | `handshake` | Hello, version and role checks, challenge-response, registration |
//! | `session` | one replica connection end to end: sync decision, sender and receiver, how it ended |
//! | `full_sync` | snapshot transfer, chunk retries |
//! | `stream` | the record stream and idle heartbeats |
//! | `acks` | the replica's frames: acknowledgements, chunk retries, liveness |
//! | `health` | the periodic tick: status transitions, silent replicas, backlog cap, log pinning |
//!
//! Invariant: whatever a replica does, its session holds at most one log read batch or one
//! snapshot chunk (plus its encoding) in memory; a replica that does not keep up costs log
//! retention (bounded by `replica_buffer_bytes`), never master memory.
//! Protocol details: `docs/dev/REPLICATION-DESIGN.md`.

mod acks;
mod full_sync;
mod handshake;
mod health;
mod listener;
mod session;
mod stream;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::replication::node::Shared;

/// Accepts replication connections until `cancel` fires; one task per connection.
pub async fn serve(shared: Arc<Shared>, listener: TcpListener, cancel: CancellationToken) {
    listener::serve(shared, listener, cancel).await;
}

/// Health tick on a master: disconnect silent replicas, enforce the backlog cap, log status
/// transitions, and pin the log for active replicas.
pub fn on_tick(shared: &Shared, now_ms: u64) {
    health::on_tick(shared, now_ms);
}
