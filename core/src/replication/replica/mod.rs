//! Replica side of replication: connecting to the master with backoff, the handshake, receiving a
//! full sync, applying the record stream, acknowledging and heartbeating.
//!
//! | file | job |
//! |---|---|
//! | `client` | the connect loop: one session after another, exponential backoff with jitter |
//! | `backoff` | the reconnect delay sequence |
//! | `session` | one connection: handshake, then full sync or not, then the stream |
//! | `handshake` | Hello / Challenge / AuthProof and the master's answer |
//! | `full_sync` | receiving, checking and installing the master's snapshot |
//! | `stream` | applying `Records`, fencing epochs, tracking heartbeats |
//! | `acker` | acknowledging durable offsets and heartbeating (a task of its own) |
//! | `engine_work` | engine mutations that outlive a cancelled session are waited for |
//! | `health` | the periodic status check and transition logging |
//!
//! Invariants of the replica:
//! - It never acknowledges an offset that is not durable, and nothing at all during a full sync
//!   before the snapshot installation returned (it is durable then).
//! - It never diverges silently: a gap, an undecodable record, or an epoch that goes backwards
//!   drops the link, and the next handshake lets the master decide between partial and full sync.
//! - When `run` returns, no engine mutation started by it is still running (so a promotion that
//!   follows reads a final `last_offset`).

mod acker;
mod backoff;
mod client;
mod engine_work;
mod full_sync;
mod handshake;
mod health;
mod session;
mod stream;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::replication::node::Shared;

/// Follows `master` (replication address) until `cancel` fires, reconnecting with backoff.
pub async fn run(shared: Arc<Shared>, master: String, cancel: CancellationToken) {
    client::run(shared, master, cancel).await;
}

/// Health tick on a replica: log link status transitions.
pub fn on_tick(shared: &Shared, now_ms: u64) {
    health::on_tick(shared, now_ms);
}
