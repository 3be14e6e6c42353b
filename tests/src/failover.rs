//! Cluster-mode test clusters: N real `vectorizer` processes with a `[cluster]` configuration, and
//! every link between two nodes (controller and replication, each direction) through its own
//! fault [`Proxy`], so that one node can be cut off from the others completely.
//!
//! Node `i`'s configuration lists its own entry with its real addresses (which it binds) and
//! every other node `j` with the addresses of the proxies `i -> j`; HTTP is not proxied (the test
//! itself talks to every node). Node ids are `1..=N`; `nodes[k]` has id `k + 1`.
//!
//! Invariant: every wait is a poll with a deadline, never a fixed sleep; "the master" is a node
//! whose own cluster view says it is the committed master and holds the write lease, and whose
//! replication role is master.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use vectorizer_sdk_types::{ClusterView, ReplicationRole};

use crate::cluster::status;
use crate::node::{Node, NodeOptions, StartFailure};
use crate::poll::poll_until;
use crate::proxy::Proxy;

/// Timings and shape of a test cluster.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub nodes: usize,
    /// `"auto"` or `"manual"`.
    pub failover: &'static str,
    pub failover_timeout_ms: u64,
    pub lease_ms: u64,
    pub raft_heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    /// Priority per node (index = id - 1); missing entries are 100.
    pub priorities: Vec<u32>,
    /// More `VECTORIZER__*` variables for every node.
    pub env: Vec<(String, String)>,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        Self {
            nodes: 3,
            failover: "auto",
            failover_timeout_ms: 4000,
            lease_ms: 2000,
            raft_heartbeat_ms: 150,
            election_min_ms: 700,
            election_max_ms: 1400,
            priorities: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// Real addresses of one node.
#[derive(Debug, Clone, Copy)]
struct Addrs {
    http: SocketAddr,
    repl: SocketAddr,
    raft: SocketAddr,
}

/// The proxies of the directed link `from -> to` (ids).
#[derive(Debug)]
pub struct Link {
    pub from: u64,
    pub to: u64,
    pub raft: Proxy,
    pub repl: Proxy,
}

/// A running cluster-mode cluster.
#[derive(Debug)]
pub struct FailoverCluster {
    pub spec: ClusterSpec,
    /// `nodes[k]` has id `k + 1`; a stopped node stays in the vector.
    pub nodes: Vec<Node>,
    pub links: Vec<Link>,
    _configs: tempfile::TempDir,
}

/// Loopback addresses for the nodes to bind. They must stay free between now and the nodes'
/// start, so they are drawn at random BELOW the kernel's ephemeral range (which `:0` binds — the
/// proxies, other tests' nodes — draw from) and checked bindable; [`FailoverCluster::start`]
/// still retries with new ports if a node finds one taken. A port is handed out at most once per
/// test process: a node killed and restarted by one test must find its port free again, which a
/// second cluster drawing it while the node was down would break.
fn free_addrs(n: usize) -> Vec<SocketAddr> {
    static CLAIMED: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut claimed = CLAIMED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let high = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|p| p.parse::<u64>().ok()))
        .unwrap_or(32768);
    let low = 20_000u64.min(high.saturating_sub(2_000));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut seed = nanos ^ (u64::from(std::process::id()) << 32) | 1;
    let mut held = Vec::new();
    let mut addrs = Vec::new();
    while addrs.len() < n {
        // xorshift64
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let port = u16::try_from(low + seed % (high - low)).expect("port below 65536");
        if claimed.contains(&port) {
            continue;
        }
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            claimed.insert(port);
            addrs.push(l.local_addr().expect("local addr"));
            held.push(l);
        }
    }
    addrs
}

/// Whether a start failure is a port taken meanwhile (then the cluster is built again).
fn port_taken(e: &StartFailure) -> bool {
    match e {
        StartFailure::Exited { stderr, .. } => {
            stderr.contains("Address already in use") || stderr.contains("cannot bind")
        }
        _ => false,
    }
}

impl FailoverCluster {
    /// Writes the configurations and starts every node (each waits for its ready line; the
    /// controller forms in the background). Panics with the node's stderr if one cannot start.
    #[track_caller]
    pub fn start(spec: ClusterSpec) -> FailoverCluster {
        let mut attempt = 1;
        loop {
            match Self::try_start(spec.clone()) {
                Ok(c) => return c,
                Err(e) if attempt < 3 && port_taken(&e) => attempt += 1,
                Err(e) => panic!("{e}"),
            }
        }
    }

    fn try_start(spec: ClusterSpec) -> Result<FailoverCluster, StartFailure> {
        let n = spec.nodes;
        let ports = free_addrs(3 * n);
        let addrs: Vec<Addrs> =
            (0..n).map(|k| Addrs { http: ports[3 * k], repl: ports[3 * k + 1], raft: ports[3 * k + 2] }).collect();
        let mut links = Vec::new();
        for from in 0..n {
            for to in (0..n).filter(|&t| t != from) {
                links.push(Link {
                    from: from as u64 + 1,
                    to: to as u64 + 1,
                    raft: Proxy::start(addrs[to].raft).expect("raft proxy"),
                    repl: Proxy::start(addrs[to].repl).expect("repl proxy"),
                });
            }
        }
        let configs = tempfile::Builder::new().prefix("vectorizer-cluster-").tempdir().expect("config dir");
        let mut cluster = FailoverCluster { spec, nodes: Vec::new(), links, _configs: configs };
        let paths: Vec<PathBuf> = (0..n).map(|k| cluster.write_config(k, &addrs)).collect();
        for (k, path) in paths.iter().enumerate() {
            let mut opts = NodeOptions { http_addr: addrs[k].http.to_string(), ..NodeOptions::default() }
                .args(["--config", path.to_str().expect("utf-8 path"), "--fsync", "os"])
                .env("VECTORIZER__REPLICATION__HEARTBEAT_INTERVAL_MS", "200")
                .env("VECTORIZER__REPLICATION__LAGGING_THRESHOLD_MS", "1000")
                .env("VECTORIZER__REPLICATION__DISCONNECT_TIMEOUT_MS", "2000")
                .env("VECTORIZER__REPLICATION__RECONNECT_MIN_MS", "20")
                .env("VECTORIZER__REPLICATION__RECONNECT_MAX_MS", "250")
                .env("VECTORIZER__INDEX__THREADS", "1");
            for (key, value) in &cluster.spec.env {
                opts = opts.env(key.clone(), value.clone());
            }
            cluster.nodes.push(Node::try_start(opts)?);
        }
        Ok(cluster)
    }

    fn write_config(&self, k: usize, addrs: &[Addrs]) -> PathBuf {
        let s = &self.spec;
        let me = k as u64 + 1;
        let mut text = format!(
            "[cluster]\nnode_id = {me}\nfailover = \"{}\"\nfailover_timeout_ms = {}\nlease_ms = {}\n\
             raft_heartbeat_ms = {}\nelection_min_ms = {}\nelection_max_ms = {}\n",
            s.failover, s.failover_timeout_ms, s.lease_ms, s.raft_heartbeat_ms, s.election_min_ms, s.election_max_ms
        );
        for (j, a) in addrs.iter().enumerate() {
            let id = j as u64 + 1;
            let (repl, raft) = if id == me {
                (a.repl, a.raft)
            } else {
                let link = self.link(me, id);
                (link.repl.addr(), link.raft.addr())
            };
            let priority = s.priorities.get(j).copied().unwrap_or(100);
            let _ = write!(
                text,
                "[[cluster.nodes]]\nid = {id}\nhttp = \"{}\"\nrepl = \"{repl}\"\nraft = \"{raft}\"\npriority = {priority}\n",
                a.http
            );
        }
        let path = self._configs.path().join(format!("node-{me}.toml"));
        std::fs::write(&path, text).expect("write cluster config");
        path
    }

    /// The proxies of `from -> to`.
    pub fn link(&self, from: u64, to: u64) -> &Link {
        self.links.iter().find(|l| l.from == from && l.to == to).expect("link exists")
    }

    /// The node with `id`.
    pub fn node(&self, id: u64) -> &Node {
        &self.nodes[(id - 1) as usize]
    }

    /// The node with `id`, mutably (to kill or restart it).
    pub fn node_mut(&mut self, id: u64) -> &mut Node {
        &mut self.nodes[(id - 1) as usize]
    }

    /// Every id.
    pub fn ids(&self) -> Vec<u64> {
        (1..=self.nodes.len() as u64).collect()
    }

    /// `GET /api/v1/cluster` on `id`.
    #[track_caller]
    pub fn view(&self, id: u64) -> ClusterView {
        let r = self.node(id).http().get("/api/v1/cluster").expect("GET /api/v1/cluster");
        assert_eq!(r.status, 200, "cluster view of node {id}: {}", r.text());
        r.parse()
    }

    /// `view` that tolerates a node that does not answer.
    pub fn try_view(&self, id: u64) -> Option<ClusterView> {
        let r = self.node(id).http().with_timeout(Duration::from_secs(5)).get("/api/v1/cluster").ok()?;
        (r.status == 200).then(|| r.parse())
    }

    /// Whether `id` is a master that accepts writes now (own view + replication role).
    pub fn is_writable_master(&self, id: u64) -> bool {
        let Some(v) = self.try_view(id) else { return false };
        v.master_id == Some(id)
            && v.writes_allowed
            && self
                .node(id)
                .http()
                .get("/api/v1/replication/status")
                .ok()
                .filter(|r| r.status == 200)
                .map(|r| r.parse::<vectorizer_sdk_types::ReplicationStatus>())
                .is_some_and(|st| st.role == ReplicationRole::Master)
    }

    /// Waits (up to `within`) until one of `candidates` is the writable master; returns its id.
    #[track_caller]
    pub fn wait_master_among(&self, candidates: &[u64], within: Duration) -> u64 {
        poll_until(within, "a writable master", || candidates.iter().copied().find(|&id| self.is_writable_master(id)))
    }

    /// Waits until some node is the writable master (first formation: elections + appointment).
    #[track_caller]
    pub fn wait_master(&self) -> u64 {
        self.wait_master_among(&self.ids(), Duration::from_secs(60))
    }

    /// Cuts `id` off from every other node (controller and replication, both directions): new
    /// connections are closed at once and open ones are dropped.
    pub fn isolate(&self, id: u64) {
        for l in self.links.iter().filter(|l| l.from == id || l.to == id) {
            for p in [&l.raft, &l.repl] {
                p.refuse(true);
                p.cut();
            }
        }
    }

    /// Undoes [`FailoverCluster::isolate`].
    pub fn heal(&self, id: u64) {
        for l in self.links.iter().filter(|l| l.from == id || l.to == id) {
            for p in [&l.raft, &l.repl] {
                p.refuse(false);
            }
        }
    }

    /// Cuts only the replication links out of `id` (its replicas stop receiving its writes) while
    /// the controller links stay up, so it keeps its lease.
    pub fn cut_replication_from(&self, id: u64) {
        for l in self.links.iter().filter(|l| l.to == id) {
            l.repl.refuse(true);
            l.repl.cut();
        }
    }

    /// Undoes [`FailoverCluster::cut_replication_from`].
    pub fn heal_replication_from(&self, id: u64) {
        for l in self.links.iter().filter(|l| l.to == id) {
            l.repl.refuse(false);
        }
    }

    /// Replication role of `id` as its status says.
    #[track_caller]
    pub fn role(&self, id: u64) -> ReplicationRole {
        status(self.node(id)).role
    }
}

/// Sends a signal to a running node (SIGSTOP / SIGCONT).
#[track_caller]
pub fn signal(node: &Node, sig: libc::c_int) {
    let pid = node.pid().unwrap_or_else(|| panic!("signal: node is not running"));
    let pid = libc::pid_t::try_from(pid).unwrap_or_else(|_| panic!("pid {pid} out of range"));
    // SAFETY: kill(2) with a pid this process spawned and has not reaped, and a valid signal.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({sig}) failed: {}", std::io::Error::last_os_error());
}
