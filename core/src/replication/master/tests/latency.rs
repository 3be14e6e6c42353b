//! Write-to-replica visibility, measured (not asserted: machines are shared and noisy).
//!
//! `cargo test -p vectorizer-core --release --lib visibility -- --ignored --nocapture`
//! prints, per fsync policy, the time from the start of `Engine::upsert` on the master to the
//! scripted replica having decoded the `Records` frame holding that op, at a paced write rate.

use std::sync::Mutex;

use super::*;

const OPS: u64 = 3_000;
const OPS_PER_SEC: u64 = 1_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn measure(fsync: FsyncPolicy) {
    let master = Master::start_with(
        move |dir| {
            let mut c = engine_config(dir);
            c.fsync = fsync;
            c
        },
        repl_config(),
    )
    .await;
    let start = master.write(1);
    let (mut peer, _) = Peer::join(master.addr(), "r-1", master.history(), start).await;
    let started_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; (start + OPS + 1) as usize]));

    let engine = master.engine.clone();
    let stamps = started_at.clone();
    let writer = std::thread::spawn(move || {
        let begin = Instant::now();
        for i in 0..OPS {
            let due = begin + Duration::from_micros(i * 1_000_000 / OPS_PER_SEC);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let offset = engine.last_offset() + 1;
            stamps.lock().expect("stamps")[offset as usize] = Some(Instant::now());
            let vectors =
                vec![wire::PointInput { id: format!("p{i}"), vector: vec![1.0, 2.0, 3.0, 4.0], payload: None }];
            let ack = engine.upsert(COLLECTION, wire::UpsertRequest { vectors }).expect("upsert");
            assert_eq!(ack.offset, offset);
        }
    });

    let mut latencies = Vec::with_capacity(OPS as usize);
    let mut frames = 0u64;
    while (latencies.len() as u64) < OPS {
        if let Frame::Records { records, .. } = peer.recv().await {
            let now = Instant::now();
            frames += 1;
            let stamps = started_at.lock().expect("stamps");
            for r in records {
                let t0 = stamps[r.offset as usize].expect("stamped before the append");
                latencies.push(now.duration_since(t0));
            }
        }
    }
    writer.join().expect("writer");
    latencies.sort();
    // A measurement is printed for a human to read; nothing else in the crate prints.
    #[allow(clippy::print_stdout)]
    {
        println!(
            "visibility fsync={fsync:?} ops={OPS} at {OPS_PER_SEC}/s frames={frames}: p50={:?} p90={:?} p99={:?} max={:?}",
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.90),
            percentile(&latencies, 0.99),
            latencies[latencies.len() - 1],
        );
    }
    master.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run with --release --ignored --nocapture"]
async fn visibility_latency_at_1000_ops_per_second() {
    measure(FsyncPolicy::Os).await;
    measure(FsyncPolicy::Always).await;
}
