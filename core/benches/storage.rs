//! Storage benchmark: operation-log append throughput per fsync policy and writer count, the
//! replication-sender read path, and snapshot write / verified read. Prints a table.
//!
//! Records are 52 KB, the size of an upsert of 100 vectors of 128 f32 plus ids. Each writer
//! appends and then waits for durability (`wait_durable`), as the engine's write path does before
//! it acknowledges. Run: `cargo bench -p vectorizer-core --bench storage`.
//! Environment: `BENCH_SECS` (seconds per row, default 3), `BENCH_DIR` (where files go, default
//! the system temp dir: put it on the disk you want to measure).
#![allow(clippy::print_stdout)] // printing the table is this program's job

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vectorizer_core::storage::snapshot::{self, SnapshotWriter};
use vectorizer_core::storage::{FsyncPolicy, LogConfig, OpLog};

const RECORD_BYTES: usize = 100 * 128 * 4 + 100 * 8; // 52 000
const WRITERS: [usize; 4] = [1, 4, 16, 64];
/// Stops a row early once this much was written (keeps `Os` rows from filling the disk).
const MAX_BYTES_PER_ROW: u64 = 2 << 30;
const SNAPSHOT_BYTES: usize = 64 << 20;

fn main() {
    let secs: u64 = std::env::var("BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let base: PathBuf = std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let duration = Duration::from_secs(secs);
    println!("storage benchmark: {RECORD_BYTES}-byte records, {secs} s per row, files in {}", base.display());
    println!();
    println!(
        "{:<14} {:>7} {:>10} {:>9} {:>9} {:>12} {:>11} {:>11}",
        "policy", "writers", "records/s", "MB/s", "fsyncs/s", "records/fsync", "p50 ack ms", "p99 ack ms"
    );
    for policy in [FsyncPolicy::Always, FsyncPolicy::EveryMs(100), FsyncPolicy::Os] {
        for writers in WRITERS {
            let row = append_row(&base, policy, writers, duration);
            println!(
                "{:<14} {:>7} {:>10.0} {:>9.1} {:>9.1} {:>12.1} {:>11.2} {:>11.2}",
                policy_name(policy),
                writers,
                row.records as f64 / row.elapsed,
                row.records as f64 * RECORD_BYTES as f64 / row.elapsed / 1e6,
                row.fsyncs as f64 / row.elapsed,
                if row.fsyncs == 0 { 0.0 } else { row.records as f64 / row.fsyncs as f64 },
                row.p50_ms,
                row.p99_ms,
            );
        }
    }
    println!();
    read_tail_row(&base, duration);
    println!();
    snapshot_rows(&base);
}

struct Row {
    records: u64,
    fsyncs: u64,
    elapsed: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn policy_name(policy: FsyncPolicy) -> String {
    match policy {
        FsyncPolicy::Always => "always".to_owned(),
        FsyncPolicy::EveryMs(ms) => format!("every_ms({ms})"),
        FsyncPolicy::Os => "os".to_owned(),
    }
}

fn open_log(dir: &Path, policy: FsyncPolicy) -> OpLog {
    let cfg = LogConfig { dir: dir.to_path_buf(), segment_bytes: 64 << 20, fsync: policy };
    OpLog::open(cfg, 1).expect("open log").0
}

/// `writers` threads append + wait_durable in a loop for `duration`.
fn append_row(base: &Path, policy: FsyncPolicy, writers: usize, duration: Duration) -> Row {
    let dir = tempfile::tempdir_in(base).expect("tempdir");
    let log = Arc::new(open_log(dir.path(), policy));
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let fsyncs_before = log.fsync_count();
    let start = Instant::now();
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let (log, stop, written) = (Arc::clone(&log), Arc::clone(&stop), Arc::clone(&written));
            std::thread::spawn(move || {
                let payload = vec![w as u8; RECORD_BYTES];
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let offset = log.append(1, 0, &payload).expect("append");
                    log.wait_durable(offset).expect("wait_durable");
                    latencies.push(t.elapsed());
                    let total = written.fetch_add(RECORD_BYTES as u64, Ordering::Relaxed);
                    if total >= MAX_BYTES_PER_ROW {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                latencies
            })
        })
        .collect();
    while start.elapsed() < duration && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let mut latencies: Vec<Duration> = handles.into_iter().flat_map(|h| h.join().expect("writer")).collect();
    let elapsed = start.elapsed().as_secs_f64();
    let fsyncs = log.fsync_count() - fsyncs_before;
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Row { records: latencies.len() as u64, fsyncs, elapsed, p50_ms: pct(0.50), p99_ms: pct(0.99) }
}

/// The replication sender's path: repeatedly read the newest ~1 MB of the log.
fn read_tail_row(base: &Path, duration: Duration) {
    let dir = tempfile::tempdir_in(base).expect("tempdir");
    let log = open_log(dir.path(), FsyncPolicy::Os);
    let payload = vec![7u8; RECORD_BYTES];
    for _ in 0..2000 {
        log.append(1, 0, &payload).expect("append");
    }
    let start = Instant::now();
    let (mut reads, mut records, mut bytes) = (0u64, 0u64, 0u64);
    while start.elapsed() < duration {
        let from = log.last_offset() - 19 - (reads % 100) * 19;
        let got = log.read_from(from, 1 << 20).expect("read_from");
        reads += 1;
        records += got.len() as u64;
        bytes += got.iter().map(|r| r.payload.len() as u64).sum::<u64>();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "read_from (tail, 1 MB per call, page cache): {:.0} calls/s, {:.0} records/s, {:.0} MB/s",
        reads as f64 / secs,
        records as f64 / secs,
        bytes as f64 / secs / 1e6
    );
}

fn snapshot_rows(base: &Path) {
    let dir = tempfile::tempdir_in(base).expect("tempdir");
    let body: Vec<u8> = (0..SNAPSHOT_BYTES).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mb = SNAPSHOT_BYTES as f64 / 1e6;

    let start = Instant::now();
    let mut writer = SnapshotWriter::create(dir.path(), 1, 1000).expect("create");
    for piece in body.chunks(64 << 10) {
        writer.write_all(piece).expect("write");
    }
    let (path, manifest) = writer.finish(1, 1).expect("finish");
    let write_secs = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let (_, mut reader) = snapshot::open_verified(&path).expect("verify");
    let mut sink = vec![0u8; 1 << 20];
    let mut read = 0usize;
    loop {
        let n = reader.read(&mut sink).expect("read");
        if n == 0 {
            break;
        }
        read += n;
    }
    assert_eq!(read, SNAPSHOT_BYTES);
    let read_secs = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let (_, chunks) = snapshot::open_chunks(&path).expect("chunks");
    let streamed: usize = chunks.map(|c| c.expect("chunk").data.len()).sum();
    assert_eq!(streamed, SNAPSHOT_BYTES);
    let stream_secs = start.elapsed().as_secs_f64();

    println!("snapshot of {mb:.0} MB body ({} chunks, file {} bytes):", manifest.chunks, manifest.file_bytes);
    println!("  write (chunk, crc, blake3, fsync, rename): {:>7.0} MB/s", mb / write_secs);
    println!("  open_verified + read body (two passes):    {:>7.0} MB/s", mb / read_secs);
    println!("  raw chunk stream (crc per chunk):          {:>7.0} MB/s", mb / stream_secs);
}
