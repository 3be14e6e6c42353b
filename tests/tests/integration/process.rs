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
    let r = node.http().get("/health").expect("health");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    assert_eq!(r.json()["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[test]
fn version_flag() {
    let out = Command::new(vectorizer_bin())
        .arg("--version")
        .output()
        .expect("run");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("vectorizer {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn invalid_configuration_exits_2_naming_the_key() {
    let expected = r#"storage.fsync: expected "always", "os" or "every_ms:N""#;
    let (code, stderr) = refused(NodeOptions::default().args(["--fsync", "sometimes"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(expected) && stderr.contains("--fsync"),
        "{stderr}"
    );

    let (code, stderr) =
        refused(NodeOptions::default().env("VECTORIZER__STORAGE__FSYNC", "sometimes"));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(expected) && stderr.contains("VECTORIZER__STORAGE__FSYNC"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("node.toml");
    std::fs::write(&file, "[storage]\nfsync = \"os\"\nsegment_bytz = 5\n").expect("write");
    let (code, stderr) =
        refused(NodeOptions::default().args(["--config".to_owned(), file.display().to_string()]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown field `segment_bytz`"), "{stderr}");

    let (code, stderr) = refused(NodeOptions::default().env("VECTORIZER__LIMITS__MAX_BATCH", "0"));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("limits.max_batch: must be at least 1, got 0"),
        "{stderr}"
    );

    let (code, stderr) = refused(NodeOptions::default().args(["--no-such-flag"]));
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn address_in_use_exits_1_naming_it() {
    let first = start();
    let addr = first.http_addr().to_string();
    let (code, stderr) = refused(NodeOptions {
        http_addr: addr.clone(),
        ..NodeOptions::default()
    });
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr} (http.addr)")),
        "{stderr}"
    );
}

#[test]
fn json_logs_are_one_object_per_line_on_stderr() {
    let mut node = Node::start(NodeOptions::default().args(["--log-format", "json"]));
    assert!(node.terminate().success());
    let stderr = node.stderr();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("=====")).collect();
    assert!(!lines.is_empty());
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string(), "{line}");
    }
}

#[test]
fn sigterm_exits_0_and_the_node_restarts() {
    let mut node = start();
    let status = node.terminate();
    assert_eq!(status.code(), Some(0), "{}", node.stderr());
    node.restart();
    assert_eq!(node.http().get("/health").expect("health").status, 200);
}
