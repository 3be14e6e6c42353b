//! The Grafana dashboard and the Prometheus alert rules shipped in `docs/`: they parse, they cover
//! what an operator needs, and every metric and label their PromQL references exists in the live
//! `/metrics` of a master and its replica (so a renamed metric breaks this test, not a dashboard).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;
use vectorizer_tests::cluster::{wait_caught_up, wait_status};
use vectorizer_tests::{Node, ReplSettings};

use super::{catalogue, scrape};
use crate::replication::{create, write_points};

const DASHBOARD: &str = "docs/grafana/vectorizer-replication.json";
const ALERTS: &str = "docs/prometheus/alerts.yml";

/// Labels Prometheus adds to every scraped series (not in `/metrics` itself).
const TARGET_LABELS: [&str; 2] = ["instance", "job"];

fn read(relative: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The dashboard's panels (rows flattened) as (title, exprs).
fn dashboard_panels(dashboard: &Value) -> Vec<(String, Vec<String>)> {
    fn walk(panels: &Value, out: &mut Vec<(String, Vec<String>)>) {
        for p in panels.as_array().into_iter().flatten() {
            if p["type"] == "row" {
                walk(&p["panels"], out);
                continue;
            }
            let title = p["title"].as_str().unwrap_or_else(|| panic!("panel without a title: {p}")).to_owned();
            let exprs = p["targets"]
                .as_array()
                .unwrap_or_else(|| panic!("panel {title:?} has no targets"))
                .iter()
                .map(|t| t["expr"].as_str().unwrap_or_else(|| panic!("target without expr in {title:?}")).to_owned())
                .collect();
            assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "panel {title:?} must use the imported data source");
            out.push((title, exprs));
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// A metric selector found in a PromQL expression: name and the label names it matches on.
#[derive(Debug, PartialEq, Eq)]
struct Selector {
    metric: String,
    labels: Vec<String>,
}

const KEYWORDS: [&str; 10] =
    ["and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool"];
/// Aggregation operators: followed by `by (...)`/`without (...)` or by `(`, never metrics.
const AGGREGATIONS: [&str; 12] =
    ["sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile"];
const GROUPING: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];

/// Metric selectors and grouping labels of `expr`. Strings, range/subquery brackets, numbers and
/// durations are skipped; an identifier followed by `(` is a function unless it is a grouping
/// keyword, whose parenthesised list holds label names.
fn promql_references(expr: &str) -> (Vec<Selector>, Vec<String>) {
    let chars: Vec<char> = expr.chars().collect();
    let mut selectors = Vec::new();
    let mut grouping = Vec::new();
    let mut i = 0;
    let ident_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let ident_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let next_non_space = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '[' {
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            // a number or a duration (`5m`, `1.5`)
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if ident_start(c) {
            let start = i;
            while i < chars.len() && ident_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let after = next_non_space(i);
            let next = chars.get(after).copied();
            if GROUPING.contains(&word.as_str()) && next == Some('(') {
                let close = chars[after..].iter().position(|&c| c == ')').map(|p| after + p).expect("closing )");
                let list: String = chars[after + 1..close].iter().collect();
                grouping.extend(list.split(',').map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()));
                i = close + 1;
            } else if next == Some('(')
                || KEYWORDS.contains(&word.as_str())
                || AGGREGATIONS.contains(&word.as_str())
                || word == "offset"
            {
                // a function, or a binary/modifier keyword
            } else {
                let mut labels = Vec::new();
                if next == Some('{') {
                    let close = chars[after..].iter().position(|&c| c == '}').map(|p| after + p).expect("closing }");
                    let body: String = chars[after + 1..close].iter().collect();
                    labels = matcher_labels(&body);
                    i = close + 1;
                }
                selectors.push(Selector { metric: word, labels });
            }
        } else {
            i += 1;
        }
    }
    (selectors, grouping)
}

/// Label names of a matcher list `a="x", b=~"y|z"`.
fn matcher_labels(body: &str) -> Vec<String> {
    let mut labels = Vec::new();
    let mut in_string = false;
    let mut current = String::new();
    for c in body.chars() {
        match c {
            '"' => in_string = !in_string,
            '=' | '!' | '~' if !in_string => {
                if !current.trim().is_empty() {
                    labels.push(current.trim().to_owned());
                }
                current.clear();
            }
            ',' if !in_string => current.clear(),
            _ if !in_string => current.push(c),
            _ => {}
        }
    }
    labels
}

/// Checks every metric and label `expr` references against `known` (metric -> label names).
fn check_expr(whence: &str, expr: &str, known: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut problems = Vec::new();
    let (selectors, grouping) = promql_references(expr);
    if selectors.is_empty() {
        problems.push(format!("{whence}: no metric in {expr:?}"));
    }
    let mut available: BTreeSet<&str> = TARGET_LABELS.into_iter().collect();
    for s in &selectors {
        let Some(labels) = known.get(&s.metric) else {
            problems.push(format!("{whence}: metric {} is not in the live /metrics ({expr})", s.metric));
            continue;
        };
        available.extend(labels.iter().map(String::as_str));
        for l in &s.labels {
            if !labels.contains(l) && !TARGET_LABELS.contains(&l.as_str()) {
                problems.push(format!("{whence}: {} has no label {l} ({expr})", s.metric));
            }
        }
    }
    for l in &grouping {
        if !available.contains(l.as_str()) {
            problems.push(format!("{whence}: grouping label {l} is on none of its metrics ({expr})"));
        }
    }
    problems
}

#[test]
fn the_promql_reader_finds_metrics_labels_and_groupings() {
    let (s, g) = promql_references(
        r#"histogram_quantile(0.99, sum by (le, route) (rate(vectorizer_http_request_duration_seconds_bucket{method=~"GET|PUT", route!="x"}[$__rate_interval])))"#,
    );
    assert_eq!(
        s,
        [Selector {
            metric: "vectorizer_http_request_duration_seconds_bucket".into(),
            labels: vec!["method".into(), "route".into()]
        }]
    );
    assert_eq!(g, ["le", "route"]);
    let (s, g) = promql_references(
        r#"vectorizer_a and on (instance) (vectorizer_b{role="replica"} == 1) or time() - vectorizer_c offset 5m"#,
    );
    let metrics: Vec<&str> = s.iter().map(|x| x.metric.as_str()).collect();
    assert_eq!(metrics, ["vectorizer_a", "vectorizer_b", "vectorizer_c"]);
    assert_eq!(g, ["instance"]);
    let known: BTreeMap<String, BTreeSet<String>> =
        [("vectorizer_a".to_owned(), BTreeSet::new())].into_iter().collect();
    assert_eq!(check_expr("t", "vectorizer_a", &known), Vec::<String>::new());
    assert_eq!(check_expr("t", "vectorizer_zzz", &known).len(), 1, "an unknown metric is reported");
    assert_eq!(check_expr("t", r#"vectorizer_a{nope="1"}"#, &known).len(), 1, "an unknown label is reported");
    assert_eq!(check_expr("t", "sum by (nope) (vectorizer_a)", &known).len(), 1, "an unknown grouping label");
}

#[test]
fn dashboard_and_alerts_parse_cover_the_essentials_and_use_live_metric_names() {
    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"));
    assert_eq!(dashboard["__inputs"][0]["name"], "DS_PROMETHEUS", "importable with a data source choice");
    assert!(dashboard["uid"].is_string() && dashboard["title"].is_string() && dashboard["schemaVersion"].is_u64());
    let panels = dashboard_panels(&dashboard);
    let titles: Vec<String> = panels.iter().map(|(t, _)| t.to_lowercase()).collect();
    for topic in ["role", "lag per replica", "replica status", "per second", "bytes", "pending", "sync"] {
        assert!(titles.iter().any(|t| t.contains(topic)), "no panel about {topic:?}: {titles:?}");
    }

    let alerts: serde_norway::Value = serde_norway::from_str(&read(ALERTS)).unwrap_or_else(|e| panic!("{ALERTS}: {e}"));
    let rules = alerts["groups"][0]["rules"].as_sequence().unwrap_or_else(|| panic!("{ALERTS}: groups[0].rules"));
    let mut alert_exprs = Vec::new();
    for rule in rules {
        let name = rule["alert"].as_str().unwrap_or_else(|| panic!("rule without alert: {rule:?}"));
        let expr = rule["expr"].as_str().unwrap_or_else(|| panic!("{name}: no expr"));
        assert!(rule["labels"]["severity"].as_str().is_some(), "{name}: severity");
        assert!(rule["annotations"]["summary"].as_str().is_some(), "{name}: summary");
        assert!(rule["annotations"]["description"].as_str().is_some(), "{name}: description");
        alert_exprs.push((name.to_owned(), expr.to_owned()));
    }
    for wanted in
        ["VectorizerReplicaLagging", "VectorizerReplicaDisconnected", "VectorizerNoReplicas", "VectorizerFullSyncLoop"]
    {
        assert!(alert_exprs.iter().any(|(n, _)| n == wanted), "missing alert {wanted}");
    }

    // A live master with a replica (so per-replica and replica-side series exist), HTTP traffic
    // and a snapshot.
    let s = ReplSettings::default();
    let master = s.master();
    create(&master);
    write_points(&master, 0..10);
    let r = master.http().post_empty("/api/v1/snapshots").expect("snapshot");
    assert_eq!(r.status, 200, "{}", r.text());
    let replica: Node = s.replica(master.repl_addr());
    wait_caught_up(&master, &replica);
    // Equal data does not mean the sync is recorded yet: the last-sync series appear once it is.
    for node in [&master, &replica] {
        wait_status(node, "a completed sync recorded", |st| st.stats.as_ref()?.last_sync.as_ref().map(|_| ()));
    }
    let (on_master, on_replica) = (scrape(&master), scrape(&replica));
    let known = catalogue([on_master.as_slice(), on_replica.as_slice()]);

    let mut problems = Vec::new();
    for (title, exprs) in &panels {
        for expr in exprs {
            problems.extend(check_expr(&format!("panel {title:?}"), expr, &known));
        }
    }
    for (name, expr) in &alert_exprs {
        problems.extend(check_expr(&format!("alert {name}"), expr, &known));
    }
    assert!(problems.is_empty(), "dashboard/alert references not in the live /metrics:\n{}", problems.join("\n"));
}
