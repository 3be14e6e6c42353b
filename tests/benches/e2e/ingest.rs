//! Ingest: `clients` concurrent keep-alive HTTP clients PUT pre-encoded batches until the data set is
//! acknowledged, then the index is watched until it has linked every vector.
//!
//! Invariant: "acknowledged" means the server answered 2xx (after its fsync policy was met);
//! "indexed" means `GET /collections/{name}` reported `indexed_count == vector_count == n`. Both are
//! timed from the moment the first batch is sent, so indexed time includes ingest time.

use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use vectorizer_tests::Node;

use crate::common::api;
use crate::common::keepalive::KeepAlive;
use crate::common::measure::{percentile, process_cpu, process_rss, self_cpu, threads_cpu};
use crate::common::profile::Profiler;

/// Name prefix of the engine's HNSW linking threads.
const LINKER_THREADS: &str = "vz-linker";

/// How long indexing may take before the benchmark gives up.
const INDEX_DEADLINE: Duration = Duration::from_secs(600);

/// One ingest run.
#[derive(Debug, Clone)]
pub struct IngestRun {
    pub acked_per_s: f64,
    pub ack_secs: f64,
    pub indexed_secs: f64,
    pub indexed_per_s: f64,
    /// Linked vectors when the last batch was acknowledged.
    pub indexed_at_ack: u64,
    pub batch_p50_ms: f64,
    pub batch_p99_ms: f64,
    /// Server CPU seconds from the first send until the last acknowledgement.
    pub server_cpu_ack_secs: f64,
    /// Of which in the HNSW linker threads (`vz-linker-*`).
    pub linker_cpu_ack_secs: f64,
    /// Server CPU seconds from the first send until everything was indexed.
    pub server_cpu_secs: f64,
    /// Benchmark process CPU seconds (the clients) during the acknowledged phase.
    pub client_cpu_ack_secs: f64,
    /// Server resident memory after indexing, bytes.
    pub server_rss: Option<u64>,
    /// TCP connections opened by all clients (== clients when keep-alive held).
    pub connects: u64,
    /// Read-your-writes check right after the last acknowledgement: (found, checked).
    pub visible: Option<(usize, usize)>,
}

/// Sends `bodies` (batches of the data set, `n` vectors in total) from `clients` threads.
/// With `check = Some(data)`, searches for the last acknowledged vectors before indexing finishes.
/// With `wait_indexed == false` the indexed fields are NaN (acknowledged rate only).
pub fn run(
    label: &str,
    node: &Node,
    bodies: &[Vec<u8>],
    n: usize,
    clients: usize,
    check: Option<&[Vec<f32>]>,
    wait_indexed: bool,
) -> IngestRun {
    let addr = node.http_addr();
    let pid = node.pid().expect("node runs");
    let next = AtomicUsize::new(0);
    let start = Barrier::new(clients + 1);
    let cpu0 = process_cpu(pid);
    let linker0 = threads_cpu(pid, LINKER_THREADS);
    let self0 = self_cpu();
    let profiler = Profiler::start(pid, &format!("ingest-ack-{label}"));
    let (t0, per_client) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                let (next, start) = (&next, &start);
                s.spawn(move || {
                    let mut c = KeepAlive::new(addr);
                    let (status, body) = c.get("/health").expect("health");
                    api::check("health", status, &body);
                    start.wait();
                    let mut latencies = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(batch) = bodies.get(i) else { break };
                        let t = Instant::now();
                        api::upsert(&mut c, batch);
                        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    (latencies, c.connects())
                })
            })
            .collect();
        start.wait();
        let t0 = Instant::now();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().expect("ingest client")).collect();
        (t0, results)
    });
    let ack = t0.elapsed();
    let cpu_ack = process_cpu(pid);
    let linker_ack = threads_cpu(pid, LINKER_THREADS);
    if let Some(p) = profiler {
        p.stop();
    }
    let client_cpu_ack_secs = (self_cpu() - self0).as_secs_f64();
    let mut watcher = KeepAlive::new(addr);
    let at_ack = api::collection_info(&mut watcher);
    assert_eq!(at_ack.vector_count, n as u64, "every acknowledged vector is counted");
    let visible = check.map(|data| visibility(&mut watcher, data));
    let profiler = if wait_indexed { Profiler::start(pid, &format!("ingest-index-{label}")) } else { None };
    let indexed = wait_indexed.then(|| {
        loop {
            let info = api::collection_info(&mut watcher);
            if info.indexed_count == info.vector_count {
                break t0.elapsed().as_secs_f64();
            }
            assert!(t0.elapsed() < INDEX_DEADLINE, "index not complete after {INDEX_DEADLINE:?}: {info:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    if let Some(p) = profiler {
        p.stop();
    }
    let indexed = indexed.unwrap_or(f64::NAN);
    let cpu1 = process_cpu(pid);
    let cpu_secs = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => f64::NAN,
    };
    let latencies: Vec<f64> = per_client.iter().flat_map(|(l, _)| l.iter().copied()).collect();
    IngestRun {
        acked_per_s: n as f64 / ack.as_secs_f64(),
        ack_secs: ack.as_secs_f64(),
        indexed_secs: indexed,
        indexed_per_s: n as f64 / indexed,
        indexed_at_ack: at_ack.indexed_count,
        batch_p50_ms: percentile(&latencies, 50.0),
        batch_p99_ms: percentile(&latencies, 99.0),
        server_cpu_ack_secs: cpu_secs(cpu0, cpu_ack),
        linker_cpu_ack_secs: cpu_secs(linker0, linker_ack),
        server_cpu_secs: if wait_indexed { cpu_secs(cpu0, cpu1) } else { f64::NAN },
        client_cpu_ack_secs,
        server_rss: process_rss(pid),
        connects: per_client.iter().map(|(_, c)| c).sum(),
        visible,
    }
}

/// Number of most recent vectors the read-your-writes check searches for.
const VISIBILITY_SAMPLE: usize = 50;

/// Searches (top 10, default ef) for each of the last acknowledged vectors; counts those found.
fn visibility(c: &mut KeepAlive, data: &[Vec<f32>]) -> (usize, usize) {
    let first = data.len().saturating_sub(VISIBILITY_SAMPLE);
    let found = (first..data.len())
        .filter(|&i| {
            let ids = api::search(c, &api::search_body(&data[i], 10, None));
            ids.contains(&u32::try_from(i).expect("index fits u32"))
        })
        .count();
    (found, data.len() - first)
}
