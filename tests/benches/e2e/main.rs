//! The product benchmark: real `vectorizer` processes (release build) on loopback, driven over HTTP.
//!
//! ```sh
//! cargo build --release -p vectorizer-server
//! VECTORIZER_BIN=$PWD/target/x86_64-unknown-linux-gnu/release/vectorizer \
//!     cargo bench -p vectorizer-tests --bench e2e -- [--quick] [--no-sweep] [--no-uniform] \
//!         [n=N] [clients=C] [runs=R] [passes=P] [queries=Q] [encoding=array|base64]
//! ```
//! Measures ingest (batches of 100 x 128-d from C concurrent keep-alive clients, fsync `always` and
//! `os`: acknowledged vectors/s and time until fully indexed), search (ONE keep-alive client,
//! sequential: QPS and recall@10 at several `ef_search`), snapshot write time and size, and restart
//! (SIGTERM / SIGKILL then start: time to the ready line and to the first search). Clustered data
//! (`GaussianMixture::standard`) and uniform data (the hard case). Every measurement is repeated
//! `runs` times and the median printed with its spread; the load average is recorded at start and
//! end because the machine is shared. `--quick` = 10k vectors, 200 queries, 1 run (a smoke run).
//! Defaults: n=100000, clients=8, runs=3, passes=5 (search), queries=1000, encoding=array (how the
//! ingest bodies write vectors: JSON number arrays, or base64 strings of little-endian float32).
//! Profiling: `BENCH_PERF=<dir>` records each phase with `perf` (see `common/profile.rs`).
//!
//! Prints Markdown tables; there are no pass/fail thresholds (the targets are shown as ratios).
#![allow(clippy::print_stdout)]

#[path = "../common/mod.rs"]
#[allow(dead_code)] // shared with the replication benchmark, which uses other parts
mod common;
mod data;
mod ingest;
mod restart;
mod search;

use std::time::Instant;

use vectorizer_core::model::{DEFAULT_EF_SEARCH, Metric};
use vectorizer_tests::{Node, NodeOptions, vectorizer_bin};

use common::api::{self, VectorEncoding};
use common::keepalive::KeepAlive;
use common::machine;
use common::measure::{Table, loadavg_text, median, ms, ratio, spread, thousands};
use data::DataSet;
use ingest::IngestRun;
use restart::RestartRun;
use search::SearchRun;

const DIM: usize = 128;
const BATCH: usize = 100;
const K: usize = 10;
const METRIC: Metric = Metric::Cosine;
/// `ef_search` values measured besides the collection default.
const EFS: [u32; 4] = [16, 32, 128, 256];

/// Targets of the foundation issue.
const TARGET_INDEXED_PER_S: f64 = 10_000.0;
const TARGET_ACKED_PER_S: f64 = 90_000.0;
const TARGET_QPS: f64 = 2_000.0;
const TARGET_RECALL: f64 = 0.9;
const TARGET_RESTART_S: f64 = 1.0;
/// Peer numbers quoted by the issue (not measured here).
const PEER_PGVECTOR_INDEXED_PER_S: f64 = 5_000.0;
const PEER_REDIS_PIPELINE_PER_S: f64 = 87_000.0;

#[derive(Debug, Clone)]
struct Options {
    n: usize,
    queries: usize,
    clients: usize,
    runs: usize,
    /// Passes over the queries per search setting (default: 5, `--quick` 1).
    passes: usize,
    quick: bool,
    /// Skip the client-count sweep (`--no-sweep`).
    sweep: bool,
    /// Skip the uniform data set (`--no-uniform`).
    uniform: bool,
    /// How the ingest bodies write vectors (`encoding=array|base64`).
    encoding: VectorEncoding,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let value = |key: &str| {
        args.iter().find_map(|a| a.strip_prefix(key).and_then(|v| v.strip_prefix('=')).and_then(|v| v.parse().ok()))
    };
    for a in &args {
        let known = ["--quick", "--bench", "--no-sweep", "--no-uniform"].contains(&a.as_str())
            || ["n=", "clients=", "runs=", "passes=", "queries=", "encoding="].iter().any(|k| a.starts_with(k));
        assert!(
            known,
            "unknown argument {a:?}; expected --quick, --no-sweep, --no-uniform, n=N, clients=C, runs=R, passes=P, queries=Q, encoding=array|base64"
        );
    }
    let encoding = match args.iter().find_map(|a| a.strip_prefix("encoding=")) {
        None | Some("array") => VectorEncoding::Array,
        Some("base64") => VectorEncoding::Base64,
        Some(other) => panic!("encoding={other:?}: expected array or base64"),
    };
    let runs = value("runs").unwrap_or(if quick { 1 } else { 3 });
    Options {
        n: value("n").unwrap_or(if quick { 10_000 } else { 100_000 }),
        queries: value("queries").unwrap_or(if quick { 200 } else { 1_000 }),
        clients: value("clients").unwrap_or(8),
        runs,
        passes: value("passes").unwrap_or(if quick { 1 } else { runs.max(5) }),
        quick,
        sweep: !args.iter().any(|a| a == "--no-sweep"),
        uniform: !args.iter().any(|a| a == "--no-uniform"),
        encoding,
    }
}

fn start_node(fsync: &str) -> Node {
    let opts = common::with_node_env(NodeOptions::default().args(["--fsync", fsync, "--log-format", "json"]));
    let node = Node::start(opts);
    api::create_collection(&mut KeepAlive::new(node.http_addr()), DIM, METRIC);
    node
}

fn main() {
    let opts = options();
    let began = Instant::now();
    let load_start = loadavg_text();
    let bin = vectorizer_bin();
    println!("# vectorizer e2e benchmark{}", if opts.quick { " (--quick)" } else { "" });
    println!();
    for line in machine::describe(&std::env::temp_dir()) {
        println!("- {line}");
    }
    println!("- binary: {}", bin.display());
    println!(
        "- data: {} x {DIM}, cosine, batches of {BATCH}, {} concurrent ingest clients (keep-alive), \
         {} queries, k={K}, {} runs per ingest/restart measurement and {} passes per search setting (median shown)",
        opts.n, opts.clients, opts.queries, opts.runs, opts.passes
    );
    println!("- vector encoding of the ingest bodies: {} (`encoding=`)", opts.encoding.name());
    if let Some(line) = common::node_env_line() {
        println!("{line}");
    }
    println!("- load average at start: {load_start}");
    println!();

    eprintln!("generating data and exact ground truth...");
    let clustered = data::clustered(opts.n, opts.queries, DIM, K, METRIC);
    let uniform = opts.uniform.then(|| data::uniform_set(opts.n, opts.queries, DIM, K, METRIC));

    // Ingest, clustered: every run on a fresh node; the last node of each mode is kept.
    let bodies = api::upsert_bodies_as(&clustered.data, BATCH, 0, opts.encoding);
    let mut ingest_rows = Vec::new();
    let mut kept = Vec::new();
    for fsync in ["always", "os"] {
        let mut runs = Vec::new();
        let mut last = None;
        for r in 0..opts.runs {
            eprintln!("ingest clustered, fsync {fsync}, run {}/{}...", r + 1, opts.runs);
            let node = start_node(fsync);
            runs.push(ingest::run(&format!("clustered-{fsync}"), &node, &bodies, opts.n, opts.clients, None, true));
            last = Some(node);
        }
        ingest_rows.push((format!("clustered, fsync {fsync}"), runs));
        kept.push(last.expect("at least one run"));
    }
    let sweep = if opts.sweep { client_sweep(&bodies, opts.n) } else { Vec::new() };
    drop(bodies);
    let mut os_node = kept.pop().expect("os node");
    let mut always_node = kept.pop().expect("always node");

    eprintln!("search clustered...");
    let floor = search::http_floor(&os_node, opts.passes);
    let clustered_search = search_all(&os_node, &clustered, opts.passes);

    eprintln!("snapshots...");
    let snapshots: Vec<_> = (0..opts.runs).map(|_| restart::snapshot(&os_node)).collect();

    eprintln!("restarts...");
    let query = api::search_body(&clustered.queries[0], K, None);
    let graceful: Vec<RestartRun> =
        (0..opts.runs).map(|_| restart::restart(&mut os_node, &query, K, false, false)).collect();
    drop(os_node);
    let crash: Vec<RestartRun> =
        (0..opts.runs).map(|r| restart::restart(&mut always_node, &query, K, true, r + 1 == opts.runs)).collect();
    drop(always_node);

    // Uniform: one ingest (with the read-your-writes check), then search.
    let uniform_search = uniform.as_ref().map(|uniform| {
        eprintln!("ingest + search uniform...");
        let node = start_node("os");
        let bodies = api::upsert_bodies_as(&uniform.data, BATCH, 0, opts.encoding);
        let run = ingest::run("uniform-os", &node, &bodies, opts.n, opts.clients, Some(&uniform.data), true);
        drop(bodies);
        ingest_rows.push(("uniform, fsync os (1 run, with read-your-writes check)".into(), vec![run]));
        search_all(&node, uniform, opts.passes)
    });

    let load_end = loadavg_text();
    print_ingest(&ingest_rows);
    if !sweep.is_empty() {
        print_sweep(&sweep);
    }
    let mut searched = vec![(&clustered, &clustered_search)];
    if let (Some(set), Some(runs)) = (&uniform, &uniform_search) {
        searched.push((set, runs));
    }
    print_search(&searched, &floor);
    print_snapshots_restarts(&snapshots, &graceful, &crash);
    print_summary(&ingest_rows, &clustered_search, &graceful);
    println!();
    println!(
        "- load average at end: {load_end} (start: {load_start}); wall time {:.0} s",
        began.elapsed().as_secs_f64()
    );
}

/// Client counts of the acknowledged-ingest sweep.
const SWEEP: [usize; 5] = [1, 4, 8, 16, 32];

/// Acknowledged ingest (no indexing wait) for each client count and fsync mode, one run each.
fn client_sweep(bodies: &[Vec<u8>], n: usize) -> Vec<(&'static str, usize, IngestRun)> {
    let mut out = Vec::new();
    for fsync in ["always", "os"] {
        for clients in SWEEP {
            eprintln!("ingest sweep: fsync {fsync}, {clients} clients...");
            let node = start_node(fsync);
            let label = format!("sweep-{fsync}-{clients}");
            out.push((fsync, clients, ingest::run(&label, &node, bodies, n, clients, None, false)));
        }
    }
    out
}

fn search_all(node: &Node, set: &DataSet, passes: usize) -> Vec<SearchRun> {
    std::iter::once(None).chain(EFS.iter().copied().map(Some)).map(|ef| search::run(node, set, K, ef, passes)).collect()
}

fn ef_label(ef: Option<u32>) -> String {
    match ef {
        None => format!("{DEFAULT_EF_SEARCH} (default)"),
        Some(ef) => ef.to_string(),
    }
}

/// Median of `f` over the runs, with the spread as "±x%".
fn med(runs: &[IngestRun], f: impl Fn(&IngestRun) -> f64) -> (f64, String) {
    let v: Vec<f64> = runs.iter().map(f).collect();
    (median(&v), format!("{:.0}%", spread(&v) * 100.0))
}

fn print_ingest(rows: &[(String, Vec<IngestRun>)]) {
    println!("## Ingest (batches of {BATCH}; median of runs; spread = (max-min)/median)");
    println!();
    println!(
        "Acknowledged = every batch answered 200 (after the fsync policy); indexed = until `GET /collections/{{name}}` reports `indexed_count == vector_count`, timed from the first send."
    );
    println!();
    let mut t = Table::new([
        "data, fsync",
        "acked vec/s",
        "spread",
        "indexed vec/s",
        "spread",
        "acked in",
        "indexed in",
        "linked at last ack",
        "batch p50",
        "batch p99",
    ]);
    for (name, runs) in rows {
        let (acked, acked_spread) = med(runs, |r| r.acked_per_s);
        let (indexed, indexed_spread) = med(runs, |r| r.indexed_per_s);
        t.row([
            name.clone(),
            thousands(acked),
            acked_spread,
            thousands(indexed),
            indexed_spread,
            format!("{:.2} s", med(runs, |r| r.ack_secs).0),
            format!("{:.2} s", med(runs, |r| r.indexed_secs).0),
            thousands(med(runs, |r| r.indexed_at_ack as f64).0),
            ms(med(runs, |r| r.batch_p50_ms).0),
            ms(med(runs, |r| r.batch_p99_ms).0),
        ]);
    }
    print!("{}", t.render());
    println!();
    println!(
        "CPU actually received (the machine is shared): server CPU-seconds per phase and the rates per server CPU-second."
    );
    println!();
    let mut t = Table::new([
        "data, fsync",
        "server CPU, ack phase",
        "acked vec per server CPU-s",
        "of which linker threads",
        "request path CPU per vector",
        "server CPU, to indexed",
        "indexed vec per server CPU-s",
        "client CPU, ack phase",
        "server RSS after",
        "connections",
    ]);
    for (name, runs) in rows {
        let n = |r: &IngestRun| r.acked_per_s * r.ack_secs;
        t.row([
            name.clone(),
            format!("{:.2} s", med(runs, |r| r.server_cpu_ack_secs).0),
            thousands(med(runs, |r| n(r) / r.server_cpu_ack_secs).0),
            format!("{:.2} s", med(runs, |r| r.linker_cpu_ack_secs).0),
            format!("{:.1} µs", med(runs, request_path_us).0),
            format!("{:.2} s", med(runs, |r| r.server_cpu_secs).0),
            thousands(med(runs, |r| n(r) / r.server_cpu_secs).0),
            format!("{:.2} s", med(runs, |r| r.client_cpu_ack_secs).0),
            format!("{:.0} MiB", med(runs, |r| r.server_rss.map_or(f64::NAN, |b| b as f64 / 1024.0 / 1024.0)).0),
            runs.iter().map(|r| r.connects.to_string()).collect::<Vec<_>>().join("/"),
        ]);
    }
    print!("{}", t.render());
    for (name, runs) in rows {
        for r in runs {
            if let Some((found, checked)) = r.visible {
                println!();
                println!(
                    "Read-your-writes ({name}): right after the last acknowledgement ({} of {} vectors linked), \
                     {found} of the {checked} most recently acknowledged vectors were in the top {K} of a search for themselves.",
                    thousands(r.indexed_at_ack as f64),
                    thousands(r.acked_per_s * r.ack_secs),
                );
            }
        }
    }
    println!();
}

/// Server CPU outside the linker threads during the acknowledged phase, per acknowledged vector.
fn request_path_us(r: &IngestRun) -> f64 {
    (r.server_cpu_ack_secs - r.linker_cpu_ack_secs) * 1e6 / (r.acked_per_s * r.ack_secs)
}

fn print_sweep(sweep: &[(&str, usize, IngestRun)]) {
    println!(
        "## Acknowledged ingest by number of concurrent clients (clustered, one run each, indexing not waited for)"
    );
    println!();
    let mut t = Table::new([
        "fsync",
        "clients",
        "acked vec/s",
        "batch p50",
        "batch p99",
        "acked vec per server CPU-s",
        "request path CPU per vector",
    ]);
    for (fsync, clients, r) in sweep {
        t.row([
            (*fsync).to_owned(),
            clients.to_string(),
            thousands(r.acked_per_s),
            ms(r.batch_p50_ms),
            ms(r.batch_p99_ms),
            thousands(r.acked_per_s * r.ack_secs / r.server_cpu_ack_secs),
            format!("{:.1} µs", request_path_us(r)),
        ]);
    }
    print!("{}", t.render());
    println!();
}

fn print_search(sets: &[(&DataSet, &Vec<SearchRun>)], floor: &[f64]) {
    println!("## Search (one client, keep-alive, sequential; QPS median of passes over all queries)");
    println!();
    let mut t = Table::new([
        "data",
        "ef_search",
        "QPS",
        "spread",
        "recall@10",
        "p50",
        "p99",
        "server CPU/query",
        "connections",
    ]);
    for (set, runs) in sets {
        for r in runs.iter() {
            t.row([
                set.name.to_owned(),
                ef_label(r.ef),
                thousands(r.qps_median()),
                format!("{:.0}%", spread(&r.qps) * 100.0),
                format!("{:.3}", r.recall),
                ms(r.p50_ms),
                ms(r.p99_ms),
                format!("{:.0} µs", r.server_cpu_us),
                r.connects.to_string(),
            ]);
        }
    }
    print!("{}", t.render());
    println!();
    println!(
        "HTTP floor on the same connection type: `GET /health` {} QPS (median of {} passes of 1000, spread {:.0}%).",
        thousands(median(floor)),
        floor.len(),
        spread(floor) * 100.0
    );
    println!();
}

fn print_snapshots_restarts(snapshots: &[restart::SnapshotRun], graceful: &[RestartRun], crash: &[RestartRun]) {
    println!("## Snapshot and restart (clustered data set)");
    println!();
    let secs: Vec<f64> = snapshots.iter().map(|s| s.secs * 1000.0).collect();
    let bytes = snapshots.last().map_or(0, |s| s.bytes);
    let points = snapshots.last().map_or(0, |s| s.points);
    println!(
        "Snapshot (`POST /api/v1/snapshots`): {} median (runs: {}), {:.1} MiB for {} points.",
        ms(median(&secs)),
        secs.iter().map(|s| ms(*s)).collect::<Vec<_>>().join(", "),
        bytes as f64 / 1024.0 / 1024.0,
        thousands(points as f64)
    );
    println!();
    let mut t = Table::new([
        "restart",
        "stop",
        "to ready line",
        "to first search",
        "server recovery",
        "replayed ops",
        "linked at first search",
        "to fully indexed",
    ]);
    for (name, runs) in [("SIGTERM, start", graceful), ("SIGKILL, start", crash)] {
        for (i, r) in runs.iter().enumerate() {
            t.row([
                format!("{name} #{}", i + 1),
                ms(r.stop_secs * 1000.0),
                ms(r.ready_secs * 1000.0),
                ms(r.first_search_secs * 1000.0),
                r.recovery_ms.map_or("n/a".into(), |m| format!("{m} ms")),
                r.replayed_ops.map_or("n/a".into(), |o| o.to_string()),
                thousands(r.indexed_after_ready as f64),
                r.indexed_secs.map_or("-".into(), |s| ms(s * 1000.0)),
            ]);
        }
    }
    print!("{}", t.render());
    println!();
}

fn print_summary(ingest: &[(String, Vec<IngestRun>)], search: &[SearchRun], graceful: &[RestartRun]) {
    println!("## Targets (2-core machine) and peers");
    println!();
    println!(
        "Peer numbers are quoted from the issue, not measured here (PostgreSQL + pgvector is not installable from this machine's Debian sources)."
    );
    println!();
    let mut t = Table::new(["measure", "ours", "target", "met", "ours/target", "peer (quoted)", "ours/peer"]);
    let met = |ok: bool| if ok { "yes" } else { "NO" }.to_owned();
    for (name, runs) in ingest.iter().take(2) {
        let indexed = med(runs, |r| r.indexed_per_s).0;
        t.row([
            format!("indexed ingest, {name}"),
            format!("{} vec/s", thousands(indexed)),
            format!(">= {} vec/s", thousands(TARGET_INDEXED_PER_S)),
            met(indexed >= TARGET_INDEXED_PER_S),
            ratio(indexed / TARGET_INDEXED_PER_S),
            format!("pgvector HNSW {} vec/s", thousands(PEER_PGVECTOR_INDEXED_PER_S)),
            ratio(indexed / PEER_PGVECTOR_INDEXED_PER_S),
        ]);
    }
    for (name, runs) in ingest.iter().take(2) {
        let acked = med(runs, |r| r.acked_per_s).0;
        t.row([
            format!("acknowledged ingest, {name}"),
            format!("{} vec/s", thousands(acked)),
            format!(">= {} vec/s", thousands(TARGET_ACKED_PER_S)),
            met(acked >= TARGET_ACKED_PER_S),
            ratio(acked / TARGET_ACKED_PER_S),
            format!("Redis pipeline, no fsync {} vec/s", thousands(PEER_REDIS_PIPELINE_PER_S)),
            ratio(acked / PEER_REDIS_PIPELINE_PER_S),
        ]);
    }
    let best =
        search.iter().filter(|r| r.recall >= TARGET_RECALL).max_by(|a, b| a.qps_median().total_cmp(&b.qps_median()));
    match best {
        Some(r) => t.row([
            format!("search QPS at recall@10 >= {TARGET_RECALL} (clustered, ef {})", ef_label(r.ef)),
            format!("{} QPS, recall {:.3}", thousands(r.qps_median()), r.recall),
            format!(">= {} QPS", thousands(TARGET_QPS)),
            met(r.qps_median() >= TARGET_QPS),
            ratio(r.qps_median() / TARGET_QPS),
            "-".into(),
            "-".into(),
        ]),
        None => t.row([
            "search QPS at recall@10 >= 0.9 (clustered)".to_owned(),
            "no ef reached the recall".into(),
            format!(">= {} QPS", thousands(TARGET_QPS)),
            met(false),
            "n/a".into(),
            "-".into(),
            "-".into(),
        ]),
    }
    let restart: Vec<f64> = graceful.iter().map(|r| r.first_search_secs).collect();
    let restart = median(&restart);
    t.row([
        "restart (SIGTERM, start) to first search".to_owned(),
        ms(restart * 1000.0),
        format!("< {TARGET_RESTART_S:.0} s"),
        met(restart < TARGET_RESTART_S),
        ratio(restart / TARGET_RESTART_S),
        "-".into(),
        "-".into(),
    ]);
    print!("{}", t.render());
}
