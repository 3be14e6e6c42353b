//! Structured logs: with `--log-format json` every stderr line is one JSON object (timestamp,
//! level, fields, target), and a replica going Lagging or Disconnected is a WARN event naming the
//! replica and both states, on the master and on the replica.

use std::time::Duration;

use serde_json::Value;
use vectorizer_tests::cluster::{WAIT, wait_caught_up};
use vectorizer_tests::{Direction, Node, ReplSettings, poll_until};

use crate::replication::{Writer, create, write_points};

const JSON: [&str; 2] = ["--log-format", "json"];

/// Every log event of `node` so far (the harness's `===== start #N =====` separators skipped);
/// panics on a line that is not a JSON object.
fn events(node: &Node) -> Vec<Value> {
    node.stderr()
        .lines()
        .filter(|l| !l.starts_with("====="))
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"));
            assert!(v.is_object() && v["level"].is_string() && v["timestamp"].is_string(), "{l}");
            assert!(v["fields"]["message"].is_string(), "{l}");
            v
        })
        .collect()
}

/// Waits for an event of `level` whose message is `message` and whose fields include `fields`.
#[track_caller]
fn wait_event(node: &Node, level: &str, message: &str, fields: &[(&str, &str)]) -> Value {
    poll_until(WAIT, &format!("a {level} {message:?} event with {fields:?}"), || {
        events(node).into_iter().find(|e| {
            e["level"] == level
                && e["fields"]["message"] == message
                && fields.iter().all(|(k, v)| e["fields"][*k].as_str() == Some(*v))
        })
    })
}

#[test]
fn json_logs_warn_on_replica_status_transitions() {
    let s = ReplSettings::default();
    let master = Node::start(s.options().args(JSON));
    let proxy = vectorizer_tests::Proxy::start(master.repl_addr()).expect("proxy");
    let replica = Node::start(s.options().args(JSON).args(["--replica-of".to_owned(), proxy.addr().to_string()]));
    let id = replica.node_id();
    create(&master);
    write_points(&master, 0..5);
    wait_caught_up(&master, &replica);
    wait_event(&master, "INFO", "replica status changed", &[("replica_id", &id), ("to", "Connected")]);

    // Acks delayed past the lagging threshold (300 ms) while writes flow: Lagging is a warning.
    proxy.set_delay(Direction::UpstreamToClient, Duration::from_millis(800));
    let writer = Writer::start(&master, 100);
    let lagging = wait_event(&master, "WARN", "replica status changed", &[("replica_id", &id), ("to", "Lagging")]);
    assert!(lagging["fields"]["lag_ms"].as_u64().is_some_and(|ms| ms > 300), "{lagging}");
    writer.stop();
    proxy.set_delay(Direction::UpstreamToClient, Duration::ZERO);
    wait_caught_up(&master, &replica);

    // The link is cut and stays refused: Disconnected is a warning on both sides.
    proxy.refuse(true);
    proxy.cut();
    let down = wait_event(&master, "WARN", "replica status changed", &[("replica_id", &id), ("to", "Disconnected")]);
    assert!(down["fields"]["from"].is_string(), "{down}");
    let master_addr = proxy.addr().to_string();
    wait_event(&replica, "WARN", "replication link is disconnected", &[("master", &master_addr)]);

    // Every line of both nodes was a JSON object (checked by `events`), with a target.
    for node in [&master, &replica] {
        assert!(events(node).iter().all(|e| e["target"].is_string()));
    }
}
