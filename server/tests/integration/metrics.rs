//! `GET /metrics` in-process: the Prometheus text format, HTTP metrics labelled by route template
//! (never the raw path), exact request counts, and the engine gauges against the engine's answers.
//! The replication numbers against `/replication/status` are compared across real processes in
//! `tests/tests/integration/observability`.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::TestApp;

/// One sample line: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text exposition; panics on any line that is not a comment or a well-formed sample.
fn parse(text: &str) -> (Vec<Sample>, BTreeMap<String, String>) {
    let mut samples = Vec::new();
    let mut types = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE line {line:?}"));
            assert!(types.insert(name.to_owned(), kind.to_owned()).is_none(), "family {name} declared twice");
            continue;
        }
        if line.starts_with('#') {
            assert!(line.starts_with("# HELP "), "unexpected comment {line:?}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad sample {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
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
    (samples, types)
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
        labels.insert(key.trim_start_matches(',').to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

async fn scrape(app: &TestApp) -> Vec<Sample> {
    let (status, content_type, text) = app.text(Method::GET, "/metrics").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let (samples, types) = parse(&text);
    // Every sample belongs to a declared family of the right kind, with conventional names.
    for s in &samples {
        let family = types
            .keys()
            .filter(|f| s.name == **f || s.name.strip_prefix(f.as_str()).is_some_and(|x| x.starts_with('_')))
            .max_by_key(|f| f.len())
            .unwrap_or_else(|| panic!("sample {} has no # TYPE", s.name));
        assert!(s.name.starts_with("vectorizer_"), "{}", s.name);
        match types[family].as_str() {
            "counter" => assert!(s.name.ends_with("_total") && family.ends_with("_total"), "{}", s.name),
            "histogram" => assert!(["_bucket", "_sum", "_count"].iter().any(|x| s.name.ends_with(x)), "{}", s.name),
            "gauge" => assert!(!s.name.ends_with("_total"), "a gauge named like a counter: {}", s.name),
            other => panic!("unexpected type {other} for {}", s.name),
        }
    }
    let keys: BTreeSet<_> = samples.iter().map(|s| (s.name.clone(), s.labels.clone())).collect();
    assert_eq!(keys.len(), samples.len(), "a series appears twice:\n{text}");
    samples
}

/// The value of the one series `name` whose labels include `labels`.
#[track_caller]
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .collect();
    assert_eq!(found.len(), 1, "{name}{labels:?}: {found:?}");
    found[0].value
}

#[tokio::test]
async fn http_metrics_count_exactly_and_label_by_route_template() {
    let app = TestApp::new();
    for _ in 0..3 {
        let (status, _) = app.empty(Method::GET, "/api/v1/collections/secret-name-1").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _) = app.empty(Method::GET, "/no/such/route/secret-name-2").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.empty(Method::DELETE, "/health").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = app.empty(Method::GET, "/health").await;
    assert_eq!(status, StatusCode::OK);

    let samples = scrape(&app).await;
    let requests = "vectorizer_http_requests_total";
    let route = "/api/v1/collections/{name}";
    assert_eq!(value(&samples, requests, &[("method", "GET"), ("route", route), ("status", "404")]), 3.0);
    assert_eq!(value(&samples, requests, &[("method", "GET"), ("route", "unmatched"), ("status", "404")]), 1.0);
    assert_eq!(value(&samples, requests, &[("method", "DELETE"), ("route", "/health"), ("status", "405")]), 1.0);
    assert_eq!(value(&samples, requests, &[("method", "GET"), ("route", "/health"), ("status", "200")]), 1.0);
    let count = "vectorizer_http_request_duration_seconds_count";
    assert_eq!(value(&samples, count, &[("method", "GET"), ("route", route)]), 3.0);
    let inf = value(
        &samples,
        "vectorizer_http_request_duration_seconds_bucket",
        &[("method", "GET"), ("route", route), ("le", "+Inf")],
    );
    assert_eq!(inf, 3.0);
    for s in &samples {
        for v in s.labels.values() {
            assert!(!v.contains("secret-name"), "a raw path leaked into a label: {s:?}");
        }
    }
    // The scrape itself is counted by the next one.
    let again = scrape(&app).await;
    assert_eq!(value(&again, requests, &[("method", "GET"), ("route", "/metrics"), ("status", "200")]), 1.0);
}

#[tokio::test]
async fn engine_gauges_match_the_engine() {
    let app = TestApp::new();
    let before = scrape(&app).await;
    assert_eq!(value(&before, "vectorizer_collections", &[]), 0.0);
    assert_eq!(value(&before, "vectorizer_snapshot_size_bytes", &[]), 0.0, "no snapshot yet");
    // Without replication: the role is master, replication is off, and no stats series exist.
    assert_eq!(value(&before, "vectorizer_replication_enabled", &[]), 0.0);
    assert_eq!(value(&before, "vectorizer_replication_role", &[("role", "master")]), 1.0);
    assert_eq!(value(&before, "vectorizer_replication_role", &[("role", "replica")]), 0.0);
    assert!(before.iter().all(|s| s.name != "vectorizer_replication_lag_seconds"), "stats are null");

    for (name, dim) in [("a", 2), ("b", 3)] {
        let (status, _) = app.json(Method::POST, "/api/v1/collections", &json!({"name": name, "dimension": dim})).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let points = json!({"vectors": [
        {"id": "1", "vector": [1.0, 0.0]}, {"id": "2", "vector": [0.0, 1.0]}, {"id": "3", "vector": [1.0, 1.0]}
    ]});
    let (status, written) = app.json(Method::PUT, "/api/v1/collections/a/vectors", &points).await;
    assert_eq!(status, StatusCode::OK, "{written}");
    let (status, snapshot) = app.empty(Method::POST, "/api/v1/snapshots").await;
    assert_eq!(status, StatusCode::OK, "{snapshot}");

    let after = scrape(&app).await;
    assert_eq!(value(&after, "vectorizer_collections", &[]), 2.0);
    assert_eq!(value(&after, "vectorizer_vectors", &[]), 3.0);
    assert_eq!(value(&after, "vectorizer_collection_vectors", &[("collection", "a")]), 3.0);
    assert_eq!(value(&after, "vectorizer_collection_vectors", &[("collection", "b")]), 0.0);
    let indexed = value(&after, "vectorizer_collection_indexed_vectors", &[("collection", "a")]);
    assert!((0.0..=3.0).contains(&indexed), "{indexed}");
    assert_eq!(value(&after, "vectorizer_log_last_offset", &[]), written["offset"].as_f64().expect("offset"));
    assert_eq!(value(&after, "vectorizer_snapshot_size_bytes", &[]), snapshot["bytes"].as_f64().expect("bytes"));
    assert_eq!(value(&after, "vectorizer_snapshot_offset", &[]), snapshot["offset"].as_f64().expect("offset"));
    let duration = value(&after, "vectorizer_snapshot_duration_seconds", &[]);
    assert!(duration > 0.0 && duration < 60.0, "the snapshot's measured write time: {duration}");
    let created = chrono::DateTime::parse_from_rfc3339(snapshot["created_at"].as_str().expect("created_at"))
        .expect("RFC 3339")
        .timestamp_millis() as f64
        / 1000.0;
    assert_eq!(value(&after, "vectorizer_snapshot_timestamp_seconds", &[]), created);
    assert!(value(&after, "vectorizer_log_fsyncs_total", &[]) >= 1.0);
    assert_eq!(value(&after, "vectorizer_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
}

#[tokio::test]
async fn replication_metrics_follow_the_role() {
    let app = TestApp::replicated(|_| {}).await;
    let master = scrape(&app).await;
    assert_eq!(value(&master, "vectorizer_replication_enabled", &[]), 1.0);
    assert_eq!(value(&master, "vectorizer_replication_role", &[("role", "master")]), 1.0);
    assert_eq!(value(&master, "vectorizer_replication_connected_replicas", &[]), 0.0);
    assert_eq!(value(&master, "vectorizer_replication_buffer_overflows_total", &[]), 0.0);
    assert!(master.iter().all(|s| s.name != "vectorizer_replication_link_status"), "no link on a master");

    // Following an address where nothing listens: a replica whose link is Disconnected.
    let (status, body) =
        app.json(Method::POST, "/api/v1/replication/replicaof", &json!({"master": "127.0.0.1:1"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let replica = scrape(&app).await;
    assert_eq!(value(&replica, "vectorizer_replication_role", &[("role", "replica")]), 1.0);
    assert_eq!(value(&replica, "vectorizer_replication_role", &[("role", "master")]), 0.0);
    assert_eq!(value(&replica, "vectorizer_replication_link_status", &[("status", "Disconnected")]), 1.0);
    for other in ["Connected", "Syncing", "Lagging"] {
        assert_eq!(value(&replica, "vectorizer_replication_link_status", &[("status", other)]), 0.0);
    }
    assert!(replica.iter().all(|s| s.name != "vectorizer_replication_connected_replicas"), "null on a replica");
    app.shutdown().await;
}
