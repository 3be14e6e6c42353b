//! The process contract: ready line, --version, exit codes, configuration errors, SIGTERM.

use std::process::Command;

use vectorizer_tests::{Node, NodeOptions, StartFailure, vectorizer_bin};

use crate::common::start;

#[track_caller]
fn refused(opts: NodeOptions) -> (i32, String) {
    match Node::try_start(opts) {
        Err(StartFailure::Exited { status, stderr }) => (status.code().unwrap_or(-1), stderr),
        Err(other) => panic!("expected the node to exit, got: {other}"),
        Ok(_) => panic!("expected the node to refuse to start"),
    }
}

#[test]
fn ready_line_then_health() {
    let node = start();
    let data_dir = std::fs::canonicalize(node.data_dir()).expect("data dir exists");
    let expected = serde_json::json!({
        "event": "ready",
        "http_addr": node.http_addr().to_string(),
        "data_dir": data_dir,
        "repl_addr": null,
        "node_id": null,
    });
    let line = node.ready_line().expect("ready line");
    assert!(line.starts_with(r#"{"event":"ready","http_addr":"127.0.0.1:"#), "{line}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(line).expect("JSON"), expected);
    let r = node.http().get("/health").expect("health");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    assert_eq!(r.json()["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[test]
fn version_flag() {
    let out = Command::new(vectorizer_bin()).arg("--version").output().expect("run");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("vectorizer {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn invalid_configuration_exits_2_naming_the_key() {
    let expected = r#"storage.fsync: expected "always", "os" or "every_ms:N""#;
    let (code, stderr) = refused(NodeOptions::default().args(["--fsync", "sometimes"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(expected) && stderr.contains("--fsync"), "{stderr}");

    let (code, stderr) = refused(NodeOptions::default().env("VECTORIZER__STORAGE__FSYNC", "sometimes"));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(expected) && stderr.contains("VECTORIZER__STORAGE__FSYNC"), "{stderr}");

    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("node.toml");
    std::fs::write(&file, "[storage]\nfsync = \"os\"\nsegment_bytz = 5\n").expect("write");
    let (code, stderr) = refused(NodeOptions::default().args(["--config".to_owned(), file.display().to_string()]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown field `segment_bytz`"), "{stderr}");

    let (code, stderr) = refused(NodeOptions::default().env("VECTORIZER__LIMITS__MAX_BATCH", "0"));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("limits.max_batch: must be at least 1, got 0"), "{stderr}");

    let (code, stderr) = refused(NodeOptions::default().args(["--no-such-flag"]));
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn address_in_use_exits_1_naming_it() {
    let first = start();
    let addr = first.http_addr().to_string();
    let (code, stderr) = refused(NodeOptions { http_addr: addr.clone(), ..NodeOptions::default() });
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&format!("cannot listen on {addr} (http.addr)")), "{stderr}");
}

#[test]
fn json_logs_are_one_object_per_line_on_stderr() {
    let mut node = Node::start(NodeOptions::default().args(["--log-format", "json"]));
    assert!(node.terminate().success());
    let stderr = node.stderr();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("=====")).collect();
    assert!(!lines.is_empty());
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string(), "{line}");
    }
}

#[test]
fn kill9_then_restart_on_the_same_port() {
    let mut node = start();
    let addr = node.http_addr();
    node.kill9();
    assert!(!node.is_running());
    node.restart_on_same_port();
    assert_eq!(node.http_addr(), addr);
    assert_eq!(node.http().get("/health").expect("health").status, 200);
}

#[test]
fn sigterm_exits_0_and_the_node_restarts() {
    let mut node = start();
    let status = node.terminate();
    assert_eq!(status.code(), Some(0), "{}", node.stderr());
    node.restart();
    assert_eq!(node.http().get("/health").expect("health").status, 200);
}

/// Sends the head and the first half of a request body, leaving the request in flight.
fn half_sent_request(node: &Node, body: &[u8]) -> std::net::TcpStream {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(node.http_addr()).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(60))).expect("timeout");
    let head = format!(
        "POST /api/v1/collections HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("head");
    s.write_all(&body[..body.len() / 2]).expect("first half");
    s
}

fn send_sigterm(node: &Node) {
    let pid = libc::pid_t::try_from(node.pid().expect("running")).expect("pid");
    // SAFETY: kill(2) on the child process this test owns.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
}

#[test]
fn sigterm_lets_in_flight_requests_finish_and_refuses_new_connections() {
    use std::io::{Read, Write};
    let mut node = start();
    let addr = node.http_addr();
    let body = br#"{"name":"inflight","dimension":3}"#;
    let mut in_flight = half_sent_request(&node, body);
    // The request is in flight once the node has accepted it; prove the node is serving by a round trip.
    assert_eq!(node.http().get("/health").expect("health").status, 200);

    send_sigterm(&node);
    vectorizer_tests::poll_until(std::time::Duration::from_secs(30), "the listener stops accepting", || {
        std::net::TcpStream::connect(addr).is_err().then_some(())
    });
    in_flight.write_all(&body[body.len() / 2..]).expect("second half");
    let mut answer = String::new();
    in_flight.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 "), "the in-flight request got an answer: {answer:?}");
    assert!(answer.contains(r#""code":"#) || answer.contains(r#""offset":"#), "{answer}");

    let status = node.wait_exit(std::time::Duration::from_secs(30)).expect("node exits");
    assert_eq!(status.code(), Some(0), "{}", node.stderr());
}

#[test]
fn sigterm_waits_for_a_stuck_request_only_a_bounded_time() {
    let mut node = start();
    let _stuck = half_sent_request(&node, br#"{"name":"stuck","dimension":3}"#);
    assert_eq!(node.http().get("/health").expect("health").status, 200);
    send_sigterm(&node);
    let status = node.wait_exit(std::time::Duration::from_secs(60)).expect("node exits despite the stuck client");
    assert_eq!(status.code(), Some(0), "{}", node.stderr());
    assert!(node.stderr().contains("did not finish in time"), "{}", node.stderr());
}

#[test]
fn ready_line_with_replication_names_its_address_and_node_id() {
    let mut node = Node::start(NodeOptions::default().args(["--repl-addr", "127.0.0.1:0"]));
    let line = node.ready_line().expect("ready").to_owned();
    let positions: Vec<usize> = ["\"event\":", "\"http_addr\":", "\"data_dir\":", "\"repl_addr\":", "\"node_id\":"]
        .iter()
        .map(|k| line.find(k).unwrap_or_else(|| panic!("{k} missing from {line}")))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "documented field order: {line}");
    let repl = node.repl_addr();
    assert!(repl.ip().is_loopback() && repl.port() != 0, "{repl}");
    let id = node.node_id();
    assert!(!id.is_empty());
    // The node id is stable across restarts (persisted in the data dir).
    node.restart();
    assert_eq!(node.node_id(), id);
    let status = node.http().get("/api/v1/replication/status").expect("status").json();
    assert_eq!((status["role"].as_str(), status["enabled"].as_bool()), (Some("master"), Some(true)), "{status}");
    assert_eq!(node.terminate().code(), Some(0), "{}", node.stderr());
}

#[test]
fn replication_configuration_errors_exit_2_naming_the_key() {
    let (code, stderr) = refused(NodeOptions::default().args(["--repl-addr", "0.0.0.0:0"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("replication.auth_secret: required because replication.addr (0.0.0.0:0)"), "{stderr}");
    let (code, stderr) = refused(NodeOptions::default().args(["--replica-of", "nowhere"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("replication.replica_of: expected host:port") && stderr.contains("--replica-of"),
        "{stderr}"
    );
    let (code, stderr) = refused(
        NodeOptions::default()
            .args(["--repl-addr", "127.0.0.1:0"])
            .env("VECTORIZER__REPLICATION__LAGGING_THRESHOLD_MS", "5000")
            .env("VECTORIZER__REPLICATION__DISCONNECT_TIMEOUT_MS", "2000"),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("replication.lagging_threshold_ms: must be less than"), "{stderr}");
}

#[test]
fn replication_address_in_use_exits_1_naming_it() {
    let first = Node::start(NodeOptions::default().args(["--repl-addr", "127.0.0.1:0"]));
    let taken = first.repl_addr().to_string();
    let (code, stderr) = refused(NodeOptions::default().args(["--repl-addr", taken.as_str()]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&format!("cannot start replication on {taken} (replication.addr)")), "{stderr}");
}
