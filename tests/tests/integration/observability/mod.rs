//! Observability across real processes: `/metrics` against `/api/v1/replication/status`, the
//! Grafana dashboard and Prometheus alert rules against a live exposition, and JSON logs with a
//! warning on replica status transitions.
//!
//! - `status_metrics`: every field both expose is equal (master with a connected and a
//!   disconnected replica; a replica).
//! - `dashboards`: `docs/grafana/*.json` and `docs/prometheus/alerts.yml` parse, and every metric and
//!   label their PromQL references exists in the live output of a master and its replica.
//! - `logs`: `--log-format json` gives one JSON object per line; status transitions are warnings.

mod dashboards;
mod logs;
mod status_metrics;

use std::collections::{BTreeMap, BTreeSet};

use vectorizer_tests::Node;

/// One sample line of the exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// `GET /metrics` of `node`, parsed (asserts the status and the content type).
#[track_caller]
pub fn scrape(node: &Node) -> Vec<Sample> {
    let r = node.http().get("/metrics").unwrap_or_else(|e| panic!("/metrics: {e}"));
    assert_eq!(r.status, 200, "/metrics: {}", r.text());
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    parse(&r.text())
}

/// Parses the Prometheus text format; panics on a malformed line.
pub fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad sample {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|e| panic!("bad value in {line:?}: {e}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
                (name.to_owned(), parse_labels(body))
            }
        };
        samples.push(Sample { name, labels, value });
    }
    samples
}

fn parse_labels(body: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("bad labels {body:?}"));
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => panic!("bad escape in {body:?}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in {body:?}"),
            }
        };
        labels.insert(key.to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

/// Metric name -> every label name seen on its series, over several expositions.
pub fn catalogue<'a>(expositions: impl IntoIterator<Item = &'a [Sample]>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for samples in expositions {
        for s in samples {
            out.entry(s.name.clone()).or_default().extend(s.labels.keys().cloned());
        }
    }
    out
}
