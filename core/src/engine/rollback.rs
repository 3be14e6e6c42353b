//! Rolling a replica's state back to an earlier offset in place: the way a node that diverged
//! from a new master (an old master that wrote on after a failover) drops the operations beyond
//! the fork point and then resyncs partially, without receiving a snapshot.
//!
//! Algorithm for `rollback_to(fork)`: take the newest local snapshot at or below `fork` whose
//! continuation is still in the log (or the empty state when the log starts at offset 1), load it
//! (verified), replay the log up to `fork`, then make the cut durable (delete every snapshot above
//! `fork`, truncate the log after `fork`) and only then swap the state in.
//!
//! Invariants:
//! - Nothing on disk or in memory changes unless the rebuilt state at `fork` is complete.
//! - On disk, snapshots above `fork` are deleted before the log is truncated. A crash between the
//!   two leaves an older snapshot plus the whole old log, which recovers to the state before the
//!   rollback (the rollback is simply asked again); a crash after both recovers to `fork`. So a
//!   crash never combines a snapshot with a log of another history.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::engine::recovery::{self, Replayed};
use crate::engine::state::State;
use crate::engine::{Engine, SnapshotSummary};
use crate::error::{CoreError, Result};
use crate::storage::fsutil;
use crate::storage::snapshot;

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackReport {
    /// The offset the state was rolled back to.
    pub offset: u64,
    /// Operations removed from the log (those above `offset`).
    pub ops_removed: u64,
    /// Offset of the snapshot the state was rebuilt from (0: from the empty state).
    pub base_snapshot: u64,
    /// Operations replayed on top of that snapshot.
    pub replayed: u64,
}

impl Engine {
    /// The lowest offset this node can roll its state back to with [`Engine::rollback_to`]: the
    /// oldest local snapshot whose continuation is still in the log, 0 when the log still starts
    /// at offset 1, the last offset when neither holds (no rollback possible).
    pub fn rollback_floor(&self) -> u64 {
        let last = self.log.last_offset();
        if self.log.first_offset() == 1 {
            return 0;
        }
        match self.rebuild_bases() {
            Ok(bases) => bases.last().map_or(last, |(o, _)| *o),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list snapshots; no in-place rollback offered");
                last
            }
        }
    }

    /// The local snapshots (newest first) the state can be rebuilt from: their continuation is
    /// still in the log. None when the log is empty.
    fn rebuild_bases(&self) -> Result<Vec<(u64, std::path::PathBuf)>> {
        let (first, last) = (self.log.first_offset(), self.log.last_offset());
        if first == 0 {
            return Ok(Vec::new());
        }
        let dir = recovery::snapshot_dir(&self.config.data_dir);
        Ok(snapshot::list_snapshots(&dir)?.into_iter().filter(|(o, _)| *o + 1 >= first && *o <= last).collect())
    }

    /// Rolls the state back to `offset` in place (see the module docs). `offset` must lie in
    /// `rollback_floor()..=last_offset()`; at `last_offset()` nothing changes. Only a replica does
    /// this (its client writes are refused); the caller must hold no engine lock.
    pub fn rollback_to(&self, offset: u64) -> Result<RollbackReport> {
        let started = Instant::now();
        let _one_snapshot_at_a_time = self.snapshot_lock.lock();
        let last = self.log.last_offset();
        if offset >= last {
            return Ok(RollbackReport { offset: last, ops_removed: 0, base_snapshot: 0, replayed: 0 });
        }
        let (state, base, base_summary) = self.base_at_or_below(offset)?;
        let Replayed { ops: replayed, max_epoch } = recovery::replay(&self.log, &state, base, offset)?;

        let mut gate = self.gate.lock();
        if gate.closed {
            return Err(CoreError::Unavailable { reason: "the node is shutting down".into() });
        }
        if let Some(reason) = &gate.failed {
            return Err(CoreError::Unavailable { reason: reason.clone() });
        }
        if self.log.last_offset() != last {
            return Err(CoreError::Unavailable {
                reason: format!("the log moved from {last} to {} during a rollback", self.log.last_offset()),
            });
        }
        let dir = recovery::snapshot_dir(&self.config.data_dir);
        let cut = snapshot::list_snapshots(&dir).and_then(|found| {
            for (_, path) in found.iter().filter(|(o, _)| *o > offset) {
                fsutil::remove_file_if_exists(path)?;
            }
            fsutil::sync_dir(&dir)?;
            self.log.truncate_after(offset)
        });
        let ops_removed = match cut {
            Ok(n) => n,
            Err(e) => {
                // The disk may hold a partial cut; memory still holds the old state. Only a
                // restart (recovery from disk) makes the two agree again.
                gate.failed = Some(format!("rolling back to offset {offset} failed: {e}; restart the node"));
                return Err(e);
            }
        };
        self.state.replace(state);
        let base_epoch = base_summary.as_ref().map_or(1, |s| s.epoch);
        self.epoch.store(base_epoch.max(max_epoch).max(1), Ordering::SeqCst);
        self.ops_since_snapshot.store(replayed, Ordering::SeqCst);
        *self.last_snapshot.lock() = base_summary;
        drop(gate);
        if let Some(workers) = self.workers.lock().as_ref() {
            workers.notify_linkers();
        }
        let report = RollbackReport { offset, ops_removed, base_snapshot: base, replayed };
        tracing::warn!(
            offset,
            ops_removed,
            base_snapshot = base,
            replayed,
            ms = started.elapsed().as_millis() as u64,
            "rolled the state back in place"
        );
        Ok(report)
    }

    /// The newest usable starting point at or below `offset`: a verified snapshot whose
    /// continuation is in the log (newest first; a rejected one is logged and skipped), else the
    /// empty state when the log starts at offset 1.
    fn base_at_or_below(&self, offset: u64) -> Result<(State, u64, Option<SnapshotSummary>)> {
        for (snap_offset, path) in self.rebuild_bases()?.into_iter().filter(|(o, _)| *o <= offset) {
            match recovery::load_snapshot(&path) {
                Ok((state, m)) => {
                    return Ok((state, snap_offset, Some(SnapshotSummary::from_manifest(&m, Duration::ZERO))));
                }
                Err(e) => tracing::error!(path = %path.display(), error = %e, "snapshot rejected for a rollback"),
            }
        }
        let first = self.log.first_offset();
        if first == 1 {
            return Ok((State::default(), 0, None));
        }
        Err(CoreError::RollbackImpossible {
            offset,
            detail: format!(
                "no usable snapshot at or below offset {offset} whose continuation is in the log (log starts at {first})"
            ),
        })
    }
}
