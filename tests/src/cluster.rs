//! Replication clusters of real processes: a master and replicas on loopback (each replica
//! optionally behind a fault [`Proxy`]), typed reads of their replication status, convergence
//! waits on content digests, and process memory.
//!
//! Invariant: every wait is a poll with a deadline (never a fixed sleep), and "caught up" /
//! "converged" always means equal `GET /api/v1/admin/digest` answers (same applied offset AND same
//! content per collection), never just a status code.

use std::net::SocketAddr;
use std::time::Duration;

use vectorizer_sdk_types::{DigestResponse, ReplicaInfo, ReplicaListResponse, ReplicationStatus};

use crate::node::{Node, NodeOptions};
use crate::poll::poll_until;
use crate::proxy::Proxy;

/// Default deadline of cluster waits (generous: the machine is shared and loaded).
pub const WAIT: Duration = Duration::from_secs(60);

/// Replication settings shared by every node of a test cluster (short thresholds by default).
#[derive(Debug, Clone)]
pub struct ReplSettings {
    pub heartbeat_ms: u64,
    pub lagging_ms: u64,
    pub disconnect_ms: u64,
    /// More `VECTORIZER__*` variables (e.g. a secret, a tiny backlog).
    pub env: Vec<(String, String)>,
}

impl Default for ReplSettings {
    fn default() -> Self {
        Self { heartbeat_ms: 200, lagging_ms: 300, disconnect_ms: 2000, env: Vec::new() }
    }
}

impl ReplSettings {
    /// Adds `VECTORIZER__SECTION__KEY=value` for every node started with these settings.
    pub fn env(mut self, key: &str, value: impl ToString) -> Self {
        self.env.push((key.to_owned(), value.to_string()));
        self
    }

    /// Node options for these settings (`--repl-addr 127.0.0.1:0`, fsync `os` for speed: these
    /// tests stop nodes with SIGTERM or SIGKILL, never the machine, so the page cache survives).
    pub fn options(&self) -> NodeOptions {
        let mut opts = NodeOptions::default()
            .args(["--repl-addr", "127.0.0.1:0", "--fsync", "os"])
            .env("VECTORIZER__REPLICATION__HEARTBEAT_INTERVAL_MS", self.heartbeat_ms.to_string())
            .env("VECTORIZER__REPLICATION__LAGGING_THRESHOLD_MS", self.lagging_ms.to_string())
            .env("VECTORIZER__REPLICATION__DISCONNECT_TIMEOUT_MS", self.disconnect_ms.to_string())
            .env("VECTORIZER__REPLICATION__RECONNECT_MIN_MS", "20")
            .env("VECTORIZER__REPLICATION__RECONNECT_MAX_MS", "250")
            .env("VECTORIZER__INDEX__THREADS", "1");
        for (k, v) in &self.env {
            opts = opts.env(k.clone(), v.clone());
        }
        opts
    }

    /// Starts a master.
    #[track_caller]
    pub fn master(&self) -> Node {
        Node::start(self.options())
    }

    /// Starts a replica following `master` (a replication address: the master's or a proxy's).
    #[track_caller]
    pub fn replica(&self, master: SocketAddr) -> Node {
        Node::start(self.options().args(["--replica-of".to_owned(), master.to_string()]))
    }

    /// Starts a replica of `master` (a node) through a new proxy.
    #[track_caller]
    pub fn replica_via_proxy(&self, master: &Node) -> ProxiedReplica {
        let proxy = Proxy::start(master.repl_addr()).unwrap_or_else(|e| panic!("proxy: {e}"));
        let node = self.replica(proxy.addr());
        ProxiedReplica { node, proxy }
    }
}

impl ReplSettings {
    /// Starts `n` replicas following `master` directly.
    #[track_caller]
    pub fn replicas(&self, master: &Node, n: usize) -> Vec<Node> {
        (0..n).map(|_| self.replica(master.repl_addr())).collect()
    }

    /// Starts `n` replicas of `master`, each behind its own proxy.
    #[track_caller]
    pub fn replicas_via_proxy(&self, master: &Node, n: usize) -> Vec<ProxiedReplica> {
        (0..n).map(|_| self.replica_via_proxy(master)).collect()
    }
}

/// A replica whose link to the master goes through a proxy.
#[derive(Debug)]
pub struct ProxiedReplica {
    pub node: Node,
    pub proxy: Proxy,
}

/// `GET /api/v1/replication/status`.
#[track_caller]
pub fn status(node: &Node) -> ReplicationStatus {
    let r = node.http().get("/api/v1/replication/status").unwrap_or_else(|e| panic!("status: {e}"));
    assert_eq!(r.status, 200, "status: {}", r.text());
    r.parse()
}

/// `GET /api/v1/replication/replicas`.
#[track_caller]
pub fn replicas(node: &Node) -> Vec<ReplicaInfo> {
    let r = node.http().get("/api/v1/replication/replicas").unwrap_or_else(|e| panic!("replicas: {e}"));
    assert_eq!(r.status, 200, "replicas: {}", r.text());
    r.parse::<ReplicaListResponse>().replicas
}

/// The replica with id `id` in the master's list, if listed.
pub fn replica_info(master: &Node, id: &str) -> Option<ReplicaInfo> {
    replicas(master).into_iter().find(|r| r.id == id)
}

/// `GET /api/v1/admin/digest`.
#[track_caller]
pub fn digest(node: &Node) -> DigestResponse {
    let r = node.http().get("/api/v1/admin/digest").unwrap_or_else(|e| panic!("digest: {e}"));
    assert_eq!(r.status, 200, "digest: {}", r.text());
    r.parse()
}

/// Waits until `replica`'s digest equals `master`'s (applied offset and content); returns it.
/// Call when the master is quiescent (no writes in flight).
#[track_caller]
pub fn wait_caught_up(master: &Node, replica: &Node) -> DigestResponse {
    wait_converged(master, &[replica])
}

/// Waits until every replica's digest equals the master's; returns the common digest.
#[track_caller]
pub fn wait_converged(master: &Node, replicas: &[&Node]) -> DigestResponse {
    let mut last = Vec::new();
    let found = crate::poll::try_poll_until(WAIT, || {
        let want = digest(master);
        last = replicas.iter().map(|r| digest(r)).collect();
        last.iter().all(|d| *d == want).then_some(want)
    });
    found.unwrap_or_else(|| {
        panic!(
            "replicas did not converge within {WAIT:?}: master {:?}, replicas {last:?}",
            digest(master).applied_offset
        )
    })
}

/// Waits until `check(status(node))` returns `Some`.
#[track_caller]
pub fn wait_status<T>(node: &Node, what: &str, mut check: impl FnMut(&ReplicationStatus) -> Option<T>) -> T {
    let mut seen = None;
    let found = crate::poll::try_poll_until(WAIT, || {
        let s = status(node);
        let r = check(&s);
        seen = Some(s);
        r
    });
    found.unwrap_or_else(|| panic!("timed out after {WAIT:?} waiting for: {what}; last status: {seen:#?}"))
}

/// Resident set size of process `pid` in bytes (`VmRSS` of `/proc/<pid>/status`).
#[track_caller]
pub fn rss_bytes(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_else(|e| panic!("/proc/{pid}: {e}"));
    let kib = text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"));
    kib * 1024
}

/// Number of lines of `node`'s stderr (all starts) containing every one of `needles`.
pub fn stderr_lines(node: &Node, needles: &[&str]) -> usize {
    node.stderr().lines().filter(|l| needles.iter().all(|n| l.contains(n))).count()
}

/// Waits until `node`'s stderr has a line containing every one of `needles`.
#[track_caller]
pub fn wait_stderr(node: &Node, needles: &[&str]) {
    poll_until(WAIT, &format!("a stderr line with {needles:?}"), || (stderr_lines(node, needles) > 0).then_some(()));
}
