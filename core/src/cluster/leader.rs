//! Duties of the controller leader: record the first master, watch the master's lease renewals,
//! and replace a master that went silent (automatic mode) or that an operator replaced.
//!
//! A master is silent when no renewal of its lease was applied here for `failover_timeout`,
//! counted from when this node became leader at the earliest.
//!
//! Invariants of an appointment ([`appoint`]):
//! 1. When another node is master, `Fence` is committed first; from then on its lease can no
//!    longer be renewed.
//! 2. The new master is committed only after `lease * (1 + max_clock_drift) + margin` has elapsed
//!    since the later of (the last renewal or appointment applied on this node, this node becoming
//!    leader). Every renewal the old master holds was sent before it was applied here, so its lease
//!    has expired on its own clock by then: two masters never accept writes at the same time.
//! 3. `Appoint` is a compare-and-set on the epoch observed at the start, with an epoch above every
//!    epoch any member reported, so a concurrent change makes it fail instead of overwrite.
//! 4. The choice: reachable members with priority > 0 (never the silent master itself), highest
//!    (epoch, applied offset), then highest priority, then lowest id.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::ServerState;

use crate::cluster::config::ClusterConfig;
use crate::cluster::controller::{Inner, auto};
use crate::cluster::hooks::NodePosition;
use crate::cluster::probe::probe_all;
use crate::cluster::raft_types::NodeId;
use crate::cluster::state::{AppointKind, ClusterState, Command, Outcome};
use crate::cluster::wire::RemoteFailure;

/// Runs the leader duties every heartbeat while this node is the controller leader.
pub(crate) async fn run(inner: Arc<Inner>) {
    let tick = inner.config.raft_heartbeat;
    let mut last_warning: Option<(String, Instant)> = None;
    let mut next_first_master = Instant::now();
    loop {
        if !inner.sleep(tick).await {
            return;
        }
        if inner.facts().state != ServerState::Leader {
            continue;
        }
        let state = inner.applied.current();
        if state.master_id.is_none() {
            // Recording the first master probes everyone: at most once per probe interval.
            if Instant::now() < next_first_master {
                continue;
            }
            next_first_master = Instant::now() + inner.config.probe_interval();
        }
        if let Err(e) = duty(&inner, state).await {
            let message = match e {
                RemoteFailure::NotLeader { .. } => continue,
                RemoteFailure::Failed { message } => message,
            };
            // The same problem is logged at most every 5 s.
            let repeat =
                last_warning.as_ref().is_some_and(|(m, at)| *m == message && at.elapsed() < Duration::from_secs(5));
            if !repeat {
                tracing::warn!(problem = %message, "controller leader");
                last_warning = Some((message, Instant::now()));
            }
            // Do not retry a failed attempt (it probes everyone) before a probe interval.
            if !inner.sleep(inner.config.probe_interval()).await {
                return;
            }
        }
    }
}

async fn duty(inner: &Inner, state: ClusterState) -> Result<(), RemoteFailure> {
    let Some(master) = state.master_id else {
        return record_first_master(inner, &state).await;
    };
    if !auto(&inner.config) {
        return Ok(());
    }
    if !state.fenced && silence(inner)? < inner.config.failover_timeout {
        return Ok(());
    }
    // An appointment is already running (an operator's): let it finish, then look again.
    let Ok(_appointing) = inner.appointing.try_lock() else { return Ok(()) };
    let state = inner.applied.current();
    let silent = silence(inner)?;
    if state.master_id != Some(master) || (!state.fenced && silent < inner.config.failover_timeout) {
        return Ok(());
    }
    let reason = if state.fenced {
        format!("completing the interrupted replacement of master {master}")
    } else {
        format!("master {master} renewed no lease for {} ms", silent.as_millis())
    };
    tracing::warn!(master, reason = %reason, "controller: replacing the master");
    match appoint_locked(inner, None, AppointKind::Failover, reason).await? {
        Outcome::Applied => Ok(()),
        Outcome::Rejected { epoch, .. } => {
            tracing::info!(epoch, "controller: the state changed during the failover; re-evaluating");
            Ok(())
        }
    }
}

/// How long the master has been silent as far as this leader can tell: since the last renewal or
/// appointment applied here, or since this node became leader if that is later (a master cannot
/// renew while there is no leader, so a leader election must not count against it).
fn silence(inner: &Inner) -> Result<Duration, RemoteFailure> {
    let since = inner.leader_since.lock().ok_or(RemoteFailure::NotLeader { leader: None })?;
    Ok(inner.applied.master_signal_at().max(since).elapsed())
}

/// Records the master after the group formed: the node already acting as master (at its own
/// epoch, so it is not promoted again), or in automatic mode the best node by the usual rule.
async fn record_first_master(inner: &Inner, state: &ClusterState) -> Result<(), RemoteFailure> {
    let leader_since = inner.leader_since.lock().ok_or(RemoteFailure::NotLeader { leader: None })?;
    let replies = probe_all(inner, inner.config.probe_interval()).await;
    let everyone = replies.len() == inner.config.nodes.len();
    // Wait for every member (one of them may be the master with writes nobody else has), but not
    // forever: after failover_timeout a majority is enough.
    if !everyone && (leader_since.elapsed() < inner.config.failover_timeout || replies.len() < inner.config.majority())
    {
        return Ok(());
    }
    let positions: BTreeMap<NodeId, NodePosition> = replies.iter().map(|(id, r)| (*id, r.position)).collect();
    let masters: BTreeMap<NodeId, NodePosition> =
        positions.iter().filter(|(_, p)| p.is_master).map(|(id, p)| (*id, *p)).collect();
    let (chosen, pos, new_epoch, reason) = if let Some((id, pos)) = best(&inner.config, &masters, None, false) {
        let reason = format!("node {id} was master at epoch {} when the controller formed", pos.epoch);
        (id, pos, pos.epoch.max(state.epoch), reason)
    } else if auto(&inner.config) {
        let Some((id, pos)) = best(&inner.config, &positions, None, true) else {
            return Err(RemoteFailure::Failed { message: "no member with priority > 0 answered".into() });
        };
        let reason = format!("no master when the controller formed; node {id} is the most up to date");
        (id, pos, next_epoch(state, &positions), reason)
    } else {
        return Ok(()); // manual mode and no master: wait for an operator.
    };
    let cmd = Command::Appoint {
        expected_epoch: state.epoch,
        new_epoch,
        master_id: chosen,
        kind: AppointKind::Bootstrap,
        reason,
        at_ms: now_ms(),
        new_master_applied_offset: Some(pos.applied_offset),
    };
    inner.propose_local(cmd, inner.config.failover_timeout).await.map(|_| ())
}

/// Appoints `target` (or, if `None`, the best eligible member other than the current master);
/// must run on the leader. See the module invariants.
pub(crate) async fn appoint(
    inner: &Inner,
    target: Option<NodeId>,
    kind: AppointKind,
    reason: String,
) -> Result<Outcome, RemoteFailure> {
    let _appointing = inner.appointing.lock().await;
    appoint_locked(inner, target, kind, reason).await
}

/// [`appoint`], for a caller that holds [`Inner::appointing`].
async fn appoint_locked(
    inner: &Inner,
    target: Option<NodeId>,
    kind: AppointKind,
    reason: String,
) -> Result<Outcome, RemoteFailure> {
    let not_leader = || RemoteFailure::NotLeader { leader: inner.facts().leader };
    let state = inner.applied.current();
    let old = state.master_id;
    if target.is_some() && target == old && !state.fenced {
        return Ok(Outcome::Applied); // already the master
    }
    // 1. Fence the current master.
    if let Some(old) = old
        && !state.fenced
    {
        let fence = Command::Fence { epoch: state.epoch, reason: reason.clone() };
        match inner.propose_local(fence, inner.config.failover_timeout).await? {
            Outcome::Applied => tracing::info!(master = old, epoch = state.epoch, "controller: master fenced"),
            rejected @ Outcome::Rejected { .. } => return Ok(rejected),
        }
    }
    // 2. Wait until the old master's lease has run out.
    if old.is_some() {
        loop {
            let since = inner.leader_since.lock().ok_or_else(not_leader)?;
            let from = inner.applied.master_signal_at().max(since);
            let elapsed = from.elapsed();
            let wait = inner.config.lease_wait();
            if elapsed >= wait {
                break;
            }
            if !inner.sleep(wait - elapsed).await {
                return Err(RemoteFailure::Failed { message: "controller shut down".into() });
            }
        }
    }
    // 3. Choose.
    let replies = probe_all(inner, inner.config.probe_interval()).await;
    let positions: BTreeMap<NodeId, NodePosition> = replies.iter().map(|(id, r)| (*id, r.position)).collect();
    let (chosen, pos) = match target {
        Some(t) => match positions.get(&t) {
            Some(p) => (t, *p),
            None => return Err(RemoteFailure::Failed { message: format!("node {t} did not answer the probe") }),
        },
        None => match best(&inner.config, &positions, old, true) {
            Some(c) => c,
            None => {
                return Err(RemoteFailure::Failed {
                    message: "no reachable member with priority > 0 can replace the master".into(),
                });
            }
        },
    };
    // 4. Commit (compare-and-set on the epoch observed in step 1).
    let new_epoch = next_epoch(&state, &positions);
    let cmd = Command::Appoint {
        expected_epoch: state.epoch,
        new_epoch,
        master_id: chosen,
        kind,
        reason: reason.clone(),
        at_ms: now_ms(),
        new_master_applied_offset: Some(pos.applied_offset),
    };
    let outcome = inner.propose_local(cmd, inner.config.failover_timeout).await?;
    if outcome == Outcome::Applied {
        tracing::warn!(old_master = ?old, new_master = chosen, epoch = new_epoch, reason = %reason, "controller: master appointed");
    }
    Ok(outcome)
}

/// An epoch above the committed one and above every epoch a member reported.
fn next_epoch(state: &ClusterState, positions: &BTreeMap<NodeId, NodePosition>) -> u64 {
    positions.values().map(|p| p.epoch).max().unwrap_or(0).max(state.epoch) + 1
}

/// The best member by the appointment rule, excluding `exclude`; `eligible_only` keeps only
/// members with priority > 0.
pub(crate) fn best(
    config: &ClusterConfig,
    positions: &BTreeMap<NodeId, NodePosition>,
    exclude: Option<NodeId>,
    eligible_only: bool,
) -> Option<(NodeId, NodePosition)> {
    positions
        .iter()
        .filter(|(id, _)| Some(**id) != exclude)
        .filter_map(|(id, p)| config.node(*id).map(|n| (*id, *p, n.priority)))
        .filter(|(_, _, priority)| !eligible_only || *priority > 0)
        .max_by_key(|(id, p, priority)| (p.epoch, p.applied_offset, *priority, Reverse(*id)))
        .map(|(id, p, _)| (id, p))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::config::ClusterNode;

    fn config(priorities: &[u32]) -> ClusterConfig {
        let nodes = priorities
            .iter()
            .enumerate()
            .map(|(i, p)| ClusterNode {
                id: i as u64 + 1,
                http: format!("h:{}", i + 1),
                repl: format!("r:{}", i + 1),
                raft: format!("c:{}", i + 1),
                priority: *p,
            })
            .collect();
        ClusterConfig::new(1, nodes)
    }

    fn pos(epoch: u64, applied: u64) -> NodePosition {
        NodePosition { epoch, applied_offset: applied, is_master: false }
    }

    #[test]
    fn choice_is_by_epoch_then_offset_then_priority_then_lowest_id() {
        let cfg = config(&[1, 1, 5, 0, 2]);
        let all = |v: &[(u64, NodePosition)]| v.iter().copied().collect::<BTreeMap<_, _>>();
        // Higher epoch beats a higher offset.
        let p = all(&[(2, pos(3, 10)), (3, pos(2, 99))]);
        assert_eq!(best(&cfg, &p, None, true).map(|c| c.0), Some(2));
        // Same epoch: higher offset.
        let p = all(&[(2, pos(3, 10)), (3, pos(3, 11))]);
        assert_eq!(best(&cfg, &p, None, true).map(|c| c.0), Some(3));
        // Tie: priority 5 beats 1.
        let p = all(&[(2, pos(3, 10)), (3, pos(3, 10))]);
        assert_eq!(best(&cfg, &p, None, true).map(|c| c.0), Some(3));
        // Full tie: lowest id.
        let p = all(&[(1, pos(3, 10)), (2, pos(3, 10))]);
        assert_eq!(best(&cfg, &p, None, true).map(|c| c.0), Some(1));
        // Priority 0 is never chosen, however far ahead; the excluded master neither.
        let p = all(&[(4, pos(9, 99)), (5, pos(3, 1)), (1, pos(9, 100))]);
        assert_eq!(best(&cfg, &p, Some(1), true).map(|c| c.0), Some(5));
        assert_eq!(best(&cfg, &all(&[(4, pos(9, 99))]), None, true), None);
    }

    #[test]
    fn next_epoch_is_above_state_and_every_report() {
        let state = ClusterState { epoch: 4, ..ClusterState::default() };
        let p: BTreeMap<_, _> = [(1, pos(6, 0)), (2, pos(3, 0))].into_iter().collect();
        assert_eq!(next_epoch(&state, &p), 7);
        assert_eq!(next_epoch(&state, &BTreeMap::new()), 5);
    }
}
