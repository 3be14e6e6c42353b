//! Replication status, statistics and replica health: the v1.2.0 shape of
//! `GET /api/v1/replication/status` and `GET /api/v1/replication/replicas`.
//!
//! The four spec fields of [`ReplicationStatus`] are always present; `stats` and `replicas` are
//! `null` when replication is disabled (and `replicas` is `null` on a replica). Fields beyond the
//! spec are additive and nullable, so pre-1.2 and v1.2.0 responses both parse.

use serde::{Deserialize, Serialize};
use typeshare::typeshare;

/// Role of a node.
#[typeshare]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ReplicationRole {
    Master,
    Replica,
}

/// Health of a replication link, as the spec names it.
///
/// - `Syncing`: a full or partial sync is in progress.
/// - `Connected`: streaming, lag within `lagging_threshold_ms`.
/// - `Lagging`: streaming, lag above `lagging_threshold_ms`.
/// - `Disconnected`: link closed, or no heartbeat for `disconnect_timeout`.
#[typeshare]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ReplicaStatus {
    Connected,
    Syncing,
    Lagging,
    Disconnected,
}

/// Progress of an in-flight full sync (snapshot transfer).
#[typeshare]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncProgress {
    #[typeshare(serialized_as = "U53")]
    pub bytes_done: u64,
    #[typeshare(serialized_as = "U53")]
    pub bytes_total: u64,
}

/// Replication statistics of one node. Definitions: `docs/REPLICATION.md`.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplicationStats {
    pub role: ReplicationRole,
    /// Master: max lag over connected replicas. Replica: ms since it was last known caught up.
    #[typeshare(serialized_as = "U53")]
    pub lag_ms: u64,
    /// Bytes written to replica sockets (master), persisted across restarts.
    #[typeshare(serialized_as = "U53")]
    pub bytes_sent: u64,
    /// Bytes read from the master socket (replica), persisted across restarts.
    #[typeshare(serialized_as = "U53")]
    pub bytes_received: u64,
    /// Last completed full or partial sync (RFC 3339 UTC); null until the first one.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub last_sync: Option<String>,
    /// Master: master offset - min acked offset over connected replicas.
    /// Replica: last known master offset - applied offset.
    #[typeshare(serialized_as = "U53")]
    pub operations_pending: u64,
    /// Bytes of the last snapshot sent or written.
    #[typeshare(serialized_as = "U53")]
    pub snapshot_size: u64,
    /// Replicas not `Disconnected` (master); null on a replica.
    #[typeshare(serialized_as = "Option<U53>")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub connected_replicas: Option<u64>,

    // ---- additive fields beyond the spec (null when the server does not report them) ----
    /// Current replication epoch (incremented by each promotion).
    #[serde(default)]
    #[typeshare(serialized_as = "Option<U53>")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub epoch: Option<u64>,
    /// Master: offset of the last appended op. Replica: last master offset it has heard of.
    #[serde(default)]
    #[typeshare(serialized_as = "Option<U53>")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub master_offset: Option<u64>,
    /// Offset of the last op applied locally.
    #[serde(default)]
    #[typeshare(serialized_as = "Option<U53>")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub applied_offset: Option<u64>,
    /// Completed full syncs (master: served; replica: performed), persisted.
    #[serde(default)]
    #[typeshare(serialized_as = "Option<U53>")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub full_syncs: Option<u64>,
    /// Completed partial syncs (CONTINUE), persisted.
    #[serde(default)]
    #[typeshare(serialized_as = "Option<U53>")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub partial_syncs: Option<u64>,
    /// Replica only: health of the link to the master.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub status: Option<ReplicaStatus>,
    /// Replica only: the master's replication address.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub master: Option<String>,
    /// Full sync in progress, if any.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub sync_progress: Option<SyncProgress>,
    /// Replica only: when the link went down (RFC 3339), null while it is up.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub link_down_since: Option<String>,
    /// Last replication error seen by this node.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub last_error: Option<String>,
    /// Operations this node discarded when it rejoined a newer master after a failover (it held
    /// operations beyond the fork point, never acknowledged at majority), persisted. Absent
    /// (null) from servers before this field existed.
    #[serde(default)]
    #[typeshare(serialized_as = "Option<U53>")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub ops_discarded_on_rejoin: Option<u64>,
}

/// One replica as the master sees it.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplicaInfo {
    /// Stable replica id (persisted in the replica's data dir).
    pub id: String,
    /// Announced host of the replica.
    pub host: String,
    /// Announced port of the replica.
    pub port: u16,
    pub status: ReplicaStatus,
    /// 0 if caught up, else ms since the oldest op it has not acknowledged was appended.
    #[typeshare(serialized_as = "U53")]
    pub lag_ms: u64,
    /// Last message received from the replica (RFC 3339 UTC).
    pub last_heartbeat: String,
    /// Operations acknowledged by this replica, persisted.
    #[typeshare(serialized_as = "U53")]
    pub operations_synced: u64,

    // ---- additive fields beyond the spec ----
    /// Last offset the replica acknowledged as applied.
    #[serde(default)]
    #[typeshare(serialized_as = "Option<U53>")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub acked_offset: Option<u64>,
    /// Bytes the master wrote to this replica's socket, persisted.
    #[serde(default)]
    #[typeshare(serialized_as = "Option<U53>")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub bytes_sent: Option<u64>,
    /// Full syncs served to this replica, persisted.
    #[serde(default)]
    #[typeshare(serialized_as = "Option<U53>")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub full_syncs: Option<u64>,
    /// Partial syncs served to this replica, persisted.
    #[serde(default)]
    #[typeshare(serialized_as = "Option<U53>")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub partial_syncs: Option<u64>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub sync_progress: Option<SyncProgress>,
    /// When the link went down (RFC 3339), null while connected.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub link_down_since: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub last_error: Option<String>,
}

/// `GET /api/v1/replication/status`.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplicationStatus {
    pub role: ReplicationRole,
    pub enabled: bool,
    /// Null when replication is disabled (and in pre-1.2 servers).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub stats: Option<ReplicationStats>,
    /// Every replica the master knows; null on a replica, when disabled, and in pre-1.2 servers.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub replicas: Option<Vec<ReplicaInfo>>,
}

/// `GET /api/v1/replication/replicas`.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplicaListResponse {
    pub replicas: Vec<ReplicaInfo>,
}

/// `POST /api/v1/replication/replicaof`: `{"master": "host:port"}` or `{"master": null}` to detach.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplicaOfRequest {
    pub master: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRE_1_2: &str = r#"{"role":"master","enabled":true,"stats":null,"replicas":null}"#;

    const V1_2_MASTER: &str = r#"{
      "role": "master",
      "enabled": true,
      "stats": {
        "role": "master",
        "lag_ms": 0,
        "bytes_sent": 1048576,
        "bytes_received": 0,
        "last_sync": "2024-10-24T12:00:00Z",
        "operations_pending": 0,
        "snapshot_size": 524288,
        "connected_replicas": 2
      },
      "replicas": [
        {
          "id": "replica-1",
          "host": "192.168.1.10",
          "port": 6381,
          "status": "Connected",
          "lag_ms": 5,
          "last_heartbeat": "2024-10-24T12:00:00Z",
          "operations_synced": 1000
        }
      ]
    }"#;

    #[test]
    fn pre_1_2_response_parses_with_nulls() {
        let s: ReplicationStatus = serde_json::from_str(PRE_1_2).expect("parse");
        assert_eq!(s.role, ReplicationRole::Master);
        assert!(s.enabled);
        assert_eq!(s.stats, None);
        assert_eq!(s.replicas, None);
    }

    #[test]
    fn spec_example_parses_verbatim() {
        let s: ReplicationStatus = serde_json::from_str(V1_2_MASTER).expect("parse");
        let stats = s.stats.expect("stats present");
        assert_eq!(stats.bytes_sent, 1_048_576);
        assert_eq!(stats.connected_replicas, Some(2));
        assert_eq!(stats.last_sync.as_deref(), Some("2024-10-24T12:00:00Z"));
        assert_eq!(stats.epoch, None);
        let replicas = s.replicas.expect("replicas present");
        assert_eq!(replicas[0].status, ReplicaStatus::Connected);
        assert_eq!(replicas[0].port, 6381);
        assert_eq!(replicas[0].operations_synced, 1000);
        assert_eq!(replicas[0].acked_offset, None);
    }

    #[test]
    fn status_serialises_all_four_fields_even_when_null() {
        let s = ReplicationStatus { role: ReplicationRole::Master, enabled: false, stats: None, replicas: None };
        assert_eq!(serde_json::to_string(&s).expect("serialise"), PRE_1_2.replace("true", "false"));
    }
}
