//! Visibility lag: writes on the master at a paced rate, and per replica one thread that polls the
//! replica's `GET .../vectors/{id}` in a tight loop; lag = first 200 on the replica - the write's
//! send instant. Next to it, the lag the stats API reports (master's per-replica `lag_ms` and each
//! replica's own `stats.lag_ms`), sampled every 20 ms during the same run.
//!
//! Invariant: a poller follows one write at a time and starts polling it before it is sent, so a
//! sample is never inflated by the poller being busy with other writes (checking every pending write
//! in turn was tried first: on a loaded 2-core machine the pending set grew faster than one thread
//! could poll it and the "lag" measured the poller); the resolution is one GET round trip.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vectorizer_tests::Node;

use crate::cluster;
use crate::common::api;
use crate::common::keepalive::KeepAlive;
use crate::common::profile::Profiler;
use crate::load::{self, LoadResult, OpBodies, SendLog, Workload};

/// Result of one visibility run.
#[derive(Debug, Clone)]
pub struct VisibilityRun {
    pub load: LoadResult,
    /// Measured visibility lag per replica, milliseconds.
    pub lag_ms: Vec<Vec<f64>>,
    /// `lag_ms` of each replica in the master's `GET /replication/replicas`, per sample.
    pub master_view_ms: Vec<Vec<f64>>,
    /// `stats.lag_ms` of each replica's own `GET /replication/status`, per sample.
    pub replica_view_ms: Vec<Vec<f64>>,
}

/// Writes `rate` ops/s for `secs` on `master` and measures when each becomes readable on `replicas`.
/// With `BENCH_PERF` set, the master and the first replica are profiled (`visibility-{master,replica}-<label>`).
pub fn run(
    label: &str,
    master: &Node,
    replicas: &[&Node],
    bodies: &OpBodies,
    rate: f64,
    secs: f64,
    writers: usize,
) -> VisibilityRun {
    let profilers: Vec<Profiler> = [("master", master), ("replica", replicas[0])]
        .into_iter()
        .filter_map(|(role, node)| {
            Profiler::start(node.pid().expect("node runs"), &format!("visibility-{role}-{label}"))
        })
        .collect();
    let capacity = (rate * secs).round() as usize + 1;
    let log = SendLog::new(Instant::now(), capacity);
    let sent_total = AtomicU64::new(u64::MAX);
    let done = AtomicBool::new(false);
    let prefix = "vis-";
    let ids: Vec<String> = replicas.iter().map(|r| r.node_id()).collect();
    let (load, lag_ms, (master_view_ms, replica_view_ms)) = std::thread::scope(|s| {
        let pollers: Vec<_> = replicas
            .iter()
            .map(|r| {
                let (log, sent_total) = (&log, &sent_total);
                let addr = r.http_addr();
                s.spawn(move || poll_replica(addr, prefix, log, sent_total))
            })
            .collect();
        let monitor = {
            let (done, ids) = (&done, &ids);
            let master_addr = master.http_addr();
            let replica_addrs: Vec<_> = replicas.iter().map(|r| r.http_addr()).collect();
            s.spawn(move || monitor(master_addr, &replica_addrs, ids, done))
        };
        let workload = Workload {
            addr: master.http_addr(),
            bodies,
            prefix,
            writers,
            send_log: Some(&log),
            max_offset: None,
            stop: None,
        };
        let load = load::paced(&workload, rate, Duration::from_secs_f64(secs));
        sent_total.store(load.ops, Ordering::Release);
        let lags: Vec<Vec<f64>> = pollers.into_iter().map(|p| p.join().expect("poller")).collect();
        done.store(true, Ordering::Release);
        let views = monitor.join().expect("monitor");
        (load, lags, views)
    });
    for p in profilers {
        p.stop();
    }
    VisibilityRun { load, lag_ms, master_view_ms, replica_view_ms }
}

/// Measures writes one at a time on one replica: when idle, takes the next write not yet sent, waits
/// for its send, then GETs it in a tight loop until it answers 200. Returns the lags of the writes it
/// sampled (as many as one poller can follow; every sample starts polling before its write was sent,
/// so none is inflated by queueing behind other writes).
fn poll_replica(addr: std::net::SocketAddr, prefix: &str, log: &SendLog, sent_total: &AtomicU64) -> Vec<f64> {
    let mut c = KeepAlive::new(addr);
    let mut lags = Vec::with_capacity(log.capacity());
    let mut next = 0u64;
    loop {
        // The first write not yet sent (writes are due in number order, so it is sent soon).
        while log.sent_at(next).is_some() {
            next += 1;
        }
        let n = next;
        let sent = loop {
            if let Some(sent) = log.sent_at(n) {
                break sent;
            }
            if n >= sent_total.load(Ordering::Acquire) || n as usize >= log.capacity() {
                return lags;
            }
            // Cooperative: the servers being measured share the 2 cores with this thread.
            std::thread::yield_now();
        };
        let path = api::path(&format!("/vectors/{prefix}{n}"));
        loop {
            let (status, _) = c.get(&path).expect("replica GET");
            if status == 200 {
                lags.push(sent.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            assert_eq!(status, 404, "replica GET of {prefix}{n} answered {status}");
            assert!(sent.elapsed() < Duration::from_secs(60), "write {prefix}{n} not on replica {addr} after 60 s");
        }
        next = n + 1;
    }
}

/// Samples the stats API's lag every 20 ms until `done`: (master's view, replicas' own view) per replica.
fn monitor(
    master: std::net::SocketAddr,
    replicas: &[std::net::SocketAddr],
    ids: &[String],
    done: &AtomicBool,
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let mut m = KeepAlive::new(master);
    let mut rs: Vec<KeepAlive> = replicas.iter().map(|a| KeepAlive::new(*a)).collect();
    let mut master_view = vec![Vec::new(); replicas.len()];
    let mut replica_view = vec![Vec::new(); replicas.len()];
    while !done.load(Ordering::Acquire) {
        for info in cluster::replicas(&mut m).replicas {
            if let Some(i) = ids.iter().position(|id| *id == info.id) {
                master_view[i].push(info.lag_ms as f64);
            }
        }
        for (i, c) in rs.iter_mut().enumerate() {
            if let Some(stats) = cluster::status(c).stats {
                replica_view[i].push(stats.lag_ms as f64);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (master_view, replica_view)
}
