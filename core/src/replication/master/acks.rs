//! The receiving half of a master session: reads the replica's frames and records what they say.
//!
//! Invariants:
//! - Every read waits at most `disconnect_timeout`; silence, a closed socket, a `Refused` or any
//!   frame a replica must not send ends the session with that error.
//! - An `Ack` is recorded exactly once as it arrives (`operations_synced` grows by the advance)
//!   unless it is above what this session delivered, in which case it only proves liveness.
//! - The sync in progress is counted (node and replica) by the ack that completes it, once.
//! - `ChunkRetry` is accepted only during a full sync, until the replica acknowledges the
//!   snapshot's offset; it is forwarded to the sender through a small bounded queue.

use tokio::sync::mpsc;

use super::session::SessionState;
use crate::engine::now_ms;
use crate::error::CoreError;
use crate::replication::conn::FrameReader;
use crate::replication::frame::Frame;
use crate::replication::node::Shared;
use crate::replication::registry::SessionGuard;

/// Reads frames until the session must end; returns why.
pub(super) async fn receive(
    shared: &Shared,
    guard: &SessionGuard,
    mut reader: FrameReader,
    state: &SessionState,
    mut retries: Option<mpsc::Sender<u64>>,
) -> CoreError {
    let timeout = shared.config.health.disconnect_timeout;
    let entry = &guard.entry;
    loop {
        let frame = match reader.read(timeout).await {
            Ok(frame) => frame,
            Err(e) => return e,
        };
        let now = now_ms();
        match frame {
            Frame::Ack { applied_offset } => {
                if applied_offset > state.delivered() {
                    entry.heard(now);
                    continue;
                }
                if retries.is_some() && applied_offset >= state.snapshot_offset() {
                    // The replica installed the snapshot: no chunk can be retried any more.
                    retries = None;
                }
                if entry.record_ack(applied_offset, now) {
                    let full = entry.facts.lock().sync_is_full;
                    shared.record_sync_complete(full, now);
                    tracing::info!(
                        replica_id = %entry.id,
                        kind = if full { "full" } else { "partial" },
                        acked = applied_offset,
                        ms = state.started.elapsed().as_millis() as u64,
                        "sync with replica completed"
                    );
                }
            }
            Frame::ChunkRetry { index } => {
                entry.heard(now);
                let Some(queue) = &retries else {
                    return violation(&reader, format!("ChunkRetry for chunk {index} outside a full sync"));
                };
                if queue.send(index).await.is_err() {
                    return violation(&reader, format!("ChunkRetry for chunk {index} after the snapshot was sent"));
                }
            }
            Frame::Refused { code, message } => {
                return CoreError::PeerRefused { peer: reader.peer().to_owned(), code: format!("{code:?}"), message };
            }
            other => return violation(&reader, format!("a replica does not send {}", other.name())),
        }
    }
}

fn violation(reader: &FrameReader, detail: String) -> CoreError {
    CoreError::ProtocolViolation { peer: reader.peer().to_owned(), detail }
}
