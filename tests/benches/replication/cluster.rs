//! Starting benchmark clusters (a master and replicas with product defaults on loopback) and the
//! cheap status reads the measurements poll.
//!
//! Invariant: nodes run with the product's default replication settings (heartbeats, thresholds,
//! backlog) except what a measurement states: `stats_enabled`, the fsync policy and the data (and,
//! for experiments, the pairs of `BENCH_NODE_ENV`). A replica counts as "attached" only when a
//! write made on the master is readable on it.

use std::time::{Duration, Instant};

use vectorizer_core::model::Metric;
use vectorizer_sdk_types::{ReplicaListResponse, ReplicationStatus};
use vectorizer_tests::{Node, NodeOptions};

use crate::common::api;
use crate::common::keepalive::KeepAlive;
use crate::common::priority;

/// Dimension of every vector in this benchmark.
pub const DIM: usize = 128;

/// How a cluster's nodes are configured.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub stats_enabled: bool,
    pub fsync: &'static str,
    /// Extra `VECTORIZER__*` variables for the master only.
    pub master_env: &'static [(&'static str, &'static str)],
}

impl Setup {
    fn options(self) -> NodeOptions {
        let opts = NodeOptions::default()
            .args(["--repl-addr", "127.0.0.1:0", "--fsync", self.fsync, "--log-format", "json"])
            .env("VECTORIZER__REPLICATION__STATS_ENABLED", self.stats_enabled.to_string());
        crate::common::with_node_env(opts)
    }

    /// Starts a master and creates the benchmark collection on it.
    pub fn master(self) -> Node {
        let mut opts = self.options();
        for (k, v) in self.master_env {
            opts = opts.env(*k, *v);
        }
        let node = Node::start(opts);
        priority::renice(node.pid().expect("master runs"));
        api::create_collection(&mut KeepAlive::new(node.http_addr()), DIM, Metric::Cosine);
        node
    }

    /// Starts a replica of `master` (returns when its ready line was printed, not when it synced).
    pub fn replica(self, master: &Node) -> Node {
        let node = Node::start(self.options().args(["--replica-of".to_owned(), master.repl_addr().to_string()]));
        priority::renice(node.pid().expect("replica runs"));
        node
    }
}

/// Waits until a fresh write on `master` is readable on every replica (the links are up and streaming).
pub fn wait_attached(master: &Node, replicas: &[&Node], marker: &str) {
    let body = crate::load::OpBodies::new(1, 99).body(marker, 0);
    api::upsert(&mut KeepAlive::new(master.http_addr()), &body);
    let path = api::path(&format!("/vectors/{marker}0"));
    let deadline = Instant::now() + Duration::from_secs(120);
    for r in replicas {
        let mut c = KeepAlive::new(r.http_addr());
        while !matches!(c.get(&path), Ok((200, _))) {
            assert!(Instant::now() < deadline, "replica did not receive the marker write within 120 s");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// `GET /api/v1/replication/status`.
pub fn status(c: &mut KeepAlive) -> ReplicationStatus {
    let (status, body) = c.get("/api/v1/replication/status").expect("replication status");
    api::check("replication status", status, &body);
    serde_json::from_slice(&body).expect("replication status parses")
}

/// `GET /api/v1/replication/replicas`.
pub fn replicas(c: &mut KeepAlive) -> ReplicaListResponse {
    let (status, body) = c.get("/api/v1/replication/replicas").expect("replica list");
    api::check("replica list", status, &body);
    serde_json::from_slice(&body).expect("replica list parses")
}
