//! Snapshot load benchmark: where the time of loading (or installing) a snapshot goes.
//!
//! Run with `cargo bench -p vectorizer-core --bench snapshot_load -- <snapshot file> [runs=R]`.
//! The file is any finished snapshot, e.g. the master's `data/snapshots/snapshot-*.snap` of the
//! replication benchmark (100k x 128-d: `cargo bench -p vectorizer-tests --bench replication --
//! --quick n=100000 only=resync`, copied while it runs). Prints, per phase, the median wall and
//! thread-CPU time of `runs` repetitions (default 5):
//! - the single verifying pass over the body (CRC per chunk, blake3), without decoding;
//! - `VectorIndex::read_from` of each collection's index section, from memory;
//! - `Engine::open` of a data directory holding only that snapshot (the whole load: verify,
//!   decode, point tables, index), which is what a full sync's installation does besides renames
//!   and fsyncs.
//!
//! No pass/fail thresholds.
#![allow(clippy::print_stdout)] // printing the table is this program's job

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vectorizer_core::engine::{Engine, EngineConfig};
use vectorizer_core::index::VectorIndex;
use vectorizer_core::model::Op;
use vectorizer_core::storage::snapshot;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let runs: usize =
        args.iter().find_map(|a| a.strip_prefix("runs=").and_then(|v| v.parse().ok())).unwrap_or(5).max(1);
    let Some(path) = args.iter().find(|a| !a.contains('=')).map(PathBuf::from) else {
        println!("usage: cargo bench -p vectorizer-core --bench snapshot_load -- <snapshot file> [runs=R]");
        return;
    };
    let manifest = snapshot::read_manifest(&path).expect("a finished snapshot file");
    println!(
        "snapshot {}: {} collections, {} points, body {:.1} MiB in {} chunks; median of {runs} runs",
        path.display(),
        manifest.collections,
        manifest.points,
        manifest.body_bytes as f64 / 1048576.0,
        manifest.chunks
    );
    println!();
    println!("| phase | wall | thread CPU |");
    println!("|---|---:|---:|");

    let body = row("verifying pass over the body (crc + blake3)", runs, || read_body(&path));
    let sections = index_sections(&body);
    row("VectorIndex::read_from (every collection, from memory)", runs, || {
        for (op, bytes) in &sections {
            let Op::CreateCollection(c) = op else { unreachable!("checked by index_sections") };
            let index =
                VectorIndex::read_from(&mut &bytes[..], c.dimension as usize, c.metric, c.hnsw).expect("read_from");
            assert_eq!(index.linked_count(), index.live_count(), "fully linked snapshot");
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    row("Engine::open of a data dir holding the snapshot", runs, || open_engine(dir.path(), &path));
}

/// Runs `f` `runs` times, prints the medians and returns the last result.
fn row<T>(name: &str, runs: usize, mut f: impl FnMut() -> T) -> T {
    let (mut walls, mut cpus) = (Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..runs {
        let (w, c) = (Instant::now(), thread_cpu());
        last = Some(f());
        walls.push(w.elapsed());
        cpus.push(thread_cpu() - c);
    }
    walls.sort();
    cpus.sort();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!("| {name} | {} | {} |", ms(walls[runs / 2]), ms(cpus[runs / 2]));
    last.unwrap_or_else(|| unreachable!("runs >= 1"))
}

fn read_body(path: &Path) -> Vec<u8> {
    let (manifest, mut body) = snapshot::open_verifying(path).expect("open");
    let mut out = Vec::with_capacity(manifest.body_bytes as usize);
    body.read_to_end(&mut out).expect("read body");
    body.finish().expect("verified");
    out
}

/// The (config, index bytes) of every collection in a snapshot body (layout in
/// `engine/snapshot_body.rs`; trusted input, so plain indexing).
fn index_sections(body: &[u8]) -> Vec<(Op, Vec<u8>)> {
    let mut pos = 0usize;
    let mut take = |n: usize| {
        let s = &body[pos..pos + n];
        pos += n;
        s
    };
    let u32_at = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize;
    let u64_at = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize;
    assert_eq!(u32_at(take(4)), 1, "body version");
    let count = u32_at(take(4));
    let mut out = Vec::new();
    for _ in 0..count {
        let len = u32_at(take(4));
        let op = vectorizer_core::codec::decode_op(take(len)).expect("config");
        assert!(matches!(op, Op::CreateCollection(_)));
        let slots = u64_at(take(8));
        for _ in 0..slots {
            if take(1)[0] == 1 {
                let id = u32_at(take(4));
                take(id);
                if take(1)[0] == 1 {
                    let p = u32_at(take(4));
                    take(p);
                }
            }
        }
        let index_len = u64_at(take(8));
        out.push((op, take(index_len).to_vec()));
    }
    out
}

fn open_engine(base: &Path, snapshot_file: &Path) {
    let data = base.join("data");
    let _ = std::fs::remove_dir_all(&data);
    let snaps = data.join("snapshots");
    std::fs::create_dir_all(&snaps).expect("mkdir");
    let offset = snapshot::read_manifest(snapshot_file).expect("manifest").offset;
    let name = snaps.join(snapshot::snapshot_file_name(offset));
    if std::fs::hard_link(snapshot_file, &name).is_err() {
        std::fs::copy(snapshot_file, &name).expect("copy");
    }
    let engine = Engine::open(EngineConfig::new(&data)).expect("open");
    let report = engine.startup_report();
    assert!(report.snapshot_offset > 0, "the snapshot was not loaded: {report:?}");
    engine.shutdown().expect("shutdown");
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the valid pointer we pass.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
