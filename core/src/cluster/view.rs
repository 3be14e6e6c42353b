//! Building the [`ClusterView`] from what this node knows, without touching the network.
//!
//! Invariant: every value is observed, never estimated: this node's own position comes from its
//! hooks, other members' from their last probe answer (with its age); a member never probed has
//! `null` position and `unknown` health.

use std::time::{Duration, Instant};

use openraft::ServerState;
use vectorizer_sdk_types::{
    ClusterFailoverMode, ClusterMember, ClusterMemberRole, ClusterView, ControllerRole, FailoverInfo, MemberHealth,
};

use crate::cluster::config::FailoverMode;
use crate::cluster::controller::Inner;
use crate::cluster::lease;
use crate::cluster::state::FailoverRecord;

pub(crate) fn build(inner: &Inner) -> ClusterView {
    let facts = inner.facts();
    let state = inner.applied.current();
    let observations = inner.observations.lock().clone();
    let own = inner.hooks.position();
    let now = Instant::now();
    // A member that answered within this window counts as healthy even if one probe was lost.
    let fresh = inner.config.probe_interval() * 3;
    let members = inner
        .config
        .nodes
        .iter()
        .map(|n| {
            let (health, position, seen) = if n.id == inner.me {
                (MemberHealth::Healthy, Some(own), Some(Duration::ZERO))
            } else {
                match observations.get(&n.id) {
                    None => (MemberHealth::Unknown, None, None),
                    Some(o) => {
                        let age = o.last_ok.map(|t| now.saturating_duration_since(t));
                        let healthy = !o.last_failed && age.is_some_and(|a| a <= fresh);
                        let health = if healthy { MemberHealth::Healthy } else { MemberHealth::Unreachable };
                        (health, o.position, age)
                    }
                }
            };
            ClusterMember {
                id: n.id,
                http: n.http.clone(),
                repl: n.repl.clone(),
                raft: n.raft.clone(),
                priority: n.priority,
                role: if state.master_id == Some(n.id) {
                    ClusterMemberRole::Master
                } else {
                    ClusterMemberRole::Replica
                },
                controller_leader: facts.leader == Some(n.id),
                health,
                epoch: position.map(|p| p.epoch),
                applied_offset: position.map(|p| p.applied_offset),
                last_seen_ms_ago: seen.map(|d| d.as_millis() as u64),
            }
        })
        .collect();
    ClusterView {
        node_id: inner.me,
        failover: match inner.config.failover {
            FailoverMode::Auto => ClusterFailoverMode::Auto,
            FailoverMode::Manual => ClusterFailoverMode::Manual,
        },
        controller_role: match facts.state {
            ServerState::Leader => ControllerRole::Leader,
            ServerState::Follower => ControllerRole::Follower,
            ServerState::Candidate => ControllerRole::Candidate,
            ServerState::Learner => ControllerRole::Learner,
            ServerState::Shutdown => ControllerRole::Shutdown,
        },
        term: facts.term,
        leader_id: facts.leader,
        epoch: state.epoch,
        master_id: state.master_id,
        fenced: state.fenced,
        writes_allowed: lease::valid(inner),
        members,
        last_failover: state.last_failover.map(failover_info),
    }
}

fn failover_info(r: FailoverRecord) -> FailoverInfo {
    FailoverInfo {
        at: rfc3339(r.at_ms),
        reason: r.reason,
        old_master: r.old_master,
        new_master: r.new_master,
        epoch: r.epoch,
        new_master_applied_offset: r.new_master_applied_offset,
        ops_discarded: r.ops_discarded,
    }
}

fn rfc3339(ms: u64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms as i64)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}
