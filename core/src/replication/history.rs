//! Epoch history: which epoch wrote which range of offsets, and the partial-sync decision.
//!
//! Invariant: entries are strictly ascending in both epoch and first offset; the history of a
//! replica that finished a sync is a prefix-compatible copy of its master's history. Two nodes
//! whose histories agree on epoch `e`'s range agree on every record of that range.

use crate::error::{CoreError, Result};

/// One entry: `epoch` wrote offsets from `first_offset` until the next entry's first offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EpochStart {
    pub epoch: u64,
    pub first_offset: u64,
}

/// Largest history accepted from a peer (each promotion adds one entry).
pub const MAX_HISTORY_ENTRIES: usize = 4096;

/// The epoch history of a node.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct EpochHistory {
    entries: Vec<EpochStart>,
}

/// What a master answers to a replica's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncDecision {
    /// Stream from `from_offset` (= replica's applied offset + 1).
    Continue { from_offset: u64 },
    /// The replica diverged after `fork` (it holds operations this master's history does not)
    /// and can roll its state back to `fork` in place: it truncates, then streams from `fork + 1`.
    RollBack { fork: u64 },
    /// Send a snapshot; `reason` says why partial sync was impossible (for logs and stats).
    FullSync { reason: String },
    /// The replica knows a newer epoch than this master: this master is stale.
    StaleMaster { replica_epoch: u64, master_epoch: u64 },
}

impl EpochHistory {
    /// A history starting with `epoch` at `first_offset`.
    pub fn new(epoch: u64, first_offset: u64) -> Self {
        Self { entries: vec![EpochStart { epoch, first_offset }] }
    }

    /// Builds a history from entries, checking they ascend.
    pub fn from_entries(entries: Vec<EpochStart>) -> Result<Self> {
        if entries.len() > MAX_HISTORY_ENTRIES {
            return Err(CoreError::decode(format!(
                "epoch history of {} entries exceeds {MAX_HISTORY_ENTRIES}",
                entries.len()
            )));
        }
        for pair in entries.windows(2) {
            if pair[1].epoch <= pair[0].epoch || pair[1].first_offset < pair[0].first_offset {
                return Err(CoreError::decode(format!(
                    "epoch history not ascending: {:?} then {:?}",
                    pair[0], pair[1]
                )));
            }
        }
        Ok(Self { entries })
    }

    pub fn entries(&self) -> &[EpochStart] {
        &self.entries
    }

    /// The newest epoch (0 for an empty history).
    pub fn current_epoch(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.epoch)
    }

    /// Starts a new epoch at `first_offset` (promotion). `epoch` must exceed the current one.
    pub fn begin(&mut self, epoch: u64, first_offset: u64) -> Result<()> {
        if epoch <= self.current_epoch() {
            return Err(CoreError::invalid(
                "epoch",
                format!("new epoch {epoch} must exceed current epoch {}", self.current_epoch()),
            ));
        }
        // An epoch that wrote nothing leaves an empty range; drop it so ranges stay non-overlapping.
        while self.entries.last().is_some_and(|e| e.first_offset >= first_offset) {
            self.entries.pop();
        }
        self.entries.push(EpochStart { epoch, first_offset });
        Ok(())
    }

    /// The last offset written in `epoch` according to this history, given the node's last offset.
    /// `None` if the epoch is unknown here.
    pub fn end_of(&self, epoch: u64, last_offset: u64) -> Option<u64> {
        let idx = self.entries.iter().position(|e| e.epoch == epoch)?;
        Some(match self.entries.get(idx + 1) {
            Some(next) => next.first_offset.saturating_sub(1),
            None => last_offset,
        })
    }

    /// The epoch that wrote `offset` (offset 0 = nothing written: epoch of the first entry).
    pub fn epoch_at(&self, offset: u64) -> u64 {
        self.entries.iter().rev().find(|e| e.first_offset <= offset).map_or(0, |e| e.epoch)
    }

    /// Master side: can a replica with `replica` history at `applied`, able to roll back in place
    /// down to `rollback_floor`, continue from this master, whose log holds offsets
    /// `first_offset..=last_offset`?
    pub fn decide(
        &self,
        replica: &EpochHistory,
        applied: u64,
        rollback_floor: u64,
        first_offset: u64,
        last_offset: u64,
    ) -> SyncDecision {
        let replica_epoch = replica.epoch_at(applied);
        let newest_replica_epoch = replica.current_epoch();
        if newest_replica_epoch > self.current_epoch() {
            return SyncDecision::StaleMaster {
                replica_epoch: newest_replica_epoch,
                master_epoch: self.current_epoch(),
            };
        }
        if applied == 0 {
            // An empty replica can stream from the start if the whole log is still here.
            return if first_offset <= 1 || (first_offset == 0 && last_offset == 0) {
                SyncDecision::Continue { from_offset: 1 }
            } else {
                SyncDecision::FullSync { reason: format!("empty replica and the log starts at {first_offset}") }
            };
        }
        let Some(end) = self.end_of(replica_epoch, last_offset) else {
            return SyncDecision::FullSync {
                reason: format!("replica's epoch {replica_epoch} at offset {applied} is not in this master's history"),
            };
        };
        if applied > end {
            if end >= rollback_floor && first_offset <= end + 1 {
                return SyncDecision::RollBack { fork: end };
            }
            return SyncDecision::FullSync {
                reason: format!(
                    "replica diverged: it applied up to {applied} in epoch {replica_epoch}, this master's epoch {replica_epoch} ends at {end}"
                ),
            };
        }
        if first_offset > applied + 1 {
            return SyncDecision::FullSync {
                reason: format!("offset {} is no longer in the backlog (log starts at {first_offset})", applied + 1),
            };
        }
        SyncDecision::Continue { from_offset: applied + 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(entries: &[(u64, u64)]) -> EpochHistory {
        EpochHistory::from_entries(
            entries.iter().map(|&(epoch, first_offset)| EpochStart { epoch, first_offset }).collect(),
        )
        .expect("valid history")
    }

    #[test]
    fn same_epoch_in_backlog_continues() {
        let master = hist(&[(1, 1)]);
        assert_eq!(master.decide(&hist(&[(1, 1)]), 50, 50, 1, 100), SyncDecision::Continue { from_offset: 51 });
        assert_eq!(master.decide(&hist(&[(1, 1)]), 100, 100, 1, 100), SyncDecision::Continue { from_offset: 101 });
    }

    #[test]
    fn outside_backlog_needs_full_sync() {
        let master = hist(&[(1, 1)]);
        assert!(matches!(master.decide(&hist(&[(1, 1)]), 50, 50, 60, 100), SyncDecision::FullSync { .. }));
        assert_eq!(master.decide(&hist(&[(1, 1)]), 59, 59, 60, 100), SyncDecision::Continue { from_offset: 60 });
    }

    #[test]
    fn after_promotion_old_epoch_prefix_continues() {
        // Old master wrote 1..=100 in epoch 1; the promoted replica starts epoch 2 at 101.
        let new_master = hist(&[(1, 1), (2, 101)]);
        let sibling = hist(&[(1, 1)]);
        assert_eq!(new_master.decide(&sibling, 100, 100, 1, 150), SyncDecision::Continue { from_offset: 101 });
        assert_eq!(new_master.decide(&sibling, 90, 90, 1, 150), SyncDecision::Continue { from_offset: 91 });
    }

    #[test]
    fn replica_ahead_of_fork_point_diverged() {
        // The sibling applied 1..=105 from the old master, but the new master's epoch 1 ends at 100.
        let new_master = hist(&[(1, 1), (2, 101)]);
        let decision = new_master.decide(&hist(&[(1, 1)]), 105, 105, 1, 150);
        assert!(
            matches!(decision, SyncDecision::FullSync { ref reason } if reason.contains("diverged")),
            "{decision:?}"
        );
        // Ahead of the master in the same epoch (master lost its tail): also divergence.
        assert!(matches!(hist(&[(1, 1)]).decide(&hist(&[(1, 1)]), 120, 120, 1, 100), SyncDecision::FullSync { .. }));
    }

    #[test]
    fn diverged_replica_that_can_roll_back_resyncs_partially() {
        let new_master = hist(&[(1, 1), (2, 101)]);
        let old_master = hist(&[(1, 1)]);
        // It can roll back to 100 (its floor is at or below the fork point): truncate, then stream.
        assert_eq!(new_master.decide(&old_master, 105, 80, 1, 150), SyncDecision::RollBack { fork: 100 });
        assert_eq!(new_master.decide(&old_master, 105, 100, 1, 150), SyncDecision::RollBack { fork: 100 });
        // Its floor is above the fork point: full sync.
        assert!(matches!(new_master.decide(&old_master, 105, 101, 1, 150), SyncDecision::FullSync { .. }));
        // The master no longer holds offset 101: full sync.
        assert!(matches!(new_master.decide(&old_master, 105, 0, 120, 150), SyncDecision::FullSync { .. }));
        // Ahead in the same epoch (the master lost its tail): roll back to the master's last offset.
        assert_eq!(hist(&[(1, 1)]).decide(&old_master, 120, 0, 1, 100), SyncDecision::RollBack { fork: 100 });
    }

    #[test]
    fn newer_replica_epoch_means_stale_master() {
        let decision = hist(&[(1, 1)]).decide(&hist(&[(1, 1), (2, 50)]), 60, 60, 1, 100);
        assert_eq!(decision, SyncDecision::StaleMaster { replica_epoch: 2, master_epoch: 1 });
    }

    #[test]
    fn empty_replica() {
        assert_eq!(
            hist(&[(1, 1)]).decide(&EpochHistory::default(), 0, 0, 1, 10),
            SyncDecision::Continue { from_offset: 1 }
        );
        assert!(matches!(hist(&[(1, 1)]).decide(&EpochHistory::default(), 0, 0, 5, 10), SyncDecision::FullSync { .. }));
    }

    #[test]
    fn begin_drops_empty_epochs_and_rejects_old_ones() {
        let mut h = hist(&[(1, 1)]);
        h.begin(2, 11).expect("begin 2");
        h.begin(3, 11).expect("epoch 2 wrote nothing");
        assert_eq!(h.entries(), &[EpochStart { epoch: 1, first_offset: 1 }, EpochStart { epoch: 3, first_offset: 11 }]);
        assert!(h.begin(3, 20).is_err());
        assert!(
            EpochHistory::from_entries(vec![
                EpochStart { epoch: 2, first_offset: 1 },
                EpochStart { epoch: 1, first_offset: 5 }
            ])
            .is_err()
        );
    }
}
