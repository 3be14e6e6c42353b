//! Cluster controller view: the shape of `GET /api/v1/cluster`.
//!
//! The controller (an embedded Raft group over the cluster's nodes) decides which node is the
//! master and at which epoch. This document reports what one node knows: its controller role and
//! term, the committed decision (epoch, master), every member with its last probed position, and
//! the last failover. Every field is always present; values unknown to the reporting node are
//! `null`, never guessed.

use serde::{Deserialize, Serialize};
use typeshare::typeshare;

/// How the master is chosen when it fails.
#[typeshare]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ClusterFailoverMode {
    /// The controller appoints a new master after `failover_timeout_ms` without lease renewals.
    Auto,
    /// Only an operator's promotion changes the master.
    Manual,
}

/// Role of a node in the controller's Raft group.
#[typeshare]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ControllerRole {
    Leader,
    Follower,
    Candidate,
    /// Not a voter yet (the group is not formed, or this node has not caught up).
    Learner,
    /// The controller was shut down.
    Shutdown,
}

/// Role of a member in the data path, per the committed controller state.
#[typeshare]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ClusterMemberRole {
    Master,
    Replica,
}

/// Reachability of a member as seen from the reporting node.
///
/// - `healthy`: its last probe (over the controller transport) answered in time.
/// - `unreachable`: its last probe failed or timed out.
/// - `unknown`: not probed yet since this node started.
#[typeshare]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MemberHealth {
    Healthy,
    Unreachable,
    Unknown,
}

/// One configured node of the cluster.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterMember {
    #[typeshare(serialized_as = "U53")]
    pub id: u64,
    /// HTTP address (`host:port`) of the node's REST API.
    pub http: String,
    /// Replication address (`host:port`).
    pub repl: String,
    /// Controller (Raft) address (`host:port`).
    pub raft: String,
    /// Promotion priority; 0 means the node is never promoted.
    pub priority: u32,
    /// Master or replica, per the committed controller state.
    pub role: ClusterMemberRole,
    /// Whether this member is the controller leader the reporting node currently knows.
    pub controller_leader: bool,
    pub health: MemberHealth,
    /// Replication epoch the member last reported; null until it answered a probe.
    #[typeshare(serialized_as = "Option<U53>")]
    pub epoch: Option<u64>,
    /// Log offset of the last operation the member applied, as last reported; null until known.
    #[typeshare(serialized_as = "Option<U53>")]
    pub applied_offset: Option<u64>,
    /// Milliseconds since the member last answered a probe; null if it never did.
    #[typeshare(serialized_as = "Option<U53>")]
    pub last_seen_ms_ago: Option<u64>,
}

/// The last master change committed by the controller.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FailoverInfo {
    /// When the controller leader decided it (RFC 3339 UTC).
    pub at: String,
    /// Why, e.g. `master 1 renewed no lease for 10000 ms`.
    pub reason: String,
    /// Master before the change; null at bootstrap.
    #[typeshare(serialized_as = "Option<U53>")]
    pub old_master: Option<u64>,
    #[typeshare(serialized_as = "U53")]
    pub new_master: u64,
    /// Epoch the new master serves.
    #[typeshare(serialized_as = "U53")]
    pub epoch: u64,
    /// Applied offset the new master reported when it was chosen; null if unknown.
    #[typeshare(serialized_as = "Option<U53>")]
    pub new_master_applied_offset: Option<u64>,
    /// Operations the old master discarded (never acknowledged at majority) when it rejoined;
    /// null until it has rejoined and reported the count.
    #[typeshare(serialized_as = "Option<U53>")]
    pub ops_discarded: Option<u64>,
}

/// `GET /api/v1/cluster`: the controller as one node sees it.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterView {
    /// Id of the reporting node.
    #[typeshare(serialized_as = "U53")]
    pub node_id: u64,
    pub failover: ClusterFailoverMode,
    /// The reporting node's role in the controller group.
    pub controller_role: ControllerRole,
    /// Controller (Raft) term.
    #[typeshare(serialized_as = "U53")]
    pub term: u64,
    /// Controller leader known to the reporting node; null while none is known.
    #[typeshare(serialized_as = "Option<U53>")]
    pub leader_id: Option<u64>,
    /// Committed replication epoch (0 before the first master is recorded).
    #[typeshare(serialized_as = "U53")]
    pub epoch: u64,
    /// Committed master; null before the first master is recorded.
    #[typeshare(serialized_as = "Option<U53>")]
    pub master_id: Option<u64>,
    /// True while a master change is in progress: the old master's lease can no longer be renewed.
    pub fenced: bool,
    /// Whether the reporting node holds a valid master lease (and so accepts writes).
    pub writes_allowed: bool,
    pub members: Vec<ClusterMember>,
    pub last_failover: Option<FailoverInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_serialises_nulls_and_lowercase_enums() {
        let view = ClusterView {
            node_id: 1,
            failover: ClusterFailoverMode::Auto,
            controller_role: ControllerRole::Leader,
            term: 3,
            leader_id: Some(1),
            epoch: 2,
            master_id: None,
            fenced: false,
            writes_allowed: false,
            members: vec![ClusterMember {
                id: 1,
                http: "127.0.0.1:15001".into(),
                repl: "127.0.0.1:16001".into(),
                raft: "127.0.0.1:17001".into(),
                priority: 1,
                role: ClusterMemberRole::Replica,
                controller_leader: true,
                health: MemberHealth::Unknown,
                epoch: None,
                applied_offset: None,
                last_seen_ms_ago: None,
            }],
            last_failover: None,
        };
        let json = serde_json::to_value(&view).expect("serialise");
        assert_eq!(json["master_id"], serde_json::Value::Null);
        assert_eq!(json["last_failover"], serde_json::Value::Null);
        assert_eq!(json["failover"], "auto");
        assert_eq!(json["controller_role"], "leader");
        assert_eq!(json["members"][0]["health"], "unknown");
        assert_eq!(json["members"][0]["role"], "replica");
        assert_eq!(json["members"][0]["applied_offset"], serde_json::Value::Null);
        let back: ClusterView = serde_json::from_value(json).expect("parse");
        assert_eq!(back, view);
    }
}
