//! The record stream: apply `Records` as they arrive, follow `MasterHeartbeat`s, fence epochs, and
//! record the facts the replica's stats are computed from.
//!
//! Invariants:
//! - Records are applied in the reading task, one frame after the other (small frames inline when
//!   the engine's writer lock is free, others on the blocking pool), and are visible when the
//!   apply returns; durability and acknowledgement happen in the [`Acker`] task, so the next frame
//!   is never held behind the previous frame's fsync.
//! - Epoch fencing: a heartbeat from an epoch older than this node's epoch means a stale master;
//!   a record from an epoch newer than the master's, or older than the record before it, is a
//!   protocol violation. Either drops the link before anything is applied; a gap or an
//!   undecodable record (refused by the engine) drops it too. The next handshake lets the master
//!   decide between partial and full sync.
//! - `link.heard` is told the master's last offset carried by every frame only after the frame's
//!   records were applied, so "caught up" is a measured fact.

use std::convert::Infallible;
use std::sync::Arc;

use crate::engine::now_ms;
use crate::error::{CoreError, Result};
use crate::replication::conn::FrameReader;
use crate::replication::frame::Frame;
use crate::replication::node::Shared;
use crate::replication::replica::acker::Acker;
use crate::replication::replica::engine_work::EngineWork;
use crate::replication::replica::handshake::{refused, unexpected};
use crate::storage::log::Record;

/// Epoch bounds of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fence {
    /// The master's current epoch (from its history; a heartbeat may raise it, never lower it).
    master_epoch: u64,
    /// Epoch of the newest record this replica holds or received.
    last_record_epoch: u64,
}

impl Fence {
    pub(super) fn new(master_epoch: u64, last_record_epoch: u64) -> Self {
        Self { master_epoch, last_record_epoch }
    }

    /// Checks a heartbeat's epoch against this node's epoch and the master's.
    pub(super) fn heartbeat(&mut self, peer: &str, epoch: u64, node_epoch: u64) -> Result<()> {
        let floor = node_epoch.max(self.master_epoch);
        if epoch < floor {
            tracing::error!(
                master = peer,
                master_epoch = epoch,
                node_epoch = floor,
                "stale master: its heartbeat carries an epoch older than this node's; dropping the link"
            );
            return Err(CoreError::ProtocolViolation {
                peer: peer.to_owned(),
                detail: format!("stale master: heartbeat epoch {epoch} is older than this node's epoch {floor}"),
            });
        }
        self.master_epoch = epoch;
        Ok(())
    }

    /// Checks the epochs of a frame's records, in order.
    pub(super) fn records(&mut self, peer: &str, records: &[Record]) -> Result<()> {
        let mut last = self.last_record_epoch;
        for r in records {
            if r.epoch > self.master_epoch || r.epoch < last {
                return Err(CoreError::ProtocolViolation {
                    peer: peer.to_owned(),
                    detail: format!(
                        "record {} has epoch {}, outside [{last}, {}] (previous record's epoch, master's epoch)",
                        r.offset, r.epoch, self.master_epoch
                    ),
                });
            }
            last = r.epoch;
        }
        self.last_record_epoch = last;
        Ok(())
    }
}

/// This node's current epoch: the newer of its history's and its engine's.
pub(super) fn node_epoch(shared: &Shared) -> u64 {
    shared.history().current_epoch().max(shared.engine.epoch())
}

/// Where a stream starts.
#[derive(Debug)]
pub(super) struct StreamStart {
    pub(super) fence: Fence,
    /// After a full sync the sync's target is the master's last offset carried by the first
    /// `Records` or heartbeat that follows the snapshot.
    pub(super) full_sync_target_pending: bool,
}

/// Applies the stream until the link fails (it never ends otherwise).
pub(super) async fn run(
    shared: &Arc<Shared>,
    work: &EngineWork,
    reader: &mut FrameReader,
    acker: &mut Acker,
    start: StreamStart,
) -> Result<Infallible> {
    let timeout = shared.config.health.disconnect_timeout;
    let StreamStart { mut fence, full_sync_target_pending: mut target_pending } = start;
    loop {
        let frame = tokio::select! {
            frame = reader.read(timeout) => frame?,
            e = acker.failed() => return Err(e),
        };
        let (master_last_offset, applied) = match frame {
            Frame::Records { master_last_offset, records } => {
                fence.records(reader.peer(), &records)?;
                let applied =
                    if records.is_empty() { shared.engine.last_offset() } else { apply(shared, work, records).await? };
                acker.applied(applied);
                (master_last_offset, applied)
            }
            Frame::MasterHeartbeat { epoch, master_last_offset, master_time_ms: _ } => {
                fence.heartbeat(reader.peer(), epoch, node_epoch(shared))?;
                (master_last_offset, shared.engine.last_offset())
            }
            Frame::Refused { code, message } => return Err(refused(reader.peer(), code, message)),
            other => return Err(unexpected(reader.peer(), "Records or MasterHeartbeat", &other)),
        };
        if target_pending {
            shared.link.begin_sync(true, master_last_offset);
            target_pending = false;
        }
        after_frame(shared, master_last_offset, applied, now_ms());
    }
}

/// Frames up to this many payload bytes are applied on the reading task when the engine's writer
/// lock is free (one append and an in-memory apply: cheaper than two thread hand-offs); bigger
/// frames, and any frame that would wait for the lock, go to the blocking pool.
const INLINE_APPLY_MAX_BYTES: usize = 64 * 1024;

/// Applies one frame's records; returns the applied offset.
async fn apply(shared: &Arc<Shared>, work: &EngineWork, records: Vec<Record>) -> Result<u64> {
    let bytes: usize = records.iter().map(|r| r.payload.len()).sum();
    if bytes <= INLINE_APPLY_MAX_BYTES
        && let Some(applied) = work.run_inline(|| Ok(shared.engine.try_apply_replicated_nowait(&records))).await?
    {
        return applied;
    }
    let engine = shared.engine.clone();
    work.run(move || engine.apply_replicated_nowait(&records)).await
}

/// Records what a frame from the master proved, and completes the sync when it reached its target.
pub(super) fn after_frame(shared: &Shared, master_last_offset: u64, applied: u64, now_ms: u64) {
    shared.link.heard(master_last_offset, applied, now_ms);
    if let Some(full) = shared.link.check_sync_complete(applied) {
        shared.record_sync_complete(full, now_ms);
        tracing::info!(full, applied, master_last_offset, "sync with the master completed");
    }
}
