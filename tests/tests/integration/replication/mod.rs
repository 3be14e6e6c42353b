//! Replication across real processes on loopback: one test per scenario of the spec
//! (`/work/shared/spec/replication-spec-delta.md`), named after it, plus sync, fault and failover
//! tests. Short thresholds (heartbeat 200 ms, lagging 300 ms, disconnect 2 s) keep the suite fast;
//! every test ends by checking that data converged (equal `GET /api/v1/admin/digest`).
//!
//! - `stats`: master and replica stats, real-time updates, exact accuracy under load, persistence.
//! - `health`: heartbeats, lagging, dead and disconnected replicas, the replica list, mixed lag.
//! - `sync`: full sync, partial sync after restart, backlog overflow, master restart, corrupted
//!   snapshot chunk, the full cycle with stats at each step.
//! - `faults`: wrong secret, oversized frame, stalled replica with bounded master memory.
//! - `failover`: manual promotion with two replicas, roles swapping with stats tracked.

mod failover;
mod faults;
mod health;
mod stats;
mod sync;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use serde_json::json;
use vectorizer_tests::{Http, Node};

use crate::common::{create_collection, upsert_ok};

/// Collection used by the replication tests.
pub const COLL: &str = "docs";
/// Its dimension.
pub const DIM: usize = 8;

/// The vector of point `i`.
pub fn vector(i: u64) -> Vec<f32> {
    (0..DIM).map(|k| ((i as usize * DIM + k) % 97) as f32 * 0.25 - 6.0).collect()
}

/// Creates [`COLL`] on `node` (one op).
#[track_caller]
pub fn create(node: &Node) {
    create_collection(&node.http(), COLL, DIM as u32, "cosine");
}

/// Upserts points `range` into [`COLL`], one request (= one op) each.
#[track_caller]
pub fn write_points(node: &Node, range: std::ops::Range<u64>) {
    let http = node.http();
    for i in range {
        upsert_ok(&http, COLL, &[(format!("p{i}"), vector(i), Some(json!({"i": i})))]);
    }
}

/// A background writer: upserts one point per request into [`COLL`] until stopped, asserting
/// every acknowledgement; ids start at `first`.
pub struct Writer {
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts writing to `node`.
    pub fn start(node: &Node, first: u64) -> Self {
        Self::start_http(node.http(), first)
    }

    /// Starts writing through `http`.
    pub fn start_http(http: Http, first: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let (s, w) = (Arc::clone(&stop), Arc::clone(&written));
        let thread = std::thread::spawn(move || {
            let mut i = first;
            while !s.load(Ordering::SeqCst) {
                upsert_ok(&http, COLL, &[(format!("p{i}"), vector(i), Some(json!({"i": i})))]);
                w.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
        });
        Self { stop, written, thread: Some(thread) }
    }

    /// Acknowledged writes so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    /// Stops and returns the number of acknowledged writes (panics if a write failed).
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap_or_else(|_| panic!("a background write failed"));
        }
        self.written()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Parses an RFC 3339 timestamp of the API into milliseconds since the Unix epoch.
#[track_caller]
pub fn ts_ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("not an RFC 3339 timestamp: {rfc3339:?}: {e}"))
        .timestamp_millis()
}

/// Milliseconds since the Unix epoch now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
