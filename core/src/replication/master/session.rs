//! One replica connection on the master, end to end: handshake, the partial-or-full decision, then
//! a sender (snapshot, records, heartbeats) and a receiver (acks, chunk retries) running together
//! until one of them fails, the master closes the session, or the node stops.
//!
//! Invariants:
//! - Every way a session ends is logged once and, for a registered replica, recorded as its
//!   `last_error` (closers that cancel a session record their own reason first), and the
//!   [`SessionGuard`] is dropped, which marks the link down.
//! - The sender and the receiver run in the same task; neither outlives the session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::full_sync::{self, Transfer};
use super::handshake::{self, Accepted, Hello};
use super::{acks, health, stream};
use crate::engine::now_ms;
use crate::error::{CoreError, Result};
use crate::replication::conn::{self, FrameWriter};
use crate::replication::frame::{Frame, RefuseCode};
use crate::replication::history::SyncDecision;
use crate::replication::node::Shared;
use crate::replication::registry::SessionGuard;

/// Chunk retries waiting for the sender (the receiver waits when it is full).
const RETRY_QUEUE: usize = 4;

/// Facts shared by the sender and the receiver of one session.
#[derive(Debug)]
pub(super) struct SessionState {
    /// Highest offset this session has delivered to the replica: its applied offset at Hello for
    /// a partial sync, the snapshot offset once `FullSyncEnd` is sent, then the last record sent.
    /// An ack above it cannot be the replica's position from this session (e.g. the old position
    /// of a replica being fully resynced): it only counts as a heartbeat.
    delivered: AtomicU64,
    /// Offset of the snapshot this session sends (`u64::MAX`: none yet). Chunk retries are
    /// accepted until the replica acknowledges it.
    snapshot_offset: AtomicU64,
    /// When the handshake completed (sync durations).
    pub started: Instant,
}

impl SessionState {
    fn new(delivered: u64) -> Self {
        Self {
            delivered: AtomicU64::new(delivered),
            snapshot_offset: AtomicU64::new(u64::MAX),
            started: Instant::now(),
        }
    }

    pub(super) fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::SeqCst)
    }

    pub(super) fn mark_delivered(&self, offset: u64) {
        self.delivered.fetch_max(offset, Ordering::SeqCst);
    }

    pub(super) fn snapshot_offset(&self) -> u64 {
        self.snapshot_offset.load(Ordering::SeqCst)
    }
}

/// How a registered session ended.
#[derive(Debug)]
enum End {
    /// The node stops serving replicas.
    Shutdown,
    /// Someone closed the session through the registry (health tick, replacement, role change);
    /// the closer recorded the reason.
    ClosedByMaster,
    /// The master refused to serve the replica after registering it.
    Refused(String),
    Failed(CoreError),
}

/// Serves one accepted connection until it ends.
pub(super) async fn run(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, cancel: CancellationToken) {
    let (read_counters, written_counters) = shared.connection_counters();
    let (mut reader, mut writer) = conn::split(stream, peer.to_string(), read_counters, written_counters);
    let accepted = tokio::select! {
        () = cancel.cancelled() => None,
        accepted = handshake::accept(&shared, &mut reader, &mut writer) => accepted,
    };
    let Some(Accepted { guard, hello }) = accepted else {
        return;
    };

    let log = shared.engine.log();
    let master_last = log.last_offset();
    let decision = cheaper_decision(
        &shared,
        shared.history().decide(
            &hello.history,
            hello.applied_offset,
            hello.rollback_floor,
            log.first_offset(),
            master_last,
        ),
    );
    let (plan, retry_tx, delivered) = match decision {
        SyncDecision::Continue { from_offset } => (Plan::Partial { from_offset }, None, from_offset - 1),
        SyncDecision::RollBack { fork } => {
            tracing::info!(%peer, replica_id = %hello.replica_id, applied = hello.applied_offset, fork,
                "replica diverged after the fork point; it rolls back in place and resyncs partially");
            (Plan::Partial { from_offset: fork + 1 }, None, fork)
        }
        SyncDecision::FullSync { reason } => {
            let (tx, retries) = mpsc::channel(RETRY_QUEUE);
            (Plan::Full { reason, retries }, Some(tx), 0)
        }
        SyncDecision::StaleMaster { replica_epoch, master_epoch } => {
            (Plan::Stale { replica_epoch, master_epoch }, None, 0)
        }
    };
    let state = SessionState::new(delivered);
    let end = tokio::select! {
        // A closer that went through the registry recorded its reason: it wins over a shutdown
        // that follows it (the node closes every session before it stops the listener).
        biased;
        () = guard.cancel.cancelled() => End::ClosedByMaster,
        () = cancel.cancelled() => End::Shutdown,
        e = acks::receive(&shared, &guard, reader, &state, retry_tx) => End::Failed(e),
        end = send(&shared, &guard, &mut writer, &hello, plan, master_last, &state) => end,
    };
    let replica_id = &hello.replica_id;
    match end {
        End::Shutdown => {
            tracing::info!(%peer, %replica_id, "replication session closed: the master stops serving replicas");
            guard.fail("link closed: the master stopped serving replicas");
        }
        End::ClosedByMaster => tracing::info!(%peer, %replica_id, "replication session closed by the master"),
        End::Refused(message) => guard.fail(message),
        End::Failed(e) => {
            let error = match e {
                CoreError::OffsetCompacted { .. } => format!("{e}; the replica must reconnect and full-sync"),
                _ => e.to_string(),
            };
            tracing::warn!(%peer, %replica_id, %error, "replication session ended");
            guard.fail(error);
        }
    }
    drop(guard);
    drop(writer);
    // Stop pinning the log for this replica now, not at the next tick (a node that was demoted
    // gets no master ticks any more).
    health::pin_log(&shared);
}

/// What the sender does, from the sync decision.
enum Plan {
    Partial {
        from_offset: u64,
    },
    /// `retries` receives the chunk retries the receiver reads.
    Full {
        reason: String,
        retries: mpsc::Receiver<u64>,
    },
    Stale {
        replica_epoch: u64,
        master_epoch: u64,
    },
}

/// The sending half: answers the decision, then streams. Returns only when the session ends.
async fn send(
    shared: &Shared,
    guard: &SessionGuard,
    writer: &mut FrameWriter,
    hello: &Hello,
    plan: Plan,
    master_last: u64,
    state: &SessionState,
) -> End {
    let replica_id = &hello.replica_id;
    let result = match plan {
        Plan::Partial { from_offset } => partial(shared, guard, writer, from_offset, master_last, state).await,
        Plan::Full { reason, retries } => {
            if reason.contains("diverged") {
                tracing::warn!(%replica_id, applied = hello.applied_offset, master_last, %reason, "full sync needed");
            } else {
                tracing::info!(%replica_id, applied = hello.applied_offset, master_last, %reason, "full sync needed");
            }
            full(shared, guard, writer, master_last, state, retries).await
        }
        Plan::Stale { replica_epoch, master_epoch } => {
            let message = format!(
                "this master is stale: the replica knows epoch {replica_epoch}, this master's newest epoch is {master_epoch}"
            );
            tracing::error!(%replica_id, replica_epoch, master_epoch,
                "refusing a replica that knows a newer epoch than this master: this master is stale");
            handshake::refuse(writer, RefuseCode::StaleMaster, message.clone()).await;
            shared.newer_epoch_seen.send_if_modified(|seen| {
                let newer = replica_epoch > *seen;
                *seen = (*seen).max(replica_epoch);
                newer
            });
            return End::Refused(message);
        }
    };
    match result {
        Ok(never) => match never {},
        Err(e) => End::Failed(e),
    }
}

/// Partial sync: `Continue`, then the stream from `from_offset`.
async fn partial(
    shared: &Shared,
    guard: &SessionGuard,
    writer: &mut FrameWriter,
    from_offset: u64,
    master_last: u64,
    state: &SessionState,
) -> Result<std::convert::Infallible> {
    guard.set_position(from_offset - 1);
    health::pin_log(shared);
    guard.entry.begin_sync(false, master_last);
    writer
        .write(&Frame::Continue {
            from_offset,
            history: shared.history(),
            master_last_offset: master_last,
            master_http: shared.config.announce_http.clone(),
        })
        .await?;
    tracing::info!(replica_id = %guard.entry.id, from_offset, master_last, "partial sync: streaming the log");
    let retry = stream::run(shared, writer, from_offset, state, None).await?;
    Err(CoreError::ProtocolViolation {
        peer: writer.peer().to_owned(),
        detail: format!("chunk {retry} retried outside a full sync"),
    })
}

/// Full sync: the snapshot, then the stream from the snapshot's offset + 1. A chunk retry (during
/// the transfer or once streaming) sends the snapshot again from that chunk, then `FullSyncEnd`
/// and the stream from the snapshot's offset + 1 again.
async fn full(
    shared: &Shared,
    guard: &SessionGuard,
    writer: &mut FrameWriter,
    master_last: u64,
    state: &SessionState,
    retries: mpsc::Receiver<u64>,
) -> Result<std::convert::Infallible> {
    guard.entry.begin_sync(true, master_last);
    let started = Instant::now();
    let (path, manifest, chunks) = full_sync::prepare(shared).await?;
    guard.set_position(manifest.offset);
    state.snapshot_offset.store(manifest.offset, Ordering::SeqCst);
    health::pin_log(shared);
    tracing::info!(replica_id = %guard.entry.id, snapshot_offset = manifest.offset, bytes = manifest.file_bytes,
        chunks = manifest.chunks, prepare_ms = started.elapsed().as_millis() as u64, "full sync: sending the snapshot");
    writer
        .write(&Frame::FullSyncStart {
            manifest: manifest.clone(),
            history: shared.history(),
            master_http: shared.config.announce_http.clone(),
        })
        .await?;
    let mut transfer = Transfer::new(path, manifest, chunks, retries);
    let mut from_chunk = 0;
    loop {
        if let Some(retry) = transfer.send_chunks(writer, &guard.entry, from_chunk).await? {
            from_chunk = retry;
            continue;
        }
        writer.write(&Frame::FullSyncEnd).await?;
        // Tell the replica at once what it must reach to have completed the sync (an idle master
        // would otherwise only say so at its next heartbeat).
        writer
            .write(&Frame::MasterHeartbeat {
                epoch: shared.engine.epoch(),
                master_last_offset: shared.engine.last_offset(),
                master_time_ms: now_ms(),
            })
            .await?;
        guard.entry.set_progress(None);
        let snapshot_offset = transfer.manifest().offset;
        state.mark_delivered(snapshot_offset);
        tracing::info!(replica_id = %guard.entry.id, snapshot_offset, ms = started.elapsed().as_millis() as u64,
            "full sync: snapshot sent, streaming the log");
        let retry = stream::run(shared, writer, snapshot_offset + 1, state, Some(transfer.retries())).await?;
        transfer.accept_retry(retry, transfer.manifest().chunks, writer.peer())?;
        from_chunk = retry;
    }
}

/// A partial sync replays operations, and every replayed vector must be linked into the replica's
/// HNSW graph again; a full sync ships the graph. When the log to replay is larger than the newest
/// snapshot, the full sync is the cheaper way to a replica that serves fast searches.
fn cheaper_decision(shared: &Shared, decision: SyncDecision) -> SyncDecision {
    let applied = match decision {
        SyncDecision::Continue { from_offset } => from_offset - 1,
        SyncDecision::RollBack { fork } => fork,
        SyncDecision::FullSync { .. } | SyncDecision::StaleMaster { .. } => return decision,
    };
    let Some(snapshot) = shared.engine.last_snapshot() else { return decision };
    let replay_bytes = shared.engine.log().bytes_after(applied);
    if snapshot.offset > applied && replay_bytes > snapshot.bytes {
        return SyncDecision::FullSync {
            reason: format!(
                "replaying {replay_bytes} bytes of log costs more than sending the {}-byte snapshot",
                snapshot.bytes
            ),
        };
    }
    decision
}
