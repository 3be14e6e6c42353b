//! The controller's replicated state and the commands that change it.
//!
//! Invariant: [`ClusterState::apply`] is a pure, deterministic function of the state and the
//! command, so every node that applies the same committed log holds the same state. Every command
//! is a compare-and-set on the epoch: a command built against an older state is rejected, never
//! half-applied. The epoch only grows; a lease renewal is accepted only for the current master at
//! the current epoch and only while no master change is in progress (`fenced`).

use serde::{Deserialize, Serialize};

/// Why a master was appointed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppointKind {
    /// First master recorded after the controller group formed.
    Bootstrap,
    /// The controller replaced a master that stopped renewing its lease.
    Failover,
    /// An operator asked for this master.
    Manual,
}

/// A command of the controller log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// The master asks to extend its lease; accepted iff `master_id`/`epoch` are current and the
    /// state is not fenced.
    LeaseRenewal { master_id: u64, epoch: u64 },
    /// Starts a master change: from now on the current master's lease cannot be renewed.
    Fence { epoch: u64, reason: String },
    /// Makes `master_id` the master at `new_epoch`, if the epoch is still `expected_epoch`.
    Appoint {
        expected_epoch: u64,
        new_epoch: u64,
        master_id: u64,
        kind: AppointKind,
        reason: String,
        /// Wall-clock time of the decision (ms since the Unix epoch), for the record only.
        at_ms: u64,
        /// Applied offset the new master reported when it was chosen.
        new_master_applied_offset: Option<u64>,
    },
    /// The old master of the last failover reports how many operations it discarded on rejoin.
    ReportDiscarded { epoch: u64, node_id: u64, ops: u64 },
}

impl Command {
    /// Short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::LeaseRenewal { .. } => "LeaseRenewal",
            Command::Fence { .. } => "Fence",
            Command::Appoint { .. } => "Appoint",
            Command::ReportDiscarded { .. } => "ReportDiscarded",
        }
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Result of applying a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Applied,
    /// The command did not match the state; nothing changed.
    Rejected {
        epoch: u64,
        master_id: Option<u64>,
        fenced: bool,
    },
}

/// The last master change, as committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverRecord {
    pub at_ms: u64,
    pub kind: AppointKind,
    pub reason: String,
    pub old_master: Option<u64>,
    pub new_master: u64,
    pub epoch: u64,
    pub new_master_applied_offset: Option<u64>,
    pub ops_discarded: Option<u64>,
}

/// The replicated controller state. Members and priorities come from the configuration, which
/// is the same on every node; the state holds only what the controller decides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    /// Replication epoch of the current master (0 before the first master is recorded).
    pub epoch: u64,
    pub master_id: Option<u64>,
    /// A master change is in progress: renewals are refused until the next `Appoint`.
    pub fenced: bool,
    pub last_failover: Option<FailoverRecord>,
}

/// What applying a command did, beyond the outcome (for local, volatile bookkeeping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    /// A lease renewal was accepted.
    Renewed,
    /// A new master was appointed.
    Appointed,
}

impl ClusterState {
    /// Applies one committed command.
    pub fn apply(&mut self, cmd: &Command) -> (Outcome, Effect) {
        let rejected = |s: &ClusterState| {
            (Outcome::Rejected { epoch: s.epoch, master_id: s.master_id, fenced: s.fenced }, Effect::None)
        };
        match cmd {
            Command::LeaseRenewal { master_id, epoch } => {
                if self.master_id == Some(*master_id) && self.epoch == *epoch && !self.fenced {
                    (Outcome::Applied, Effect::Renewed)
                } else {
                    rejected(self)
                }
            }
            Command::Fence { epoch, .. } => {
                if self.epoch == *epoch {
                    self.fenced = true;
                    (Outcome::Applied, Effect::None)
                } else {
                    rejected(self)
                }
            }
            Command::Appoint {
                expected_epoch,
                new_epoch,
                master_id,
                kind,
                reason,
                at_ms,
                new_master_applied_offset,
            } => {
                // The epoch never goes back; an equal epoch is allowed only to record the master
                // that already serves it at bootstrap.
                let epoch_ok = *new_epoch > self.epoch || (self.master_id.is_none() && *new_epoch >= self.epoch);
                if self.epoch != *expected_epoch || !epoch_ok {
                    return rejected(self);
                }
                self.last_failover = Some(FailoverRecord {
                    at_ms: *at_ms,
                    kind: *kind,
                    reason: reason.clone(),
                    old_master: self.master_id,
                    new_master: *master_id,
                    epoch: *new_epoch,
                    new_master_applied_offset: *new_master_applied_offset,
                    ops_discarded: None,
                });
                self.epoch = *new_epoch;
                self.master_id = Some(*master_id);
                self.fenced = false;
                (Outcome::Applied, Effect::Appointed)
            }
            Command::ReportDiscarded { epoch, node_id, ops } => match &mut self.last_failover {
                Some(rec) if rec.epoch == *epoch && rec.old_master == Some(*node_id) => {
                    rec.ops_discarded = Some(*ops);
                    (Outcome::Applied, Effect::None)
                }
                _ => rejected(self),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appoint(expected: u64, new: u64, master: u64) -> Command {
        Command::Appoint {
            expected_epoch: expected,
            new_epoch: new,
            master_id: master,
            kind: AppointKind::Failover,
            reason: "test".into(),
            at_ms: 1,
            new_master_applied_offset: Some(7),
        }
    }

    #[test]
    fn appoint_is_a_compare_and_set_on_the_epoch() {
        let mut s = ClusterState::default();
        assert_eq!(s.apply(&appoint(0, 3, 1)).0, Outcome::Applied, "bootstrap records epoch 3");
        assert_eq!((s.epoch, s.master_id), (3, Some(1)));
        assert!(matches!(s.apply(&appoint(0, 4, 2)).0, Outcome::Rejected { epoch: 3, .. }), "stale expectation");
        assert!(matches!(s.apply(&appoint(3, 3, 2)).0, Outcome::Rejected { .. }), "epoch must grow");
        assert_eq!(s.apply(&appoint(3, 4, 2)).0, Outcome::Applied);
        let rec = s.last_failover.clone().expect("record");
        assert_eq!((rec.old_master, rec.new_master, rec.epoch, rec.ops_discarded), (Some(1), 2, 4, None));
    }

    #[test]
    fn renewals_need_the_current_master_and_epoch_and_no_fence() {
        let mut s = ClusterState::default();
        let renew = |m, e| Command::LeaseRenewal { master_id: m, epoch: e };
        assert!(matches!(s.apply(&renew(1, 0)).0, Outcome::Rejected { .. }), "no master yet");
        s.apply(&appoint(0, 1, 1));
        assert_eq!(s.apply(&renew(1, 1)), (Outcome::Applied, Effect::Renewed));
        assert!(matches!(s.apply(&renew(2, 1)).0, Outcome::Rejected { .. }));
        assert!(matches!(s.apply(&renew(1, 0)).0, Outcome::Rejected { .. }));
        assert_eq!(s.apply(&Command::Fence { epoch: 1, reason: "r".into() }).0, Outcome::Applied);
        assert!(matches!(s.apply(&renew(1, 1)).0, Outcome::Rejected { fenced: true, .. }), "fenced");
        s.apply(&appoint(1, 2, 2));
        assert!(!s.fenced, "an appointment lifts the fence");
        assert!(matches!(s.apply(&renew(1, 1)).0, Outcome::Rejected { .. }), "old master stays out");
        assert_eq!(s.apply(&renew(2, 2)).0, Outcome::Applied);
    }

    #[test]
    fn discarded_ops_are_reported_by_the_old_master_of_that_failover_only() {
        let mut s = ClusterState::default();
        s.apply(&appoint(0, 1, 1));
        s.apply(&appoint(1, 2, 2));
        let report = |e, n, ops| Command::ReportDiscarded { epoch: e, node_id: n, ops };
        assert!(matches!(s.apply(&report(2, 3, 5)).0, Outcome::Rejected { .. }));
        assert!(matches!(s.apply(&report(1, 1, 5)).0, Outcome::Rejected { .. }));
        assert_eq!(s.apply(&report(2, 1, 5)).0, Outcome::Applied);
        assert_eq!(s.last_failover.and_then(|r| r.ops_discarded), Some(5));
    }
}
