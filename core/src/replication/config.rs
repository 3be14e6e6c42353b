//! Replication settings of one node (the server fills them from TOML / env / CLI).

use std::time::Duration;

use crate::replication::health::HealthConfig;

/// Everything the replication runtime needs to know.
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    /// Address the replication listener binds (port 0 = ephemeral). Every node listens, so a
    /// promoted replica can serve replicas at once.
    pub listen_addr: String,
    /// Master's replication address when this node starts as a replica.
    pub replica_of: Option<String>,
    /// Shared secret for the HMAC handshake (`None` = empty key; only allowed on loopback).
    pub auth_secret: Option<String>,
    /// Both sides send a heartbeat this often when idle.
    pub heartbeat_interval: Duration,
    /// Lagging threshold and disconnect timeout.
    pub health: HealthConfig,
    /// A replica whose unacknowledged log exceeds this many bytes is disconnected (and the log is
    /// no longer pinned for it).
    pub replica_buffer_bytes: u64,
    /// Most replicas served at once; more are refused.
    pub max_replicas: usize,
    /// Whether replication connections count their bytes and status reports stats (`stats: null`
    /// when off). Offsets, acks and heartbeat times are kept either way: health depends on them.
    pub stats_enabled: bool,
    /// Stable node id; `None` = generated once and persisted in the data dir.
    pub node_id: Option<String>,
    /// HTTP address other nodes and clients should use to reach this node (`host:port`).
    pub announce_http: String,
    /// Replication address announced to the master (`host:port`); defaults to the bound address.
    pub announce_repl: Option<String>,
    /// Reconnect backoff bounds (exponential with jitter between them).
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// The cluster controller decides the role: a node without persisted replication state starts
    /// as a read-only replica with no master (instead of a master) and waits to be appointed or
    /// told whom to follow; `replica_of` is ignored.
    pub cluster_managed: bool,
}

impl ReplicationConfig {
    /// Defaults (the spec's thresholds) for a node announcing `announce_http`.
    pub fn new(listen_addr: impl Into<String>, announce_http: impl Into<String>) -> Self {
        Self {
            listen_addr: listen_addr.into(),
            replica_of: None,
            auth_secret: None,
            heartbeat_interval: Duration::from_secs(10),
            health: HealthConfig::default(),
            replica_buffer_bytes: 256 * 1024 * 1024,
            max_replicas: 16,
            stats_enabled: true,
            node_id: None,
            announce_http: announce_http.into(),
            announce_repl: None,
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(2),
            cluster_managed: false,
        }
    }
}
