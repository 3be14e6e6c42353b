//! Full resync: a master holding `n` x 128-d vectors (fully indexed) and a brand-new replica (empty
//! data directory); time from spawning the replica until it serves searches over all `n` vectors.
//!
//! Invariant: "serves searches" = a search on the replica answers 200 with k results AND its
//! `GET /collections/{name}` reports `vector_count == n`; the replica's counters must show exactly one
//! full sync, so the number is never a partial sync in disguise.

use std::time::{Duration, Instant};

use vectorizer_tests::Node;

use crate::cluster::{self, Setup};
use crate::common::api;
use crate::common::keepalive::KeepAlive;

/// One fresh replica's full sync.
#[derive(Debug, Clone)]
pub struct ResyncRun {
    /// Spawn -> ready line.
    pub ready_secs: f64,
    /// Spawn -> first full search with every vector present.
    pub serving_secs: f64,
    /// Spawn -> `indexed_count == vector_count` on the replica.
    pub indexed_secs: f64,
    /// `indexed_count` when it first served.
    pub indexed_at_serving: u64,
    /// From the replica's log: "full sync: receiving" -> "snapshot received and verified" (transfer + verify).
    pub receive_ms: Option<f64>,
    /// From the replica's log: "snapshot received and verified" -> serving (install: decode + swap).
    pub install_ms: Option<f64>,
    /// Spawn -> the replica's stats count the sync as complete (None: not within `STATS_WAIT`).
    pub stats_complete_secs: Option<f64>,
    pub full_syncs: Option<u64>,
    pub partial_syncs: Option<u64>,
    pub snapshot_size: Option<u64>,
    pub bytes_received: Option<u64>,
}

/// How long after spawning the replica's sync counters are watched.
const STATS_WAIT: Duration = Duration::from_secs(30);

/// Master settings that let a snapshot compact the log: 1 MiB segments and no backlog beyond the
/// newest snapshot, so a new replica (offset 0) can only be served by a full sync.
pub const COMPACTING_MASTER: &[(&str, &str)] = &[
    ("VECTORIZER__STORAGE__SEGMENT_BYTES", "1048576"),
    ("VECTORIZER__REPLICATION__BACKLOG_BYTES", "0"),
    ("VECTORIZER__REPLICATION__BACKLOG_SECS", "0"),
];

/// `POST /api/v1/snapshots` on `master` (covers everything written so far; retention runs after it).
pub fn snapshot(master: &Node) {
    let (status, body) =
        KeepAlive::new(master.http_addr()).request("POST", "/api/v1/snapshots", None).expect("snapshot");
    api::check("snapshot", status, &body);
}

/// Starts a fresh replica of `master` and times it until it serves searches over `n` vectors.
pub fn one(setup: Setup, master: &Node, n: u64, query: &[u8], k: usize) -> ResyncRun {
    let spawn = Instant::now();
    let replica = setup.replica(master);
    let ready_secs = spawn.elapsed().as_secs_f64();
    let mut c = KeepAlive::new(replica.http_addr());
    let deadline = Duration::from_secs(300);
    let (serving_secs, indexed_at_serving, serving_wall) = loop {
        if let Ok((200, body)) = c.request("POST", &api::path("/search"), Some(query))
            && api::parse_ids(&body).len() == k
        {
            let info = api::collection_info(&mut c);
            if info.vector_count == n {
                break (spawn.elapsed().as_secs_f64(), info.indexed_count, std::time::SystemTime::now());
            }
        }
        assert!(spawn.elapsed() < deadline, "replica not serving {n} vectors within {deadline:?}");
        std::thread::sleep(Duration::from_millis(1));
    };
    // After serving: watch the index and the replica's own sync counters together.
    let (mut indexed_secs, mut stats_complete_secs, mut stats) = (None, None, None);
    while indexed_secs.is_none() || (stats_complete_secs.is_none() && spawn.elapsed() < STATS_WAIT) {
        let now = spawn.elapsed().as_secs_f64();
        if indexed_secs.is_none() {
            let info = api::collection_info(&mut c);
            if info.indexed_count == info.vector_count {
                indexed_secs = Some(now);
            }
            assert!(spawn.elapsed() < deadline, "replica index not complete within {deadline:?}: {info:?}");
        }
        let s = cluster::status(&mut c).stats;
        if stats_complete_secs.is_none()
            && s.as_ref().is_some_and(|s| s.full_syncs.unwrap_or(0) + s.partial_syncs.unwrap_or(0) > 0)
        {
            stats_complete_secs = Some(now);
        }
        stats = s;
        std::thread::sleep(Duration::from_millis(5));
    }
    let indexed_secs = indexed_secs.unwrap_or(f64::NAN);
    let log = replica.stderr();
    let started = log_time(&log, "full sync: receiving");
    let received = log_time(&log, "snapshot received and verified");
    let serving_ms = serving_wall.duration_since(std::time::UNIX_EPOCH).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    ResyncRun {
        receive_ms: started.zip(received).map(|(a, b)| b - a),
        install_ms: received.map(|r| serving_ms - r),
        stats_complete_secs,
        ready_secs,
        serving_secs,
        indexed_secs,
        indexed_at_serving,
        full_syncs: stats.as_ref().and_then(|s| s.full_syncs),
        partial_syncs: stats.as_ref().and_then(|s| s.partial_syncs),
        snapshot_size: stats.as_ref().map(|s| s.snapshot_size),
        bytes_received: stats.as_ref().map(|s| s.bytes_received),
    }
}

/// Loads `n` clustered vectors into `master` (8 clients, batches of 100) and waits until all are linked.
pub fn fill(master: &Node, n: usize) {
    let data = vectorizer_core::testdata::GaussianMixture::standard(cluster::DIM, 1).sample(n, 2);
    let bodies = api::upsert_bodies(&data, 100, 0);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let mut c = KeepAlive::new(master.http_addr());
                while let Some(body) = bodies.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                    api::upsert(&mut c, body);
                }
            });
        }
    });
    let mut c = KeepAlive::new(master.http_addr());
    let start = Instant::now();
    loop {
        let info = api::collection_info(&mut c);
        if info.indexed_count == info.vector_count && info.vector_count == n as u64 {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(600), "master index not complete after 600 s: {info:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wall-clock time (ms since the Unix epoch) of the first JSON log line whose message contains `needle`.
fn log_time(stderr: &str, needle: &str) -> Option<f64> {
    stderr.lines().filter(|l| l.contains(needle)).find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        let ts = chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str()?).ok()?;
        Some(ts.timestamp_micros() as f64 / 1000.0)
    })
}
