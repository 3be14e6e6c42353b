//! Helpers shared by the test modules: starting nodes, typed calls, data generation.

use std::io;

use serde_json::{Value, json};
use vectorizer_sdk_types::PointRecord;
use vectorizer_tests::{Http, Node, NodeOptions, Response};

/// A node with default options.
pub fn start() -> Node {
    Node::start(NodeOptions::default())
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for ids in paths.
pub fn encode(id: &str) -> String {
    let mut out = String::new();
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Creates a collection and asserts 201.
#[track_caller]
pub fn create_collection(http: &Http, name: &str, dimension: u32, metric: &str) {
    let r = http
        .post_json("/api/v1/collections", &json!({"name": name, "dimension": dimension, "metric": metric}))
        .expect("create collection");
    assert_eq!(r.status, 201, "create collection: {}", r.text());
}

/// `PUT /vectors` with `(id, vector, payload)` points.
pub fn upsert(http: &Http, collection: &str, points: &[(String, Vec<f32>, Option<Value>)]) -> io::Result<Response> {
    let vectors: Vec<Value> = points.iter().map(|(id, v, p)| json!({"id": id, "vector": v, "payload": p})).collect();
    http.put_json(&format!("/api/v1/collections/{collection}/vectors"), &json!({"vectors": vectors}))
}

/// Upserts and asserts 200.
#[track_caller]
pub fn upsert_ok(http: &Http, collection: &str, points: &[(String, Vec<f32>, Option<Value>)]) {
    let r = upsert(http, collection, points).expect("upsert");
    assert_eq!(r.status, 200, "upsert: {}", r.text());
}

/// Fetches a point; `None` on 404 `point_not_found`.
#[track_caller]
pub fn get_point(http: &Http, collection: &str, id: &str) -> Option<PointRecord> {
    let r = http.get(&format!("/api/v1/collections/{collection}/vectors/{}", encode(id))).expect("get point");
    match r.status {
        200 => Some(r.parse()),
        404 => {
            assert_eq!(r.error_code().as_deref(), Some("point_not_found"), "{}", r.text());
            None
        }
        other => panic!("get point {id}: {other} {}", r.text()),
    }
}
