//! Prometheus metrics of a node, served by `GET /metrics` in the Prometheus text format (0.0.4).
//!
//! - [`http`]: request counts and latency histograms, recorded by a middleware as requests finish.
//! - [`node`]: engine and replication numbers, computed at scrape time from one read of the engine
//!   and one `Replication::status()` (so they are the numbers `/api/v1/replication/status` gives).
//!
//! Invariant: the exposition is produced by `prometheus-client` (no hand-formatted text), names
//! follow the Prometheus conventions (base units, `_seconds`, `_bytes`, counters end in `_total`),
//! and no label carries an unbounded value taken from a request (routes are templates; collection
//! and replica ids are objects the operator created). Names and meanings: `docs/MONITORING.md`.

pub mod http;
pub mod node;

use std::fmt;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::registry::Registry;
use vectorizer_core::cluster::Controller;
use vectorizer_core::engine::Engine;
use vectorizer_core::replication::Replication;

use self::http::HttpMetrics;
use self::node::NodeSnapshot;

/// `Content-Type` of the `/metrics` answer.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The metrics state of a node: the live HTTP families (node metrics are computed per scrape).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Recorded by [`http::track`].
    pub http: HttpMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry);
        Self { registry, http }
    }
}

impl Metrics {
    /// The whole exposition: node metrics as of now, then the HTTP families. Blocking (reads the
    /// replication status): call it on the blocking pool.
    pub fn render(
        &self,
        engine: &Engine,
        replication: Option<&Replication>,
        cluster: Option<&Controller>,
    ) -> Result<String, fmt::Error> {
        render_snapshot(NodeSnapshot::take(engine, replication, cluster), &self.registry)
    }
}

/// Encodes `snapshot` followed by the families of `live`.
pub fn render_snapshot(snapshot: NodeSnapshot, live: &Registry) -> Result<String, fmt::Error> {
    let mut scrape = Registry::default();
    scrape.register_collector(Box::new(snapshot));
    let mut out = String::new();
    prometheus_text::encode(&mut out, &scrape)?;
    prometheus_text::encode(&mut out, live)?;
    Ok(out)
}
