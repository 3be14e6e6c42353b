//! The replica's half of the handshake: `Hello`, the `Challenge`, the `AuthProof`, and the
//! master's decision (`Continue`, `FullSyncStart` or `Refused`).
//!
//! Invariant: the secret never crosses the wire (only an HMAC over the master's nonce and this
//! node's id), and the reader's frame cap is lifted only once the master answered the proof with
//! a sync decision.

use crate::error::{CoreError, Result};
use crate::replication::auth;
use crate::replication::conn::{FrameReader, FrameWriter};
use crate::replication::frame::{Frame, PROTOCOL_VERSION, RefuseCode};
use crate::replication::history::EpochHistory;
use crate::replication::node::Shared;
use crate::storage::snapshot::SnapshotManifest;

/// What the master decided after the handshake.
#[derive(Debug)]
pub(super) enum Start {
    /// Partial sync: records follow from `from_offset`.
    Continue { from_offset: u64, history: EpochHistory, master_last_offset: u64, master_http: String },
    /// Full sync: the snapshot described by `manifest` follows, then records after its offset.
    FullSync { manifest: SnapshotManifest, history: EpochHistory, master_http: String },
}

/// Runs the handshake on a fresh connection. The applied offset announced is the engine's last
/// offset now (nothing is applied during the handshake).
pub(super) async fn handshake(shared: &Shared, reader: &mut FrameReader, writer: &mut FrameWriter) -> Result<Start> {
    let timeout = shared.config.health.disconnect_timeout;
    let applied_offset = shared.engine.last_offset();
    let rollback_floor = if shared.rollback_failed.load(std::sync::atomic::Ordering::SeqCst) {
        applied_offset
    } else {
        shared.engine.rollback_floor().min(applied_offset)
    };
    writer
        .write(&Frame::Hello {
            version: PROTOCOL_VERSION,
            replica_id: shared.node_id.clone(),
            announce_http: shared.config.announce_http.clone(),
            announce_repl: shared.announce_repl.clone(),
            history: shared.history(),
            applied_offset,
            rollback_floor,
        })
        .await?;
    let (nonce, master_id) = match reader.read(timeout).await? {
        Frame::Challenge { nonce, master_id } => (nonce, master_id),
        Frame::Refused { code, message } => return Err(refused(reader.peer(), code, message)),
        other => return Err(unexpected(reader.peer(), "Challenge", &other)),
    };
    tracing::debug!(master = reader.peer(), %master_id, "replication challenge received");
    writer.write(&Frame::AuthProof { proof: auth::proof(shared.secret(), &nonce, &shared.node_id) }).await?;
    let start = match reader.read(timeout).await? {
        Frame::Continue { from_offset, history, master_last_offset, master_http } => {
            Start::Continue { from_offset, history, master_last_offset, master_http }
        }
        Frame::FullSyncStart { manifest, history, master_http } => Start::FullSync { manifest, history, master_http },
        Frame::Refused { code, message } => return Err(refused(reader.peer(), code, message)),
        other => return Err(unexpected(reader.peer(), "Continue, FullSyncStart or Refused", &other)),
    };
    reader.authenticated();
    Ok(start)
}

/// The error for a `Refused` frame, logged at error level when an operator must act (wrong secret,
/// or a master older than this replica's epoch).
pub(super) fn refused(peer: &str, code: RefuseCode, message: String) -> CoreError {
    match code {
        RefuseCode::AuthFailed => {
            tracing::error!(master = peer, %message, "the master refused this replica's proof: check auth_secret")
        }
        RefuseCode::StaleMaster => {
            tracing::error!(master = peer, %message, "the master is stale (this replica knows a newer epoch)")
        }
        RefuseCode::VersionMismatch | RefuseCode::TooManyReplicas | RefuseCode::NotMaster | RefuseCode::Protocol => {}
    }
    CoreError::PeerRefused { peer: peer.to_owned(), code: format!("{code:?}"), message }
}

/// The error for a frame that has no place at this point of the exchange.
pub(super) fn unexpected(peer: &str, expected: &str, got: &Frame) -> CoreError {
    CoreError::ProtocolViolation { peer: peer.to_owned(), detail: format!("expected {expected}, got {}", got.name()) }
}
