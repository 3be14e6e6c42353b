//! The master's half of the handshake: `Hello` -> version and role checks -> `Challenge` ->
//! `AuthProof` -> registration of the replica's session.
//!
//! Invariants:
//! - Before the proof verifies, the master sends only `Challenge` or one `Refused`, reads frames
//!   of at most `HANDSHAKE_MAX_FRAME_BYTES`, and waits at most `min(disconnect_timeout, 10 s)` for
//!   each frame.
//! - A wrong or missing proof gets exactly `Refused{AuthFailed}` and the connection is closed;
//!   the attempt is logged with the peer address and the replica id it claimed.
//! - Once registered, every byte written to the replica's socket, the `Challenge` included, is
//!   counted in the replica's `bytes_sent`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use vectorizer_sdk_types::ReplicationRole;

use crate::engine::now_ms;
use crate::replication::auth;
use crate::replication::conn::{FrameReader, FrameWriter};
use crate::replication::frame::{Frame, PROTOCOL_VERSION, RefuseCode};
use crate::replication::history::EpochHistory;
use crate::replication::node::Shared;
use crate::replication::registry::{Announced, SessionGuard};

/// Longest wait for one handshake frame, whatever `disconnect_timeout` says.
const HANDSHAKE_DEADLINE_CAP: Duration = Duration::from_secs(10);

/// What an authenticated replica said about itself.
#[derive(Debug)]
pub(super) struct Hello {
    pub replica_id: String,
    pub history: EpochHistory,
    pub applied_offset: u64,
    /// The lowest offset the replica can roll back to in place.
    pub rollback_floor: u64,
}

/// A replica that passed the handshake and holds a registered session.
#[derive(Debug)]
pub(super) struct Accepted {
    pub guard: SessionGuard,
    pub hello: Hello,
}

/// Runs the handshake. `None` when the peer was refused or went away (already logged; the caller
/// closes the connection).
pub(super) async fn accept(shared: &Shared, reader: &mut FrameReader, writer: &mut FrameWriter) -> Option<Accepted> {
    let deadline = shared.config.health.disconnect_timeout.min(HANDSHAKE_DEADLINE_CAP);
    let peer = reader.peer().to_owned();
    let (version, replica_id, announce_http, announce_repl, history, applied_offset, rollback_floor) =
        match reader.read(deadline).await {
            Ok(Frame::Hello {
                version,
                replica_id,
                announce_http,
                announce_repl,
                history,
                applied_offset,
                rollback_floor,
            }) => (version, replica_id, announce_http, announce_repl, history, applied_offset, rollback_floor),
            Ok(other) => {
                tracing::warn!(%peer, frame = other.name(), "replication handshake: expected Hello");
                refuse(writer, RefuseCode::Protocol, format!("expected Hello, got {}", other.name())).await;
                return None;
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "replication connection ended before Hello");
                return None;
            }
        };
    if version != PROTOCOL_VERSION {
        tracing::warn!(%peer, %replica_id, version, "replication handshake: protocol version mismatch");
        let message = format!("this master speaks replication protocol version {PROTOCOL_VERSION}, not {version}");
        refuse(writer, RefuseCode::VersionMismatch, message).await;
        return None;
    }
    if shared.role() != ReplicationRole::Master {
        let master = shared.role.lock().master.clone();
        tracing::info!(%peer, %replica_id, ?master, "refusing a replica: this node is not the master");
        let message = match master {
            Some(m) => format!("this node is a replica of {m}"),
            None => "this node is not a master".to_owned(),
        };
        refuse(writer, RefuseCode::NotMaster, message).await;
        return None;
    }

    let nonce = auth::new_nonce();
    let challenge = Frame::Challenge { nonce, master_id: shared.node_id.clone() }.encode();
    if let Err(e) = writer.write_encoded(&challenge).await {
        tracing::debug!(%peer, %replica_id, error = %e, "replication handshake: could not send the challenge");
        return None;
    }
    let proof = match reader.read(deadline).await {
        Ok(Frame::AuthProof { proof }) => Some(proof),
        Ok(other) => {
            tracing::debug!(%peer, frame = other.name(), "replication handshake: expected AuthProof");
            None
        }
        Err(e) => {
            tracing::debug!(%peer, error = %e, "replication handshake: no AuthProof");
            None
        }
    };
    if !proof.is_some_and(|p| auth::verify(shared.secret(), &nonce, &replica_id, &p)) {
        tracing::warn!(%peer, %replica_id, "replication authentication failed (wrong or missing proof); closing");
        refuse(writer, RefuseCode::AuthFailed, "authentication failed".to_owned()).await;
        return None;
    }

    let announced = match validate_identity(shared, &replica_id, &announce_http, announce_repl) {
        Ok(a) => a,
        Err(message) => {
            tracing::warn!(%peer, %replica_id, %message, "refusing a replica");
            refuse(writer, RefuseCode::Protocol, message).await;
            return None;
        }
    };
    let guard = match shared.registry.attach(&replica_id, announced, shared.config.max_replicas, now_ms()) {
        Ok(guard) => guard,
        Err(e) => {
            tracing::warn!(%peer, %replica_id, error = %e, "refusing a replica: too many replicas");
            refuse(writer, RefuseCode::TooManyReplicas, e.to_string()).await;
            return None;
        }
    };
    // A demotion sets the role, then closes every session: checking the role again after
    // registering means a session is either closed by the demotion or refused here.
    if shared.role() != ReplicationRole::Master {
        tracing::info!(%peer, %replica_id, "refusing a replica: this node stopped being the master");
        guard.fail("refused: this node stopped being the master");
        refuse(writer, RefuseCode::NotMaster, "this node stopped being the master".to_owned()).await;
        return None;
    }
    if shared.config.stats_enabled {
        guard.entry.bytes_sent.fetch_add(challenge.len() as u64, Ordering::Relaxed);
        writer.count_into(guard.entry.bytes_sent.clone());
    }
    reader.authenticated();
    tracing::info!(%peer, %replica_id, applied_offset, "replica authenticated");
    Some(Accepted { guard, hello: Hello { replica_id, history, applied_offset, rollback_floor } })
}

/// Checks what an authenticated replica says about itself; `Err` is the refusal message.
fn validate_identity(
    shared: &Shared,
    replica_id: &str,
    announce_http: &str,
    announce_repl: String,
) -> Result<Announced, String> {
    if replica_id.is_empty() {
        return Err("the replica id is empty".to_owned());
    }
    if replica_id == shared.node_id {
        return Err(format!("replica id {replica_id:?} is this master's own node id"));
    }
    let parsed = announce_http.rsplit_once(':').and_then(|(host, port)| {
        let port = port.parse::<u16>().ok().filter(|p| *p != 0)?;
        (!host.is_empty()).then(|| (host.to_owned(), port))
    });
    let Some((host, port)) = parsed else {
        return Err(format!("announced HTTP address {announce_http:?} is not host:port"));
    };
    Ok(Announced { host, port, repl_addr: announce_repl })
}

/// Sends one `Refused` and closes the writing side (best effort: the peer may be gone).
pub(super) async fn refuse(writer: &mut FrameWriter, code: RefuseCode, message: String) {
    if let Err(e) = writer.write(&Frame::Refused { code, message }).await {
        tracing::debug!(peer = writer.peer(), error = %e, "could not send Refused");
    }
    writer.shutdown().await;
}
