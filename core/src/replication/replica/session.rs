//! One session with the master: connect, handshake, full sync or in-place rollback if the master
//! decided so, then the record stream until the link fails.
//!
//! Invariants:
//! - Every byte read from the socket is counted in `bytes_received` and every byte written in
//!   `bytes_sent`, from the first byte of the handshake (the connection counts them as they move).
//! - The link is marked up, the engine refuses client writes naming the master, and the master's
//!   epoch history is adopted only after the master answered the handshake with a sync decision
//!   whose history is not older than this node's epoch (a stale master is never followed).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::engine::{NodeRole, now_ms};
use crate::error::{CoreError, Result};
use crate::replication::conn;
use crate::replication::history::EpochHistory;
use crate::replication::node::{Discarded, Shared};
use crate::replication::replica::acker::Acker;
use crate::replication::replica::engine_work::{self, EngineWork};
use crate::replication::replica::full_sync;
use crate::replication::replica::handshake::{self, Start};
use crate::replication::replica::stream::{self, Fence, StreamStart, node_epoch};

/// Longest wait for a TCP connection to the master (capped by `disconnect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs one session; returns only with the error that ended it. `handshake_passed` is set once
/// the master answered the handshake with a sync decision.
pub(super) async fn run(
    shared: &Arc<Shared>,
    master: &str,
    work: &EngineWork,
    handshake_passed: &mut bool,
) -> Result<Infallible> {
    let cfg = &shared.config;
    let connect_timeout = CONNECT_TIMEOUT.min(cfg.health.disconnect_timeout);
    let socket = match tokio::time::timeout(connect_timeout, TcpStream::connect(master)).await {
        Err(_) => {
            return Err(CoreError::PeerTimeout {
                peer: master.to_owned(),
                after_ms: connect_timeout.as_millis() as u64,
            });
        }
        Ok(Err(e)) => return Err(CoreError::PeerIo { peer: master.to_owned(), source: e }),
        Ok(Ok(socket)) => socket,
    };
    let (read_counters, written_counters) = shared.connection_counters();
    let (mut reader, mut writer) = conn::split(socket, master.to_owned(), read_counters, written_counters);
    let start = handshake::handshake(shared, &mut reader, &mut writer).await?;
    *handshake_passed = true;
    let engine = shared.engine.clone();
    let heartbeat = cfg.heartbeat_interval;
    match start {
        Start::Continue { from_offset, history, master_last_offset, master_http } => {
            refuse_stale_master(shared, master, &history)?;
            let mut applied = engine.last_offset();
            if from_offset <= applied {
                roll_back(shared, master, work, &history, master_last_offset, from_offset - 1).await?;
                applied = engine.last_offset();
            }
            if from_offset != applied + 1 {
                return Err(CoreError::ProtocolViolation {
                    peer: master.to_owned(),
                    detail: format!("Continue from offset {from_offset}, but this replica applied up to {applied}"),
                });
            }
            tracing::info!(%master, %master_http, from_offset, master_last_offset, "partial sync: continuing the stream");
            let fence = Fence::new(history.current_epoch(), history.epoch_at(applied));
            adopt_history(shared, history).await?;
            link_up(shared, master_http, master_last_offset);
            shared.link.begin_sync(false, master_last_offset);
            stream::after_frame(shared, master_last_offset, applied, now_ms());
            let mut acker = Acker::spawn(engine, writer, applied, heartbeat);
            let start = StreamStart { fence, full_sync_target_pending: false };
            stream::run(shared, work, &mut reader, &mut acker, start).await
        }
        Start::FullSync { manifest, history, master_http } => {
            refuse_stale_master(shared, master, &history)?;
            let mut fence = Fence::new(history.current_epoch(), manifest.epoch);
            link_up(shared, master_http, manifest.offset);
            // The target is known only from the first frame after the snapshot.
            shared.link.begin_sync(true, u64::MAX);
            let diverged = beyond_fork_point(shared, &history, engine.last_offset());
            let installed =
                full_sync::receive_and_install(shared, work, &mut reader, &mut writer, manifest, &mut fence).await?;
            shared.rollback_failed.store(false, Ordering::SeqCst);
            if let Some(d) = diverged {
                record_discarded(shared, master, d);
            }
            adopt_history(shared, history).await?;
            let mut acker = Acker::spawn(engine, writer, installed.offset, heartbeat);
            let start = StreamStart { fence, full_sync_target_pending: true };
            stream::run(shared, work, &mut reader, &mut acker, start).await
        }
    }
}

/// The operations this node holds beyond the fork point with `master_history`: the master's
/// history says the epoch that wrote this node's last applied offset ended earlier (this node was
/// the master of that epoch, or followed it, and wrote on after the failover). `None` when
/// nothing diverged. The full sync that follows replaces the log, which truncates them.
fn beyond_fork_point(shared: &Shared, master_history: &EpochHistory, applied: u64) -> Option<Discarded> {
    let my_epoch = shared.history().epoch_at(applied);
    let idx = master_history.entries().iter().position(|e| e.epoch == my_epoch)?;
    let next = master_history.entries().get(idx + 1)?;
    let end = next.first_offset.saturating_sub(1);
    (applied > end).then(|| Discarded {
        epoch: master_history.current_epoch(),
        ops: applied - end,
        first: end + 1,
        last: applied,
    })
}

/// The master answered `Continue` from `fork + 1` although this node applied beyond `fork`: it
/// diverged after the fork point and offered to roll back in place (its Hello's rollback floor).
/// Checks that `fork` is the fork point this node's history and the master's imply, rolls the
/// state back to it (truncating the log after it) and counts the discarded operations. A failed
/// rollback changes nothing it could not finish and makes the next handshake ask for a full sync.
async fn roll_back(
    shared: &Arc<Shared>,
    master: &str,
    work: &EngineWork,
    master_history: &EpochHistory,
    master_last_offset: u64,
    fork: u64,
) -> Result<()> {
    let applied = shared.engine.last_offset();
    let expected = master_history.end_of(shared.history().epoch_at(applied), master_last_offset);
    if expected != Some(fork) {
        return Err(CoreError::ProtocolViolation {
            peer: master.to_owned(),
            detail: format!(
                "Continue from offset {} asks to roll back to {fork}, but the fork point with this master's history is {expected:?}",
                fork + 1
            ),
        });
    }
    let engine = shared.engine.clone();
    match work.run(move || engine.rollback_to(fork)).await {
        Ok(report) => {
            tracing::info!(%master, fork, ops_removed = report.ops_removed, base_snapshot = report.base_snapshot,
                replayed = report.replayed, "rolled back in place to the fork point; resyncing partially");
            record_discarded(
                shared,
                master,
                Discarded {
                    epoch: master_history.current_epoch(),
                    ops: applied - fork,
                    first: fork + 1,
                    last: applied,
                },
            );
            Ok(())
        }
        Err(e) => {
            shared.rollback_failed.store(true, Ordering::SeqCst);
            tracing::error!(%master, fork, error = %e, "in-place rollback failed; the next sync will be a full sync");
            Err(e)
        }
    }
}

/// Counts and logs a discarded range once the rollback or full sync that truncated it is done.
fn record_discarded(shared: &Shared, master: &str, d: Discarded) {
    shared.counters.ops_discarded_on_rejoin.fetch_add(d.ops, Ordering::Relaxed);
    tracing::warn!(%master, first = d.first, last = d.last, ops = d.ops, epoch = d.epoch,
        "rejoined a newer master: discarded operations beyond the fork point (never acknowledged at majority)");
    shared.discarded.send_replace(Some(d));
}

/// Adopts the master's history durably (see [`Shared::adopt_history`]).
async fn adopt_history(shared: &Arc<Shared>, history: EpochHistory) -> Result<()> {
    let shared = shared.clone();
    engine_work::blocking(move || shared.adopt_history(history)).await
}

/// A master whose history ends in an epoch older than this node's is stale (a newer master
/// exists); following it could undo acknowledged writes of the newer epoch.
fn refuse_stale_master(shared: &Shared, master: &str, history: &EpochHistory) -> Result<()> {
    let ours = node_epoch(shared);
    if history.current_epoch() < ours {
        tracing::error!(%master, master_epoch = history.current_epoch(), node_epoch = ours,
            "stale master: its epoch is older than this node's; not following it");
        return Err(CoreError::ProtocolViolation {
            peer: master.to_owned(),
            detail: format!("stale master: epoch {} is older than this node's epoch {ours}", history.current_epoch()),
        });
    }
    Ok(())
}

/// Marks the link up and makes the engine refuse client writes naming the master.
fn link_up(shared: &Shared, master_http: String, master_last_offset: u64) {
    shared.link.up(master_http.clone(), master_last_offset, now_ms());
    shared.engine.set_role(NodeRole::Replica { master_http: Some(master_http) });
}
