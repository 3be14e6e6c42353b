//! Write workloads on a master: paced (open loop, a fixed number of operations per second) and
//! maximum throughput (closed loop). One operation = one `PUT .../vectors` of one 128-d vector with
//! a fresh id `<prefix><n>`.
//!
//! Invariant: a paced operation `n` is due at `start + n / rate` whatever happened to earlier ones
//! (a slow answer does not lower the offered rate, it shows up as latency and lateness); each send
//! instant is published in a [`SendLog`] before the request leaves, so an observer can measure from
//! the send; an operation counts only when the master answered 200.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vectorizer_core::testdata::GaussianMixture;
use vectorizer_sdk_types::WriteResponse;

use crate::cluster::DIM;
use crate::common::api;
use crate::common::keepalive::KeepAlive;
use crate::common::measure::percentile;

/// Pre-encoded vectors; a body is assembled around one of them per operation.
#[derive(Debug)]
pub struct OpBodies {
    vectors: Vec<String>,
}

impl OpBodies {
    /// `n` distinct vectors (clustered), encoded as JSON arrays once.
    pub fn new(n: usize, seed: u64) -> Self {
        let data = GaussianMixture::standard(DIM, seed).sample(n.max(1), seed + 1);
        Self { vectors: data.iter().map(|v| serde_json::to_string(v).expect("encode vector")).collect() }
    }

    /// The upsert body of operation `n` (id `<prefix><n>`).
    pub fn body(&self, prefix: &str, n: u64) -> Vec<u8> {
        let vector = &self.vectors[(n as usize) % self.vectors.len()];
        format!(r#"{{"vectors":[{{"id":"{prefix}{n}","vector":{vector}}}]}}"#).into_bytes()
    }
}

/// Send instants of operations, published for observers (0 = not sent yet).
#[derive(Debug)]
pub struct SendLog {
    base: Instant,
    sent: Vec<AtomicU64>,
}

impl SendLog {
    /// Room for `capacity` operations, times relative to `base`.
    pub fn new(base: Instant, capacity: usize) -> Self {
        Self { base, sent: (0..capacity).map(|_| AtomicU64::new(0)).collect() }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.sent.len()
    }

    fn record(&self, n: u64) {
        if let Some(slot) = self.sent.get(n as usize) {
            // +1 so that a send at exactly `base` is not mistaken for "not sent".
            slot.store(self.base.elapsed().as_nanos() as u64 + 1, Ordering::Release);
        }
    }

    /// When operation `n` was sent, if it was.
    pub fn sent_at(&self, n: u64) -> Option<Instant> {
        let v = self.sent.get(n as usize)?.load(Ordering::Acquire);
        (v != 0).then(|| self.base + Duration::from_nanos(v - 1))
    }
}

/// What a workload achieved.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Operations acknowledged.
    pub ops: u64,
    /// From the first due time to the last acknowledgement.
    pub secs: f64,
    /// Send -> acknowledgement, per operation, milliseconds.
    pub latencies_ms: Vec<f64>,
    /// How late sends were against their due time (paced only), milliseconds.
    pub lateness_ms: Vec<f64>,
}

impl LoadResult {
    /// Acknowledged operations per second.
    pub fn ops_per_s(&self) -> f64 {
        self.ops as f64 / self.secs
    }

    /// Latency percentile in milliseconds.
    pub fn latency(&self, p: f64) -> f64 {
        percentile(&self.latencies_ms, p)
    }
}

/// Shared parameters of a workload.
#[derive(Debug)]
pub struct Workload<'a> {
    pub addr: std::net::SocketAddr,
    pub bodies: &'a OpBodies,
    /// Id prefix (unique per workload so ids never repeat).
    pub prefix: &'a str,
    pub writers: usize,
    /// Published send instants (operation n in slot n).
    pub send_log: Option<&'a SendLog>,
    /// Highest acknowledged log offset so far.
    pub max_offset: Option<&'a AtomicU64>,
    /// Set to stop early.
    pub stop: Option<&'a AtomicBool>,
}

/// Offers `rate` operations per second for `duration` (or until `stop`).
pub fn paced(w: &Workload<'_>, rate: f64, duration: Duration) -> LoadResult {
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let next = AtomicU64::new(0);
    let start = Instant::now() + Duration::from_millis(20);
    let per_writer: Vec<(Vec<f64>, Vec<f64>, Option<Instant>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..w.writers)
            .map(|_| {
                let next = &next;
                s.spawn(move || {
                    let mut c = KeepAlive::new(w.addr);
                    let (mut lat, mut late, mut last) = (Vec::new(), Vec::new(), None);
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= total || w.stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                            break;
                        }
                        let due = start + Duration::from_secs_f64(n as f64 / rate);
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                        let body = w.bodies.body(w.prefix, n);
                        let sent = Instant::now();
                        late.push((sent - due).as_secs_f64() * 1000.0);
                        one_write(w, &mut c, n, &body);
                        let done = Instant::now();
                        lat.push((done - sent).as_secs_f64() * 1000.0);
                        last = Some(last.map_or(done, |l: Instant| l.max(done)));
                    }
                    (lat, late, last)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("writer")).collect()
    });
    collect(start, per_writer)
}

/// Sends as fast as `writers` sequential clients can for `duration`.
pub fn max_throughput(w: &Workload<'_>, duration: Duration) -> LoadResult {
    let next = AtomicU64::new(0);
    let start = Instant::now();
    let end = start + duration;
    let per_writer: Vec<(Vec<f64>, Vec<f64>, Option<Instant>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..w.writers)
            .map(|_| {
                let next = &next;
                s.spawn(move || {
                    let mut c = KeepAlive::new(w.addr);
                    let (mut lat, mut last) = (Vec::new(), None);
                    while Instant::now() < end {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let body = w.bodies.body(w.prefix, n);
                        let sent = Instant::now();
                        one_write(w, &mut c, n, &body);
                        let done = Instant::now();
                        lat.push((done - sent).as_secs_f64() * 1000.0);
                        last = Some(done);
                    }
                    (lat, Vec::new(), last)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("writer")).collect()
    });
    collect(start, per_writer)
}

fn one_write(w: &Workload<'_>, c: &mut KeepAlive, n: u64, body: &[u8]) {
    if let Some(log) = w.send_log {
        log.record(n);
    }
    let (status, answer) = c.request("PUT", &api::path("/vectors"), Some(body)).expect("write");
    api::check("write", status, &answer);
    if let Some(max) = w.max_offset {
        let ack: WriteResponse = serde_json::from_slice(&answer).expect("write answer parses");
        max.fetch_max(ack.offset, Ordering::AcqRel);
    }
}

fn collect(start: Instant, per_writer: Vec<(Vec<f64>, Vec<f64>, Option<Instant>)>) -> LoadResult {
    let last = per_writer.iter().filter_map(|(_, _, l)| *l).max().unwrap_or(start);
    let latencies_ms: Vec<f64> = per_writer.iter().flat_map(|(l, _, _)| l.iter().copied()).collect();
    let lateness_ms: Vec<f64> = per_writer.iter().flat_map(|(_, l, _)| l.iter().copied()).collect();
    LoadResult {
        ops: latencies_ms.len() as u64,
        secs: last.saturating_duration_since(start).as_secs_f64(),
        latencies_ms,
        lateness_ms,
    }
}
