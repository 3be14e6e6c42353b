//! Snapshot and restart: `POST /api/v1/snapshots` duration and size; SIGTERM then start (recovery
//! from the snapshot the shutdown leaves) and SIGKILL then start (recovery by log replay), each timed
//! to the ready line and to the first successful search.
//!
//! Invariant: restart times are measured by the client from spawning the process (the harness's
//! `Node::restart`) to the ready line on stdout and to the first 2xx search with a full answer, so
//! they include process start, recovery and listener set-up, exactly what an operator waits for.

use std::time::{Duration, Instant};

use vectorizer_sdk_types::SnapshotInfo;
use vectorizer_tests::Node;

use crate::common::api;
use crate::common::keepalive::KeepAlive;

/// One `POST /api/v1/snapshots`.
#[derive(Debug, Clone)]
pub struct SnapshotRun {
    pub secs: f64,
    pub bytes: u64,
    pub points: u64,
}

/// Takes a snapshot now and times the request.
pub fn snapshot(node: &Node) -> SnapshotRun {
    let mut c = KeepAlive::new(node.http_addr());
    let t = Instant::now();
    let (status, body) = c.request("POST", "/api/v1/snapshots", None).expect("snapshot");
    let secs = t.elapsed().as_secs_f64();
    api::check("snapshot", status, &body);
    let info: SnapshotInfo = serde_json::from_slice(&body).expect("snapshot info parses");
    SnapshotRun { secs, bytes: info.bytes, points: info.points }
}

/// One stop + start.
#[derive(Debug, Clone)]
pub struct RestartRun {
    /// SIGTERM (or SIGKILL) until the process exited.
    pub stop_secs: f64,
    /// Spawn until the ready line.
    pub ready_secs: f64,
    /// Spawn until the first successful search returning `k` results.
    pub first_search_secs: f64,
    /// The server's own recovery time from its "recovered" log line, if found.
    pub recovery_ms: Option<u64>,
    /// Log operations replayed at start-up (from the same log line).
    pub replayed_ops: Option<u64>,
    /// Spawn until every vector was linked into the index again (None: not waited for).
    pub indexed_secs: Option<f64>,
    /// `indexed_count` seen by the first successful search's follow-up `GET` (shows whether the graph came back).
    pub indexed_after_ready: u64,
}

/// Stops the node (`crash` = SIGKILL, else SIGTERM) and starts it on the same data directory.
pub fn restart(node: &mut Node, query: &[u8], k: usize, crash: bool, wait_indexed: bool) -> RestartRun {
    let t = Instant::now();
    if crash {
        node.kill9();
    } else {
        let status = node.terminate();
        assert!(status.success(), "node exited with {status} on SIGTERM");
    }
    let stop_secs = t.elapsed().as_secs_f64();
    let spawn = Instant::now();
    node.restart();
    let ready_secs = spawn.elapsed().as_secs_f64();
    let mut c = KeepAlive::new(node.http_addr());
    let deadline = Duration::from_secs(120);
    let first_search_secs = loop {
        if let Ok((200, body)) = c.request("POST", &api::path("/search"), Some(query))
            && api::parse_ids(&body).len() == k
        {
            break spawn.elapsed().as_secs_f64();
        }
        assert!(spawn.elapsed() < deadline, "no successful search within {deadline:?} of the restart");
        std::thread::sleep(Duration::from_millis(1));
    };
    let indexed_after_ready = api::collection_info(&mut c).indexed_count;
    let indexed_secs = wait_indexed.then(|| {
        loop {
            let info = api::collection_info(&mut c);
            if info.indexed_count == info.vector_count {
                break spawn.elapsed().as_secs_f64();
            }
            assert!(spawn.elapsed() < Duration::from_secs(600), "index not rebuilt after 600 s: {info:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let (recovery_ms, replayed_ops) = recovered_line(&node.stderr());
    RestartRun {
        stop_secs,
        ready_secs,
        first_search_secs,
        recovery_ms,
        replayed_ops,
        indexed_secs,
        indexed_after_ready,
    }
}

/// `ms` and `replayed_ops` of the last "recovered" JSON log line in `stderr`.
fn recovered_line(stderr: &str) -> (Option<u64>, Option<u64>) {
    let line = stderr.lines().rev().find(|l| l.contains("\"recovered\""));
    let fields = line.and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok()).map(|v| v["fields"].clone());
    match fields {
        Some(f) => (f["ms"].as_u64(), f["replayed_ops"].as_u64()),
        None => (None, None),
    }
}
