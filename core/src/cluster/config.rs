//! Cluster configuration and its validation.
//!
//! Invariant: a [`ClusterConfig`] that passed [`ClusterConfig::validate`] names this node among
//! its members, has unique ids and addresses, timings the lease arithmetic relies on
//! (`heartbeat < election_min < election_max`, `lease_wait < failover_timeout`), and, in automatic
//! mode, at least 3 voters and 2 promotable nodes. Every error names the configuration key.

use std::collections::HashSet;
use std::time::Duration;

use crate::error::{CoreError, Result};

/// Whether the controller appoints a new master by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailoverMode {
    /// After `failover_timeout` without lease renewals the controller appoints a new master.
    Auto,
    /// The controller only records masters proposed by an operator (and the master at bootstrap).
    #[default]
    Manual,
}

/// One configured node (`[[cluster.nodes]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    /// Stable id, > 0, unique in the cluster.
    pub id: u64,
    /// HTTP (REST) address, `host:port`.
    pub http: String,
    /// Replication address, `host:port`.
    pub repl: String,
    /// Controller (Raft) address, `host:port`; this node binds it, peers dial it.
    pub raft: String,
    /// Promotion priority: higher wins ties; 0 means never promoted.
    pub priority: u32,
}

/// Configuration of the controller; the same on every node except `node_id`.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// This node's id (`cluster.node_id`).
    pub node_id: u64,
    /// `cluster.failover`.
    pub failover: FailoverMode,
    /// How long the master may go without a committed lease renewal before a new one is appointed
    /// (`cluster.failover_timeout_ms`).
    pub failover_timeout: Duration,
    /// The voters of the controller group (`[[cluster.nodes]]`).
    pub nodes: Vec<ClusterNode>,
    /// Shared secret authenticating controller connections (`cluster.auth_secret`); `None` still
    /// checks node ids but proves nothing.
    pub auth_secret: Option<String>,
    /// Master lease (`cluster.lease_ms`): a master accepts writes only within `lease` of the send
    /// time of its last committed renewal.
    pub lease: Duration,
    /// Largest relative clock-rate difference between nodes assumed by the lease arithmetic
    /// (`cluster.max_clock_drift`, e.g. 0.1).
    pub max_clock_drift: f64,
    /// Raft heartbeat interval (`cluster.raft_heartbeat_ms`).
    pub raft_heartbeat: Duration,
    /// Raft election timeout range (`cluster.election_min_ms`, `cluster.election_max_ms`).
    pub election_min: Duration,
    pub election_max: Duration,
}

/// Default `failover_timeout`.
pub const DEFAULT_FAILOVER_TIMEOUT: Duration = Duration::from_millis(10_000);
/// Default `lease`.
pub const DEFAULT_LEASE: Duration = Duration::from_millis(3_000);
/// Default `max_clock_drift`.
pub const DEFAULT_MAX_CLOCK_DRIFT: f64 = 0.1;
/// Default Raft heartbeat.
pub const DEFAULT_RAFT_HEARTBEAT: Duration = Duration::from_millis(150);
/// Default election timeout range.
pub const DEFAULT_ELECTION_MIN: Duration = Duration::from_millis(1_000);
pub const DEFAULT_ELECTION_MAX: Duration = Duration::from_millis(2_000);

impl ClusterConfig {
    /// A configuration with every timing at its default, manual failover and no secret.
    pub fn new(node_id: u64, nodes: Vec<ClusterNode>) -> Self {
        Self {
            node_id,
            failover: FailoverMode::Manual,
            failover_timeout: DEFAULT_FAILOVER_TIMEOUT,
            nodes,
            auth_secret: None,
            lease: DEFAULT_LEASE,
            max_clock_drift: DEFAULT_MAX_CLOCK_DRIFT,
            raft_heartbeat: DEFAULT_RAFT_HEARTBEAT,
            election_min: DEFAULT_ELECTION_MIN,
            election_max: DEFAULT_ELECTION_MAX,
        }
    }

    /// The configured node with this id.
    pub fn node(&self, id: u64) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Number of votes that form a majority of the configured voters.
    pub fn majority(&self) -> usize {
        self.nodes.len() / 2 + 1
    }

    /// Safety margin added to the lease wait: absorbs scheduling delays between the instant a
    /// renewal is applied on the leader and the instant the leader reads it.
    pub fn lease_margin(&self) -> Duration {
        self.raft_heartbeat * 2
    }

    /// How long the controller leader waits after the last lease it granted (or after it became
    /// leader) before a different master may be appointed: `lease * (1 + max_clock_drift) +
    /// margin`. By then the old master's lease has run out on its own clock.
    pub fn lease_wait(&self) -> Duration {
        self.lease.mul_f64(1.0 + self.max_clock_drift) + self.lease_margin()
    }

    /// How often the master asks the controller to renew its lease.
    pub fn renew_interval(&self) -> Duration {
        self.lease / 3
    }

    /// How often every node probes every other node (health, positions).
    pub fn probe_interval(&self) -> Duration {
        (self.raft_heartbeat * 3).max(Duration::from_millis(200))
    }

    /// Checks everything the controller relies on; the error names the key at fault.
    pub fn validate(&self) -> Result<()> {
        if self.nodes.is_empty() {
            return Err(CoreError::invalid("cluster.nodes", "at least one node is required"));
        }
        let mut ids = HashSet::new();
        let mut addrs = HashSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if n.id == 0 {
                return Err(CoreError::invalid(format!("cluster.nodes[{i}].id"), "must be > 0"));
            }
            if !ids.insert(n.id) {
                return Err(CoreError::invalid(format!("cluster.nodes[{i}].id"), format!("id {} appears twice", n.id)));
            }
            for (key, addr) in [("http", &n.http), ("repl", &n.repl), ("raft", &n.raft)] {
                let field = format!("cluster.nodes[{i}].{key}");
                check_host_port(&field, addr)?;
                if !addrs.insert(addr.clone()) {
                    return Err(CoreError::invalid(field, format!("address {addr} is used twice")));
                }
            }
        }
        if !ids.contains(&self.node_id) {
            let mut listed: Vec<u64> = ids.into_iter().collect();
            listed.sort_unstable();
            return Err(CoreError::invalid(
                "cluster.node_id",
                format!("{} is not one of the ids in cluster.nodes {listed:?}", self.node_id),
            ));
        }
        if self.failover == FailoverMode::Auto {
            if self.nodes.len() < 3 {
                return Err(CoreError::invalid(
                    "cluster.nodes",
                    format!(
                        "failover = \"auto\" needs at least 3 nodes (a majority must survive one failure), got {}",
                        self.nodes.len()
                    ),
                ));
            }
            let promotable = self.nodes.iter().filter(|n| n.priority > 0).count();
            if promotable < 2 {
                return Err(CoreError::invalid(
                    "cluster.nodes",
                    format!(
                        "failover = \"auto\" needs at least 2 nodes with priority > 0 (one to replace the \
                         master), got {promotable}"
                    ),
                ));
            }
        }
        if let Some(secret) = &self.auth_secret
            && secret.is_empty()
        {
            return Err(CoreError::invalid("cluster.auth_secret", "must not be empty when set"));
        }
        if !(0.0..1.0).contains(&self.max_clock_drift) {
            return Err(CoreError::invalid(
                "cluster.max_clock_drift",
                format!("must be in [0, 1), got {}", self.max_clock_drift),
            ));
        }
        if self.raft_heartbeat < Duration::from_millis(10) {
            return Err(CoreError::invalid(
                "cluster.raft_heartbeat_ms",
                format!("must be at least 10, got {}", self.raft_heartbeat.as_millis()),
            ));
        }
        if self.election_min <= self.raft_heartbeat {
            return Err(CoreError::invalid(
                "cluster.election_min_ms",
                format!(
                    "must exceed cluster.raft_heartbeat_ms ({} <= {})",
                    self.election_min.as_millis(),
                    self.raft_heartbeat.as_millis()
                ),
            ));
        }
        if self.election_max <= self.election_min {
            return Err(CoreError::invalid(
                "cluster.election_max_ms",
                format!(
                    "must exceed cluster.election_min_ms ({} <= {})",
                    self.election_max.as_millis(),
                    self.election_min.as_millis()
                ),
            ));
        }
        if self.lease < self.raft_heartbeat * 3 {
            return Err(CoreError::invalid(
                "cluster.lease_ms",
                format!(
                    "must be at least 3 heartbeats ({} ms), got {}",
                    (self.raft_heartbeat * 3).as_millis(),
                    self.lease.as_millis()
                ),
            ));
        }
        if self.lease_wait() >= self.failover_timeout {
            return Err(CoreError::invalid(
                "cluster.lease_ms",
                format!(
                    "lease x (1 + max_clock_drift) + margin = {} ms must be below cluster.failover_timeout_ms ({})",
                    self.lease_wait().as_millis(),
                    self.failover_timeout.as_millis()
                ),
            ));
        }
        Ok(())
    }
}

/// `host:port` with a non-empty host and a port in 1..=65535.
fn check_host_port(field: &str, addr: &str) -> Result<()> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(CoreError::invalid(field, format!("expected host:port, got {addr:?}")));
    };
    if host.is_empty() {
        return Err(CoreError::invalid(field, format!("expected host:port, got {addr:?}")));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(CoreError::invalid(field, format!("expected host:port with a port in 1..=65535, got {addr:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: u64) -> Vec<ClusterNode> {
        (1..=n)
            .map(|i| ClusterNode {
                id: i,
                http: format!("127.0.0.1:{}", 15000 + i),
                repl: format!("127.0.0.1:{}", 16000 + i),
                raft: format!("127.0.0.1:{}", 17000 + i),
                priority: 1,
            })
            .collect()
    }

    fn message(cfg: &ClusterConfig) -> String {
        cfg.validate().expect_err("invalid").to_string()
    }

    #[test]
    fn defaults_are_valid_for_three_nodes_in_auto_mode() {
        let mut cfg = ClusterConfig::new(2, nodes(3));
        cfg.failover = FailoverMode::Auto;
        cfg.validate().expect("valid");
        assert_eq!(cfg.majority(), 2);
        assert!(cfg.lease_wait() > cfg.lease);
    }

    #[test]
    fn two_node_auto_is_refused_with_the_reason() {
        let mut cfg = ClusterConfig::new(1, nodes(2));
        cfg.failover = FailoverMode::Auto;
        assert_eq!(
            message(&cfg),
            "cluster.nodes: failover = \"auto\" needs at least 3 nodes (a majority must survive one failure), got 2"
        );
        cfg.failover = FailoverMode::Manual;
        cfg.validate().expect("manual with 2 nodes is allowed");
    }

    #[test]
    fn each_mistake_names_its_key() {
        let mut cfg = ClusterConfig::new(9, nodes(3));
        assert!(message(&cfg).starts_with("cluster.node_id: 9 is not one of the ids"), "{}", message(&cfg));
        cfg.node_id = 1;
        cfg.nodes[1].id = 1;
        assert!(message(&cfg).starts_with("cluster.nodes[1].id: id 1 appears twice"));
        cfg.nodes = nodes(3);
        cfg.nodes[2].raft = cfg.nodes[0].raft.clone();
        assert!(message(&cfg).starts_with("cluster.nodes[2].raft: address"));
        cfg.nodes = nodes(3);
        cfg.nodes[0].http = "nohost".into();
        assert!(message(&cfg).starts_with("cluster.nodes[0].http: expected host:port"));
        cfg.nodes = nodes(3);
        cfg.failover = FailoverMode::Auto;
        for n in cfg.nodes.iter_mut().skip(1) {
            n.priority = 0;
        }
        assert!(message(&cfg).contains("at least 2 nodes with priority > 0"), "{}", message(&cfg));
        cfg.nodes = nodes(3);
        cfg.lease = Duration::from_secs(10);
        assert!(message(&cfg).starts_with("cluster.lease_ms: lease x (1 + max_clock_drift)"));
        cfg.lease = DEFAULT_LEASE;
        cfg.election_max = cfg.election_min;
        assert!(message(&cfg).starts_with("cluster.election_max_ms"));
        cfg.election_max = DEFAULT_ELECTION_MAX;
        cfg.max_clock_drift = 1.5;
        assert!(message(&cfg).starts_with("cluster.max_clock_drift"));
        cfg.max_clock_drift = 0.1;
        cfg.auth_secret = Some(String::new());
        assert!(message(&cfg).starts_with("cluster.auth_secret"));
    }
}
