//! `[cluster]`: automatic failover on the embedded controller (see `docs/FAILOVER.md`).
//!
//! Invariant: cluster mode is on exactly when the section names a `node_id` or lists `nodes`; once
//! [`ClusterSection::validate`] passed, [`ClusterSection::runtime_config`] yields a
//! `ClusterConfig` that `ClusterConfig::validate` accepts (the core check runs here, at start-up,
//! so a 2-node `failover = "auto"` is refused before anything binds), and this node's own `http` and
//! `repl` entries are socket addresses the node can bind when `http.addr` / `replication.addr` are
//! not given.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use vectorizer_core::CoreError;
use vectorizer_core::cluster::{ClusterConfig, ClusterNode, FailoverMode};

use super::values::{self, HostPort, Secret};

/// Priority of a node that does not set one.
pub const DEFAULT_PRIORITY: u32 = 100;

/// `[cluster]` as configured.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSection {
    /// This node's id among `nodes` (required in cluster mode).
    #[serde(deserialize_with = "values::opt_u64")]
    pub node_id: Option<u64>,
    /// `auto` or `manual` (default `manual`).
    pub failover: FailoverSetting,
    #[serde(deserialize_with = "values::opt_u64")]
    pub failover_timeout_ms: Option<u64>,
    /// Secret of the controller's connections; defaults to `replication.auth_secret`.
    #[serde(deserialize_with = "values::opt_secret")]
    pub auth_secret: Option<Secret>,
    #[serde(deserialize_with = "values::opt_u64")]
    pub lease_ms: Option<u64>,
    #[serde(deserialize_with = "opt_f64")]
    pub max_clock_drift: Option<f64>,
    #[serde(deserialize_with = "values::opt_u64")]
    pub raft_heartbeat_ms: Option<u64>,
    #[serde(deserialize_with = "values::opt_u64")]
    pub election_min_ms: Option<u64>,
    #[serde(deserialize_with = "values::opt_u64")]
    pub election_max_ms: Option<u64>,
    /// The controller's voters (`[[cluster.nodes]]`), the same list on every node.
    pub nodes: Vec<NodeEntry>,
}

/// One `[[cluster.nodes]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    #[serde(deserialize_with = "values::u64")]
    pub id: u64,
    #[serde(deserialize_with = "host_port")]
    pub http: HostPort,
    #[serde(deserialize_with = "host_port")]
    pub repl: HostPort,
    #[serde(deserialize_with = "host_port")]
    pub raft: HostPort,
    /// 0 = never promoted.
    #[serde(default = "default_priority", deserialize_with = "u32_value")]
    pub priority: u32,
}

fn default_priority() -> u32 {
    DEFAULT_PRIORITY
}

/// `cluster.failover`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailoverSetting(pub FailoverMode);

impl<'de> Deserialize<'de> for FailoverSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = values::string(d)?;
        match text.as_str() {
            "auto" => Ok(Self(FailoverMode::Auto)),
            "manual" => Ok(Self(FailoverMode::Manual)),
            other => Err(de::Error::custom(format!("expected \"auto\" or \"manual\", got {other:?}"))),
        }
    }
}

impl ClusterSection {
    /// Whether cluster mode is on.
    pub fn is_enabled(&self) -> bool {
        self.node_id.is_some() || !self.nodes.is_empty()
    }

    /// This node's entry (after validation it exists).
    pub fn me(&self) -> Option<&NodeEntry> {
        self.node_id.and_then(|id| self.nodes.iter().find(|n| n.id == id))
    }

    /// Cross-field rules, including the controller's own (`ClusterConfig::validate`).
    /// `replication_secret` is the fallback secret.
    pub fn validate(&self, replication_secret: Option<&Secret>) -> Result<(), (String, String)> {
        if !self.is_enabled() {
            return Ok(());
        }
        if self.node_id.is_none() {
            return Err(("cluster.node_id".into(), "required when [[cluster.nodes]] is set".into()));
        }
        let config = self.runtime_config(replication_secret).map_err(|e| match e {
            CoreError::InvalidArgument { field, message } => (field, message),
            other => ("cluster".to_owned(), other.to_string()),
        })?;
        let me = self.me().ok_or(("cluster.node_id".to_owned(), "not found in [[cluster.nodes]]".to_owned()))?;
        for (key, value) in [("cluster.nodes.http", &me.http), ("cluster.nodes.repl", &me.repl)] {
            if value.0.parse::<SocketAddr>().is_err() {
                return Err((
                    key.to_owned(),
                    format!(
                        "this node's own address must be an ip:port it can bind (or set http.addr / \
                         replication.addr), got {:?}",
                        value.0
                    ),
                ));
            }
        }
        let non_loopback = config.nodes.iter().any(|n| {
            n.raft.parse::<SocketAddr>().map_or(true, |a| !a.ip().is_loopback())
                || n.repl.parse::<SocketAddr>().map_or(true, |a| !a.ip().is_loopback())
        });
        if non_loopback && config.auth_secret.is_none() {
            return Err((
                "cluster.auth_secret".to_owned(),
                "required (or replication.auth_secret) because some node addresses are not loopback: without a \
                 shared secret any host that reaches the ports could join the controller or replicate data"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The controller's configuration (validated by the core rules).
    pub fn runtime_config(&self, replication_secret: Option<&Secret>) -> Result<ClusterConfig, CoreError> {
        let nodes = self
            .nodes
            .iter()
            .map(|n| ClusterNode {
                id: n.id,
                http: n.http.0.clone(),
                repl: n.repl.0.clone(),
                raft: n.raft.0.clone(),
                priority: n.priority,
            })
            .collect();
        let mut c = ClusterConfig::new(self.node_id.unwrap_or(0), nodes);
        c.failover = self.failover.0;
        let ms = Duration::from_millis;
        if let Some(v) = self.failover_timeout_ms {
            c.failover_timeout = ms(v);
        }
        if let Some(v) = self.lease_ms {
            c.lease = ms(v);
        }
        if let Some(v) = self.max_clock_drift {
            c.max_clock_drift = v;
        }
        if let Some(v) = self.raft_heartbeat_ms {
            c.raft_heartbeat = ms(v);
        }
        if let Some(v) = self.election_min_ms {
            c.election_min = ms(v);
        }
        if let Some(v) = self.election_max_ms {
            c.election_max = ms(v);
        }
        c.auth_secret = self.auth_secret.as_ref().or(replication_secret).map(|s| s.expose().to_owned());
        c.validate()?;
        Ok(c)
    }
}

fn host_port<'de, D: Deserializer<'de>>(d: D) -> Result<HostPort, D::Error> {
    let text = values::string(d)?;
    HostPort::parse(&text).map_err(de::Error::custom)
}

fn u32_value<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = values::u64(d)?;
    u32::try_from(v).map_err(|_| de::Error::custom(format!("expected an integer in 0..={}, got {v}", u32::MAX)))
}

/// A float from TOML (float or integer) or from an environment string.
fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct F64Visitor;
    impl Visitor<'_> for F64Visitor {
        type Value = f64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a number such as 0.1")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
            v.trim().parse().map_err(|_| E::custom(format!("expected a number such as 0.1, got {v:?}")))
        }
    }
    d.deserialize_any(F64Visitor).map(Some)
}
