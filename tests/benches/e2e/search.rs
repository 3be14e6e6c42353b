//! Search: ONE client, one keep-alive connection, sequential requests (each waits for the previous
//! answer), so QPS = 1 / round-trip time over HTTP, JSON included.
//!
//! Invariant: recall@k is computed from the answers of the timed passes themselves against exact
//! ground truth; QPS is the median over passes of (queries / wall time of the pass).

use std::time::Instant;

use vectorizer_core::testdata::mean_recall;
use vectorizer_tests::Node;

use crate::common::api;
use crate::common::keepalive::KeepAlive;
use crate::common::measure::{median, percentile, process_cpu};
use crate::common::profile::Profiler;
use crate::data::DataSet;

/// One ef setting measured over several passes.
#[derive(Debug, Clone)]
pub struct SearchRun {
    pub ef: Option<u32>,
    pub qps: Vec<f64>,
    pub recall: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Server CPU microseconds per query (all passes).
    pub server_cpu_us: f64,
    pub connects: u64,
}

impl SearchRun {
    /// Median QPS over the passes.
    pub fn qps_median(&self) -> f64 {
        median(&self.qps)
    }
}

/// Queries `set.queries` with `ef` (`None` = the collection default), `passes` times after a warm-up.
pub fn run(node: &Node, set: &DataSet, k: usize, ef: Option<u32>, passes: usize) -> SearchRun {
    let bodies: Vec<Vec<u8>> = set.queries.iter().map(|q| api::search_body(q, k, ef)).collect();
    let mut c = KeepAlive::new(node.http_addr());
    let pid = node.pid().expect("node runs");
    for body in bodies.iter().take(200) {
        api::search(&mut c, body);
    }
    let profiler =
        Profiler::start(pid, &format!("search-{}-ef{}", set.name, ef.map_or("default".into(), |e| e.to_string())));
    let cpu0 = process_cpu(pid);
    let mut qps = Vec::with_capacity(passes);
    let mut latencies = Vec::with_capacity(passes * bodies.len());
    let mut recalls = Vec::with_capacity(passes);
    for _ in 0..passes {
        let mut answers = Vec::with_capacity(bodies.len());
        let t0 = Instant::now();
        for body in &bodies {
            let t = Instant::now();
            answers.push(api::search(&mut c, body));
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        qps.push(bodies.len() as f64 / t0.elapsed().as_secs_f64());
        recalls.push(mean_recall(&set.truth, &answers));
    }
    let cpu1 = process_cpu(pid);
    if let Some(p) = profiler {
        p.stop();
    }
    let queries = (passes * bodies.len()) as f64;
    SearchRun {
        ef,
        qps,
        recall: median(&recalls),
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        server_cpu_us: match (cpu0, cpu1) {
            (Some(a), Some(b)) => (b - a).as_secs_f64() * 1e6 / queries,
            _ => f64::NAN,
        },
        connects: c.connects(),
    }
}

/// The HTTP floor: `GET /health` from one keep-alive client, sequential, `passes` x 1000 requests
/// (QPS per pass). No engine work, so this is the round trip a search can never beat here.
pub fn http_floor(node: &Node, passes: usize) -> Vec<f64> {
    const REQUESTS: usize = 1_000;
    let mut c = KeepAlive::new(node.http_addr());
    for _ in 0..100 {
        let (status, body) = c.get("/health").expect("health");
        api::check("health", status, &body);
    }
    (0..passes)
        .map(|_| {
            let t0 = Instant::now();
            for _ in 0..REQUESTS {
                let (status, body) = c.get("/health").expect("health");
                api::check("health", status, &body);
            }
            REQUESTS as f64 / t0.elapsed().as_secs_f64()
        })
        .collect()
}
