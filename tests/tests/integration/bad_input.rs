//! Every bad-input class reaches the client as the right 4xx JSON error, over real HTTP.

use serde_json::json;
use vectorizer_tests::{Http, Node, NodeOptions, Response};

use crate::common::create_collection;

#[track_caller]
fn assert_error(r: &Response, status: u16, code: &str, needles: &[&str]) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some(code), "{}", r.text());
    let message = r.error_message().unwrap_or_default();
    for needle in needles {
        assert!(message.contains(needle), "message {message:?} lacks {needle:?}");
    }
}

const COLLECTIONS: &str = "/api/v1/collections";

#[test]
fn request_level_rejections() {
    let node = Node::start(NodeOptions::default().env("VECTORIZER__HTTP__MAX_BODY_BYTES", "2000"));
    let http = node.http();
    let ct = Some("application/json");

    let r = http.request("POST", COLLECTIONS, ct, b"{\"name\":").expect("send");
    assert_error(&r, 400, "malformed_json", &["not valid JSON"]);
    let r = http.request("POST", COLLECTIONS, ct, br#"{"name":"a","dimension":NaN}"#).expect("send");
    assert_error(&r, 400, "malformed_json", &["not valid JSON"]);
    let r = http.post_json(COLLECTIONS, &json!({"name": "a", "dimension": "three"})).expect("send");
    assert_error(&r, 400, "malformed_json", &["dimension: invalid type: string \"three\""]);
    let r = http.post_json(COLLECTIONS, &json!({"dimension": 3})).expect("send");
    assert_error(&r, 400, "malformed_json", &["missing field `name`"]);
    let r = http.post_json(COLLECTIONS, &json!({"name": "a", "dimension": 1e20})).expect("send");
    assert_error(&r, 400, "malformed_json", &["dimension"]);
    let r = http
        .put_json("/api/v1/collections/c/vectors", &json!({"vectors": [{"id": "a", "vector": [1.0], "payload": [1]}]}))
        .expect("send");
    assert_error(&r, 400, "malformed_json", &["vectors[0].payload", "expected an object"]);

    let body = br#"{"name":"a","dimension":3}"#;
    let r = http.request("POST", COLLECTIONS, None, body).expect("send");
    assert_error(&r, 415, "unsupported_media_type", &["application/json"]);
    let r = http.request("POST", COLLECTIONS, Some("text/plain"), body).expect("send");
    assert_error(&r, 415, "unsupported_media_type", &["text/plain"]);

    let big = json!({"vectors": [{"id": "a", "vector": vec![0.25_f32; 1000]}]});
    let r = http.put_json("/api/v1/collections/c/vectors", &big).expect("send");
    assert_error(&r, 413, "payload_too_large", &["2000 bytes"]);

    assert_error(&http.get("/api/v1/nothing").expect("send"), 404, "not_found", &["/api/v1/nothing"]);
    assert_error(&http.delete("/health").expect("send"), 405, "method_not_allowed", &[]);
    assert_error(&http.request("PATCH", COLLECTIONS, None, b"").expect("send"), 405, "method_not_allowed", &[]);
}

fn point(id: &str, v: &[f32]) -> serde_json::Value {
    json!({"id": id, "vector": v})
}

fn put(http: &Http, collection: &str, points: Vec<serde_json::Value>) -> Response {
    http.put_json(&format!("/api/v1/collections/{collection}/vectors"), &json!({"vectors": points})).expect("send")
}

#[test]
fn engine_level_rejections() {
    let node = Node::start(NodeOptions::default().env("VECTORIZER__LIMITS__MAX_PAYLOAD_BYTES", "100"));
    let http = node.http();
    for (body, needle) in [
        (json!({"name": "bad name!", "dimension": 3}), "name"),
        (json!({"name": "a", "dimension": 0}), "dimension"),
        (json!({"name": "a", "dimension": 70000}), "dimension"),
        (json!({"name": "a", "dimension": 3, "hnsw": {"m": 1000}}), "hnsw.m"),
        (json!({"name": "a", "dimension": 3, "hnsw": {"ef_construction": 1}}), "hnsw.ef_construction"),
    ] {
        assert_error(&http.post_json(COLLECTIONS, &body).expect("send"), 400, "invalid_argument", &[needle]);
    }
    create_collection(&http, "c", 3, "cosine");
    let r = http.post_json(COLLECTIONS, &json!({"name": "c", "dimension": 3})).expect("send");
    assert_error(&r, 409, "collection_exists", &["'c'"]);

    assert_error(&put(&http, "c", vec![point("a", &[1.0])]), 400, "dimension_mismatch", &["vectors[0].vector"]);
    let r = http
        .put_json("/api/v1/collections/c/vectors", &json!({"vectors": [{"id": "a", "vector": [1.0, 3e38, 1e300]}]}))
        .expect("send");
    assert_error(&r, 400, "invalid_argument", &["vectors[0].vector[2]", "finite"]);
    let r = http
        .put_json(
            "/api/v1/collections/c/vectors",
            &json!({"vectors": [{"id": "a", "vector": [1.0, 0.0, 0.0], "payload": {"t": "x".repeat(500)}}]}),
        )
        .expect("send");
    assert_error(&r, 413, "payload_too_large", &["vectors[0].payload", "100"]);
    assert_error(&put(&http, "c", vec![]), 400, "invalid_argument", &["vectors"]);
    let many: Vec<_> = (0..10_001).map(|i| point(&i.to_string(), &[1.0, 0.0, 0.0])).collect();
    assert_error(&put(&http, "c", many), 400, "invalid_argument", &["vectors"]);
    assert_error(&put(&http, "c", vec![point("", &[1.0, 0.0, 0.0])]), 400, "invalid_argument", &["vectors[0].id"]);
    let long = "x".repeat(257);
    assert_error(&put(&http, "c", vec![point(&long, &[1.0, 0.0, 0.0])]), 400, "invalid_argument", &["vectors[0].id"]);

    let search = |body: serde_json::Value| http.post_json("/api/v1/collections/c/search", &body).expect("send");
    assert_error(&search(json!({"vector": [1.0, 0.0, 0.0], "limit": 0})), 400, "invalid_argument", &["limit"]);
    assert_error(&search(json!({"vector": [1.0, 0.0, 0.0], "limit": 10_001})), 400, "invalid_argument", &["limit"]);
    assert_error(&search(json!({"vector": [1.0]})), 400, "dimension_mismatch", &[]);

    assert_error(&put(&http, "missing", vec![point("a", &[1.0])]), 404, "collection_not_found", &["'missing'"]);
    assert_error(&http.get("/api/v1/collections/missing").expect("send"), 404, "collection_not_found", &[]);
    assert_error(&http.get("/api/v1/collections/c/vectors/nope").expect("send"), 404, "point_not_found", &["'nope'"]);
    let r = http.post_json("/api/v1/collections/c/vectors/delete", &json!({"ids": []})).expect("send");
    assert_error(&r, 400, "invalid_argument", &["ids"]);
    assert!(node.stderr().lines().all(|l| !l.contains("ERROR")), "user errors are never logged as server faults");
}
