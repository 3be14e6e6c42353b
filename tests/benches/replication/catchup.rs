//! Catch-up after an outage: while the master takes a paced write load, one replica is stopped
//! (SIGTERM) for a fixed outage, then started again on its data directory; time from its restart until
//! it has applied everything the master acknowledged up to the restart.
//!
//! Invariant: the outage length is part of the scenario (a planned duration, not a synchronisation
//! wait); "caught up" = the replica's `stats.applied_offset` >= the highest offset the master had
//! acknowledged when the replica was spawned; the replica's sync counters tell whether it was a
//! partial or a full sync, and both are reported.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vectorizer_tests::Node;

use crate::cluster;
use crate::common::keepalive::KeepAlive;
use crate::common::priority;
use crate::common::profile::Profiler;
use crate::load::{self, OpBodies, Workload};

/// One outage and catch-up.
#[derive(Debug, Clone)]
pub struct CatchupRun {
    /// Operations the replica had to fetch (master offset at restart - replica offset when stopped).
    pub missed_ops: u64,
    /// Spawn -> ready line.
    pub ready_secs: f64,
    /// Spawn -> caught up.
    pub caught_up_secs: f64,
    /// Ready line -> caught up.
    pub after_ready_secs: f64,
    pub partial_syncs_delta: i64,
    pub full_syncs_delta: i64,
}

/// Offset and sync counters of a replica's own status.
fn replica_counters(node: &Node) -> (u64, u64, u64) {
    let stats = cluster::status(&mut KeepAlive::new(node.http_addr())).stats.expect("stats are enabled");
    (stats.applied_offset.unwrap_or(0), stats.partial_syncs.unwrap_or(0), stats.full_syncs.unwrap_or(0))
}

/// Runs one outage of `outage` on `replica` under `rate` ops/s on `master`.
pub fn one(
    master: &Node,
    replica: &mut Node,
    bodies: &OpBodies,
    prefix: &str,
    rate: f64,
    outage: Duration,
) -> CatchupRun {
    let stop = AtomicBool::new(false);
    let max_offset = AtomicU64::new(0);
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let w = Workload {
                addr: master.http_addr(),
                bodies,
                prefix,
                writers: crate::WRITERS,
                send_log: None,
                max_offset: Some(&max_offset),
                stop: Some(&stop),
            };
            load::paced(&w, rate, Duration::from_secs(3600))
        });
        // Steady state first (scenario timing).
        std::thread::sleep(Duration::from_secs(1));
        let (applied_before, partial_before, full_before) = replica_counters(replica);
        let status = replica.terminate();
        assert!(status.success(), "replica exited with {status} on SIGTERM");
        let down = Instant::now();
        std::thread::sleep(outage.saturating_sub(down.elapsed()));
        let spawn = Instant::now();
        let target = max_offset.load(Ordering::Acquire);
        replica.restart();
        let ready_secs = spawn.elapsed().as_secs_f64();
        let pid = replica.pid().expect("replica runs");
        priority::renice(pid);
        // Profiling attaches after the ready line and delays the first poll (BENCH_PERF runs only).
        let profiler = Profiler::start(pid, &format!("catchup-{prefix}"));
        let mut c = KeepAlive::new(replica.http_addr());
        let caught = loop {
            let applied = cluster::status(&mut c).stats.and_then(|s| s.applied_offset).unwrap_or(0);
            if applied >= target {
                break spawn.elapsed().as_secs_f64();
            }
            assert!(
                spawn.elapsed() < Duration::from_secs(120),
                "replica not caught up after 120 s ({applied} < {target})"
            );
        };
        if let Some(p) = profiler {
            p.stop();
        }
        let (_, partial_after, full_after) = replica_counters(replica);
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Release);
        writer.join().expect("writer");
        CatchupRun {
            missed_ops: target.saturating_sub(applied_before),
            ready_secs,
            caught_up_secs: caught,
            after_ready_secs: caught - ready_secs,
            partial_syncs_delta: partial_after as i64 - partial_before as i64,
            full_syncs_delta: full_after as i64 - full_before as i64,
        }
    })
}
