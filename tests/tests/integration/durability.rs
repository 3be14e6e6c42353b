//! Durability across restarts and crashes: clean restart, SIGTERM, kill -9 during acknowledged
//! writes, torn log tail, corrupted snapshot, corrupted mid-log record.
//!
//! Data dir layout used here (from the storage contract): `log/<20-digit first offset>.seg` and
//! `snapshots/*.snap`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use vectorizer_sdk_types::CollectionInfo;
use vectorizer_tests::node::{append_bytes, files_with_suffix, flip_byte};
use vectorizer_tests::{Http, Node, NodeOptions, StartFailure, poll_until};

use crate::common::{create_collection, get_point, upsert, upsert_ok};

type Points = Vec<(String, Vec<f32>, Option<serde_json::Value>)>;

fn vector_for(seed: usize) -> Vec<f32> {
    (0..8).map(|k| (seed * 8 + k) as f32 * 0.5 - 3.0).collect()
}

fn points(range: std::ops::Range<usize>) -> Points {
    range.map(|i| (format!("p{i}"), vector_for(i), Some(json!({"i": i})))).collect()
}

/// Writes each point in its own request (one log record each), asserting every acknowledgement.
fn write_one_by_one(http: &Http, collection: &str, pts: &Points) {
    for p in pts {
        upsert_ok(http, collection, std::slice::from_ref(p));
    }
}

#[track_caller]
fn assert_present(http: &Http, collection: &str, pts: &Points) {
    for (id, vector, payload) in pts {
        let got = get_point(http, collection, id).unwrap_or_else(|| panic!("acknowledged point {id} is missing"));
        assert_eq!(&got.vector, vector, "vector of {id}");
        assert_eq!(got.payload.map(serde_json::Value::Object), payload.clone(), "payload of {id}");
    }
}

fn vector_count(http: &Http, collection: &str) -> u64 {
    let info: CollectionInfo = http.get(&format!("/api/v1/collections/{collection}")).expect("info").parse();
    info.vector_count
}

fn no_auto_snapshots() -> NodeOptions {
    NodeOptions::default()
        .env("VECTORIZER__STORAGE__SNAPSHOT_EVERY_OPS", "0")
        .env("VECTORIZER__STORAGE__SNAPSHOT_EVERY_SECS", "0")
}

fn log_segments(node: &Node) -> Vec<PathBuf> {
    files_with_suffix(&node.data_dir().join("log"), ".seg")
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

#[test]
fn restart_keeps_collections_points_and_deletes() {
    let mut node = Node::start(NodeOptions::default());
    let http = node.http();
    create_collection(&http, "keep", 8, "euclidean");
    let all = points(0..40);
    upsert_ok(&http, "keep", &all);
    let r = http.post_json("/api/v1/collections/keep/vectors/delete", &json!({"ids": ["p0", "p1"]})).expect("delete");
    assert_eq!(r.status, 200, "{}", r.text());
    let before: CollectionInfo = http.get("/api/v1/collections/keep").expect("info").parse();

    node.restart();
    let http = node.http();
    let after: CollectionInfo = http.get("/api/v1/collections/keep").expect("info").parse();
    assert_eq!((after.dimension, after.metric, after.hnsw), (before.dimension, before.metric, before.hnsw));
    assert_eq!(after.vector_count, 38);
    assert_present(&http, "keep", &all[2..].to_vec());
    assert!(get_point(&http, "keep", "p0").is_none() && get_point(&http, "keep", "p1").is_none());
}

#[test]
fn sigterm_exits_0_with_os_fsync_and_data_is_durable() {
    let mut node = Node::start(NodeOptions::default().args(["--fsync", "os"]));
    let http = node.http();
    create_collection(&http, "c", 8, "cosine");
    let pts = points(0..100);
    write_one_by_one(&http, "c", &pts);
    let status = node.terminate();
    assert_eq!(status.code(), Some(0), "{}", node.stderr());
    node.restart();
    assert_present(&node.http(), "c", &pts);
    assert_eq!(vector_count(&node.http(), "c"), 100);
}

#[test]
fn kill9_during_a_stream_of_writes_loses_no_acknowledged_write() {
    let mut node = Node::start(NodeOptions::default().args(["--fsync", "always"]));
    let http = node.http().with_timeout(Duration::from_secs(10));
    create_collection(&http, "c", 8, "euclidean");
    let acked: Arc<Mutex<Points>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (http, acked, stop) = (http.clone(), Arc::clone(&acked), Arc::clone(&stop));
            std::thread::spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let p = (format!("t{t}-{i}"), vector_for(t * 1_000_000 + i), Some(json!({"t": t, "i": i})));
                    match upsert(&http, "c", std::slice::from_ref(&p)) {
                        Ok(r) if r.status == 200 => acked.lock().expect("acked").push(p),
                        Ok(r) => panic!("write refused while the node was up: {} {}", r.status, r.text()),
                        Err(_) => return, // the node is gone: this write was not acknowledged
                    }
                }
            })
        })
        .collect();
    poll_until(Duration::from_secs(120), "300 acknowledged writes", || {
        (acked.lock().expect("acked").len() >= 300).then_some(())
    });
    node.kill9();
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().expect("writer thread");
    }
    let acked = acked.lock().expect("acked").clone();

    node.restart();
    let http = node.http();
    assert_present(&http, "c", &acked);
    let count = vector_count(&http, "c");
    eprintln!("kill -9: {} writes acknowledged by 4 writers, {count} points after restart", acked.len());
    assert!(count >= acked.len() as u64, "{count} points after restart, {} acknowledged", acked.len());
    assert!(count <= acked.len() as u64 + 4, "at most one unacknowledged write per writer may have landed");
}

#[test]
fn torn_tail_is_truncated_and_everything_acknowledged_is_served() {
    let mut node = Node::start(no_auto_snapshots());
    let http = node.http();
    create_collection(&http, "c", 8, "dot");
    let first = points(0..50);
    write_one_by_one(&http, "c", &first);
    node.kill9();

    let last = log_segments(&node).pop().expect("a log segment exists");
    let original = std::fs::read(&last).expect("read segment");
    // A record header promising 200 bytes, a wrong CRC, then only part of the body: a torn write.
    let mut garbage = 200u32.to_le_bytes().to_vec();
    garbage.extend_from_slice(&[0xAB; 4]);
    garbage.extend_from_slice(&[0x5A; 37]);
    append_bytes(&last, &garbage).expect("append garbage");

    node.restart();
    let http = node.http();
    assert_present(&http, "c", &first);
    assert_eq!(vector_count(&http, "c"), 50);
    let now = std::fs::read(&last).expect("read segment");
    assert!(now.starts_with(&original), "recovery kept every acknowledged record");
    assert!(!now[original.len()..].starts_with(&garbage), "the torn tail was truncated");
    let stderr = node.stderr();
    assert!(stderr.contains(&file_name(&last)), "the truncation is reported naming the segment:\n{stderr}");

    let second = points(50..60);
    write_one_by_one(&http, "c", &second);
    assert_eq!(node.terminate().code(), Some(0));
    node.restart();
    let http = node.http();
    assert_present(&http, "c", &first);
    assert_present(&http, "c", &second);
}

#[test]
fn corrupted_snapshot_is_never_half_applied() {
    let mut node = Node::start(no_auto_snapshots());
    let http = node.http();
    create_collection(&http, "c", 8, "euclidean");
    upsert_ok(&http, "c", &points(0..20));
    assert_eq!(http.post_empty("/api/v1/snapshots").expect("snapshot").status, 200);
    upsert_ok(&http, "c", &points(20..40));
    let r = http.post_json("/api/v1/collections/c/vectors/delete", &json!({"ids": ["p0", "p1", "p2", "p3", "p4"]}));
    assert_eq!(r.expect("delete").status, 200);
    let r = http.post_empty("/api/v1/snapshots").expect("snapshot");
    assert_eq!(r.status, 200, "{}", r.text());
    upsert_ok(&http, "c", &points(40..50));
    node.kill9();

    let snaps = files_with_suffix(&node.data_dir().join("snapshots"), ".snap");
    assert!(snaps.len() >= 2, "two snapshots on disk: {snaps:?}");
    let newest = snaps
        .iter()
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .expect("newest snapshot")
        .clone();
    let len = std::fs::metadata(&newest).expect("metadata").len();
    flip_byte(&newest, len / 2).expect("flip a byte");

    match node.try_restart() {
        Err(StartFailure::Exited { status, stderr }) => {
            eprintln!("corrupted snapshot: start-up refused ({status})");
            assert_ne!(status.code(), Some(0));
            assert!(stderr.contains(&file_name(&newest)), "the refusal names the snapshot file:\n{stderr}");
        }
        Err(other) => panic!("unexpected start failure: {other}"),
        Ok(()) => {
            eprintln!("corrupted snapshot: fell back to the older snapshot + log");
            // Fallback to the older snapshot + log replay: exactly the acknowledged state.
            let http = node.http();
            let expected = points(5..50);
            assert_present(&http, "c", &expected);
            for gone in ["p0", "p1", "p2", "p3", "p4"] {
                assert!(get_point(&http, "c", gone).is_none(), "{gone} was deleted before the crash");
            }
            assert_eq!(vector_count(&http, "c"), 45);
            assert!(node.stderr().contains(&file_name(&newest)), "the rejected snapshot is reported");
        }
    }
}

#[test]
fn corrupted_mid_log_record_refuses_to_start_naming_file_and_offset() {
    let mut node = Node::start(no_auto_snapshots().env("VECTORIZER__STORAGE__SEGMENT_BYTES", "4096"));
    let http = node.http();
    create_collection(&http, "c", 8, "cosine");
    let pts: Points =
        (0..80).map(|i| (format!("p{i}"), vector_for(i), Some(json!({"pad": "x".repeat(200)})))).collect();
    write_one_by_one(&http, "c", &pts);
    node.kill9();

    let segments = log_segments(&node);
    assert!(segments.len() >= 3, "several segments: {segments:?}");
    let victim = &segments[0];
    let flipped_at = std::fs::metadata(victim).expect("metadata").len() / 2;
    flip_byte(victim, flipped_at).expect("flip");

    match node.try_restart() {
        Err(StartFailure::Exited { status, stderr }) => {
            assert_ne!(status.code(), Some(0));
            assert!(stderr.contains(&file_name(victim)), "stderr names the segment:\n{stderr}");
            let at = stderr
                .split("at byte ")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|digits| digits.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("stderr names the byte offset:\n{stderr}"));
            assert!(at <= flipped_at, "the reported record start {at} is at or before the damaged byte {flipped_at}");
        }
        Err(other) => panic!("unexpected start failure: {other}"),
        Ok(()) => panic!("a node must not start over a corrupted mid-log record"),
    }
}
