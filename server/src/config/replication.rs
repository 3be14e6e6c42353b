//! `[replication]`: the replication listener, the master to follow, thresholds and the backlog.
//!
//! Invariant: once [`ReplicationSection::validate`] passed, [`ReplicationSection::runtime_config`]
//! yields a `ReplicationConfig` the runtime accepts: every threshold is positive,
//! `heartbeat_interval_ms < disconnect_timeout_ms`, `lagging_threshold_ms < disconnect_timeout_ms`,
//! `reconnect_min_ms <= reconnect_max_ms`, every address has the `host:port` form, and a listener on a
//! non-loopback address always has an `auth_secret`.
//!
//! `enabled` is derived when not set explicitly: replication runs when `addr` or `replica_of` was
//! given by any source (the `--repl-addr` / `--replica-of` flags, the environment or the file).

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use vectorizer_core::replication::health::HealthConfig;
use vectorizer_core::replication::{ReplicationConfig, WriteConcern};

use super::values::{self, HostPort, ListenAddr, Secret};

/// Replication listener address when `addr` is not set.
pub const DEFAULT_REPL_ADDR: &str = "127.0.0.1:7001";

/// `[replication]` as configured (see `docs/REPLICATION.md` for the meaning of each key).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicationSection {
    /// Explicit on/off; `None` = on when `addr` or `replica_of` is set.
    #[serde(deserialize_with = "values::opt_bool")]
    pub enabled: Option<bool>,
    /// Listener address (`--repl-addr`); `None` = [`DEFAULT_REPL_ADDR`].
    #[serde(deserialize_with = "values::opt_listen_addr")]
    pub addr: Option<ListenAddr>,
    /// Master's replication address to follow (`--replica-of`).
    #[serde(deserialize_with = "values::opt_host_port")]
    pub replica_of: Option<HostPort>,
    /// Shared secret of the HMAC handshake.
    #[serde(deserialize_with = "values::opt_secret")]
    pub auth_secret: Option<Secret>,
    #[serde(deserialize_with = "values::u64")]
    pub heartbeat_interval_ms: u64,
    #[serde(deserialize_with = "values::u64")]
    pub lagging_threshold_ms: u64,
    #[serde(deserialize_with = "values::u64")]
    pub disconnect_timeout_ms: u64,
    #[serde(deserialize_with = "values::u64")]
    pub replica_buffer_bytes: u64,
    #[serde(deserialize_with = "values::usize")]
    pub max_replicas: usize,
    #[serde(deserialize_with = "values::bool")]
    pub stats_enabled: bool,
    /// Stable node id; `None` = generated once and persisted in the data dir.
    #[serde(deserialize_with = "values::opt_string")]
    pub node_id: Option<String>,
    /// HTTP address announced to peers and clients; `None` = the bound HTTP address.
    #[serde(deserialize_with = "values::opt_host_port")]
    pub announce_http: Option<HostPort>,
    /// Replication address announced to the master; `None` = the bound replication address.
    #[serde(deserialize_with = "values::opt_host_port")]
    pub announce_repl: Option<HostPort>,
    /// Log bytes kept after snapshots cover it; when set, wins over `storage.retention_bytes`.
    #[serde(deserialize_with = "values::opt_u64")]
    pub backlog_bytes: Option<u64>,
    /// Age of covered log kept; when set, wins over `storage.retention_secs`.
    #[serde(deserialize_with = "values::opt_u64")]
    pub backlog_secs: Option<u64>,
    /// Reconnect backoff bounds of a replica (exponential with jitter between them).
    #[serde(deserialize_with = "values::u64")]
    pub reconnect_min_ms: u64,
    #[serde(deserialize_with = "values::u64")]
    pub reconnect_max_ms: u64,
    /// Durability of a write that gives no `?w=`: `1`, `majority` or `all`.
    pub default_w: WriteConcernSetting,
    /// How long a write with `w` above 1 waits when it gives no `?timeout_ms=`.
    #[serde(deserialize_with = "values::u64")]
    pub write_timeout_ms: u64,
}

/// `replication.default_w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteConcernSetting(pub WriteConcern);

impl<'de> Deserialize<'de> for WriteConcernSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = values::string(d)?;
        WriteConcern::parse("replication.default_w", &text)
            .map(Self)
            .map_err(|_| serde::de::Error::custom(format!("expected \"1\", \"majority\" or \"all\", got {text:?}")))
    }
}

impl Default for ReplicationSection {
    fn default() -> Self {
        let core = ReplicationConfig::new(DEFAULT_REPL_ADDR, "");
        Self {
            enabled: None,
            addr: None,
            replica_of: None,
            auth_secret: None,
            heartbeat_interval_ms: millis(core.heartbeat_interval),
            lagging_threshold_ms: millis(core.health.lagging_threshold),
            disconnect_timeout_ms: millis(core.health.disconnect_timeout),
            replica_buffer_bytes: core.replica_buffer_bytes,
            max_replicas: core.max_replicas,
            stats_enabled: core.stats_enabled,
            node_id: None,
            announce_http: None,
            announce_repl: None,
            backlog_bytes: None,
            backlog_secs: None,
            reconnect_min_ms: millis(core.reconnect_min),
            reconnect_max_ms: millis(core.reconnect_max),
            default_w: WriteConcernSetting::default(),
            write_timeout_ms: millis(crate::state::DEFAULT_WRITE_TIMEOUT),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A rule broken by the section: the key and the message shown after it.
pub type Violation = (&'static str, String);

impl ReplicationSection {
    /// Whether replication runs: the explicit `enabled`, else whether `addr` or `replica_of` is set.
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(self.addr.is_some() || self.replica_of.is_some())
    }

    /// The listener address (configured or default).
    pub fn listen_addr(&self) -> SocketAddr {
        self.addr.map_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7001)), |a| a.0)
    }

    /// Cross-field rules; the first broken one names its key.
    pub fn validate(&self) -> Result<(), Violation> {
        let positive = [
            ("replication.heartbeat_interval_ms", self.heartbeat_interval_ms),
            ("replication.lagging_threshold_ms", self.lagging_threshold_ms),
            ("replication.disconnect_timeout_ms", self.disconnect_timeout_ms),
            ("replication.replica_buffer_bytes", self.replica_buffer_bytes),
            ("replication.max_replicas", self.max_replicas as u64),
            ("replication.reconnect_min_ms", self.reconnect_min_ms),
            ("replication.reconnect_max_ms", self.reconnect_max_ms),
            ("replication.write_timeout_ms", self.write_timeout_ms),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err((key, "must be greater than 0, got 0".into()));
            }
        }
        if self.lagging_threshold_ms >= self.disconnect_timeout_ms {
            return Err((
                "replication.lagging_threshold_ms",
                format!(
                    "must be less than replication.disconnect_timeout_ms ({}), got {}",
                    self.disconnect_timeout_ms, self.lagging_threshold_ms
                ),
            ));
        }
        if self.heartbeat_interval_ms >= self.disconnect_timeout_ms {
            return Err((
                "replication.heartbeat_interval_ms",
                format!(
                    "must be less than replication.disconnect_timeout_ms ({}), got {}",
                    self.disconnect_timeout_ms, self.heartbeat_interval_ms
                ),
            ));
        }
        if self.reconnect_min_ms > self.reconnect_max_ms {
            return Err((
                "replication.reconnect_min_ms",
                format!(
                    "must be at most replication.reconnect_max_ms ({}), got {}",
                    self.reconnect_max_ms, self.reconnect_min_ms
                ),
            ));
        }
        if self.write_timeout_ms > crate::write::MAX_WRITE_TIMEOUT_MS {
            return Err((
                "replication.write_timeout_ms",
                format!("must be at most {}, got {}", crate::write::MAX_WRITE_TIMEOUT_MS, self.write_timeout_ms),
            ));
        }
        if self.node_id.as_deref().is_some_and(|id| id.trim().is_empty()) {
            return Err(("replication.node_id", "must not be empty when set".into()));
        }
        let addr = self.listen_addr();
        if !addr.ip().is_loopback() && self.auth_secret.is_none() {
            return Err((
                "replication.auth_secret",
                format!(
                    "required because replication.addr ({addr}) is not a loopback address: without a shared secret \
                     any host that reaches the port could replicate this node's data"
                ),
            ));
        }
        Ok(())
    }

    /// The runtime's configuration; `http_addr` is the bound HTTP address (announced unless
    /// `announce_http` is set).
    pub fn runtime_config(&self, http_addr: SocketAddr) -> ReplicationConfig {
        let announce_http = self.announce_http.as_ref().map_or_else(|| http_addr.to_string(), |a| a.0.clone());
        let mut c = ReplicationConfig::new(self.listen_addr().to_string(), announce_http);
        c.replica_of = self.replica_of.as_ref().map(|m| m.0.clone());
        c.auth_secret = self.auth_secret.as_ref().map(|s| s.expose().to_owned());
        c.heartbeat_interval = Duration::from_millis(self.heartbeat_interval_ms);
        c.health = HealthConfig {
            lagging_threshold: Duration::from_millis(self.lagging_threshold_ms),
            disconnect_timeout: Duration::from_millis(self.disconnect_timeout_ms),
        };
        c.replica_buffer_bytes = self.replica_buffer_bytes;
        c.max_replicas = self.max_replicas;
        c.stats_enabled = self.stats_enabled;
        c.node_id.clone_from(&self.node_id);
        c.announce_repl = self.announce_repl.as_ref().map(|a| a.0.clone());
        c.reconnect_min = Duration::from_millis(self.reconnect_min_ms);
        c.reconnect_max = Duration::from_millis(self.reconnect_max_ms);
        c
    }
}
