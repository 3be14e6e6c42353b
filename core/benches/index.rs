//! Vector index benchmark: build throughput, search QPS and recall, serialisation.
//!
//! Run with
//! `cargo bench -p vectorizer-core --bench index [-- N [clustered|uniform] [efc=E[,E2,...]] [builds=R] [build-only]]`
//! (default: 100000 vectors, both data sets, the default `ef_construction`, one build). Prints a
//! table; there are no pass/fail thresholds. `builds=R` builds the index R times and prints each
//! build's CPU cost and the median (for A/B comparisons on a noisy machine); `build-only` skips
//! search and serialisation. Several `ef_construction` values (`efc=100,80,64`) are compared in one
//! run: builds alternate between them (round 1 in the given order, round 2 reversed, ...), and the
//! search table runs every value at each `ef` before moving to the next `ef`.
//!
//! Machines are shared, so next to wall-clock rates the table shows CPU-time rates (work done per
//! CPU-second actually received: process CPU time for the multi-threaded build, thread CPU time
//! for single-threaded search). On an idle machine the two agree.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use vectorizer_core::index::VectorIndex;
use vectorizer_core::model::{DEFAULT_EF_CONSTRUCTION, DEFAULT_EF_SEARCH, DEFAULT_M, HnswParams, Metric};
use vectorizer_core::testdata::{GaussianMixture, mean_recall, uniform};

const DIM: usize = 128;
const QUERIES: usize = 1_000;
const K: usize = 10;
const LINK_THREADS: usize = 2;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let only = args.iter().find(|a| *a == "clustered" || *a == "uniform").cloned();
    let opts = Options {
        builds: args.iter().find_map(|a| a.strip_prefix("builds=").and_then(|v| v.parse().ok())).unwrap_or(1).max(1),
        build_only: args.iter().any(|a| a == "build-only"),
    };
    let efcs: Vec<u32> = args
        .iter()
        .find_map(|a| a.strip_prefix("efc="))
        .map(|v| v.split(',').map(|e| e.parse().expect("efc=E[,E2,...]: integers")).collect())
        .unwrap_or_else(|| vec![DEFAULT_EF_CONSTRUCTION]);
    let params: Vec<HnswParams> = efcs
        .iter()
        .map(|&ef_construction| HnswParams { m: DEFAULT_M, ef_construction, ef_search: DEFAULT_EF_SEARCH })
        .collect();
    let list: Vec<String> = efcs.iter().map(u32::to_string).collect();
    println!(
        "vector index: {n} x {DIM}, cosine, M={DEFAULT_M} ef_construction={}, {LINK_THREADS} linking threads, {QUERIES} queries, k={K}",
        list.join(",")
    );
    println!();
    if only.as_deref() != Some("uniform") {
        let gmm = GaussianMixture::standard(DIM, 1);
        run("clustered", &gmm.sample(n, 2), &gmm.sample(QUERIES, 3), &params, opts);
    }
    if only.as_deref() != Some("clustered") {
        run("uniform", &uniform(n, DIM, 4), &uniform(QUERIES, DIM, 5), &params, opts);
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// CPU time consumed so far by the whole process (`thread == false`) or by the calling thread.
fn cpu_time(thread: bool) -> Duration {
    let clock = if thread { libc::CLOCK_THREAD_CPUTIME_ID } else { libc::CLOCK_PROCESS_CPUTIME_ID };
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec and both clocks exist on Linux.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[derive(Clone, Copy)]
struct Options {
    builds: usize,
    build_only: bool,
}

/// Adds `data` to a new index, then links it with `LINK_THREADS` threads; prints the rates.
/// Returns the index and the CPU time the linking took.
fn build(data: &[Vec<f32>], params: HnswParams) -> (VectorIndex, Duration) {
    let index = VectorIndex::new(DIM, Metric::Cosine, params);
    let t = Instant::now();
    let cpu = cpu_time(true);
    for v in data {
        index.add(v);
    }
    let add = t.elapsed();
    let add_cpu = cpu_time(true) - cpu;
    let t = Instant::now();
    let cpu = cpu_time(false);
    std::thread::scope(|s| {
        for _ in 0..LINK_THREADS {
            s.spawn(|| while index.link_pending(256) > 0 {});
        }
    });
    let link = t.elapsed();
    let link_cpu = cpu_time(false) - cpu;
    assert_eq!(index.linked_count(), data.len());
    println!(
        "  add    {:>10.0} vectors/s  ({:.2} us per vector, {:.2} us CPU; single writer)",
        data.len() as f64 / secs(add),
        secs(add) * 1e6 / data.len() as f64,
        secs(add_cpu) * 1e6 / data.len() as f64
    );
    println!(
        "  build  {:>10.0} vectors/s  ({:.1} s with {LINK_THREADS} threads; {:.1} us CPU per vector, {:.0} vectors per CPU-second, i.e. {:.0}/s with {LINK_THREADS} idle cores)",
        data.len() as f64 / secs(link),
        secs(link),
        secs(link_cpu) * 1e6 / data.len() as f64,
        data.len() as f64 / secs(link_cpu),
        data.len() as f64 / secs(link_cpu) * LINK_THREADS as f64
    );
    (index, link_cpu)
}

fn run(name: &str, data: &[Vec<f32>], queries: &[Vec<f32>], params: &[HnswParams], opts: Options) {
    println!("[{name}]");
    let mut costs: Vec<Vec<f64>> = vec![Vec::with_capacity(opts.builds); params.len()];
    let mut indexes: Vec<Option<VectorIndex>> = params.iter().map(|_| None).collect();
    for round in 0..opts.builds {
        // Alternate the order so no value always runs first (or right after a given other).
        let order: Vec<usize> =
            if round % 2 == 0 { (0..params.len()).collect() } else { (0..params.len()).rev().collect() };
        for i in order {
            if params.len() > 1 {
                print!("  efc={:<4}", params[i].ef_construction);
            }
            let (built, cpu) = build(data, params[i]);
            costs[i].push(secs(cpu) * 1e6 / data.len() as f64);
            indexes[i] = Some(built);
        }
    }
    let indexes: Vec<VectorIndex> = indexes.into_iter().flatten().collect();
    if opts.builds > 1 {
        for (p, costs) in params.iter().zip(&costs) {
            let mut sorted = costs.clone();
            sorted.sort_by(f64::total_cmp);
            let list: Vec<String> = costs.iter().map(|c| format!("{c:.1}")).collect();
            println!(
                "  efc={:<4} build CPU per vector over {} builds: median {:.1} us, min {:.1} us (each: {})",
                p.ef_construction,
                costs.len(),
                sorted[sorted.len() / 2],
                sorted[0],
                list.join(" ")
            );
        }
    }
    if opts.build_only {
        println!();
        return;
    }

    let t = Instant::now();
    let truths: Vec<Vec<u32>> =
        queries.iter().map(|q| indexes[0].search_exact(q, K).into_iter().map(|h| h.0).collect()).collect();
    let exact = t.elapsed();
    println!("  exact  {:>10.0} QPS        (brute force, ground truth)", queries.len() as f64 / secs(exact));
    println!("  {:>6} {:>6} {:>10} {:>10} {:>12} {:>12}", "efc", "ef", "QPS", "QPS(cpu)", "recall@10", "p50 us");
    for ef in [16, 32, 64, 128] {
        for (p, index) in params.iter().zip(&indexes) {
            let mut answers = Vec::with_capacity(queries.len());
            let mut lat = Vec::with_capacity(queries.len());
            let t = Instant::now();
            let cpu = cpu_time(true);
            for q in queries {
                let s = Instant::now();
                answers.push(index.search(q, K, ef).into_iter().map(|h| h.0).collect::<Vec<u32>>());
                lat.push(s.elapsed());
            }
            let total = t.elapsed();
            let total_cpu = cpu_time(true) - cpu;
            lat.sort_unstable();
            println!(
                "  {:>6} {:>6} {:>10.0} {:>10.0} {:>12.4} {:>12.1}",
                p.ef_construction,
                ef,
                queries.len() as f64 / secs(total),
                queries.len() as f64 / secs(total_cpu),
                mean_recall(&truths, &answers),
                lat[lat.len() / 2].as_secs_f64() * 1e6
            );
        }
    }

    for (&params, index) in params.iter().zip(&indexes) {
        serialise(data, queries, params, index);
    }
    println!();
}

/// Writes `index` out, reads it back and prints the times and sizes.
fn serialise(data: &[Vec<f32>], queries: &[Vec<f32>], params: HnswParams, index: &VectorIndex) {
    let t = Instant::now();
    let mut bytes = Vec::new();
    index.write_to(&mut bytes).expect("serialise");
    let write = t.elapsed();
    let t = Instant::now();
    let cpu = cpu_time(true);
    let loaded = VectorIndex::read_from(&mut &bytes[..], DIM, Metric::Cosine, params).expect("load");
    let load = t.elapsed();
    let load_cpu = cpu_time(true) - cpu;
    assert_eq!(loaded.linked_count(), data.len());
    let raw = data.len() * DIM * 4;
    println!(
        "  efc={:<4} serialise {:.3} s, load {:.3} s ({:.3} s CPU), {:.1} MB ({:.1} MB of raw vectors, graph overhead {:.0}%)",
        params.ef_construction,
        secs(write),
        secs(load),
        secs(load_cpu),
        bytes.len() as f64 / 1e6,
        raw as f64 / 1e6,
        (bytes.len() - raw) as f64 * 100.0 / raw as f64
    );
    assert_eq!(loaded.search(&queries[0], K, 64), index.search(&queries[0], K, 64));
}
