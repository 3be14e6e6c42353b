//! Rejections that happen before the engine is called.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::{TestApp, assert_error};

const COLLECTIONS: &str = "/api/v1/collections";

#[tokio::test]
async fn health_answers_ok_and_version() {
    let app = TestApp::new();
    let (status, body) = app.empty(Method::GET, "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}));
}

#[tokio::test]
async fn malformed_json_is_400_with_position() {
    let app = TestApp::new();
    let bad = app.raw(Method::POST, COLLECTIONS, Some("application/json"), b"{\"name\": \"a\",".to_vec()).await;
    assert_error(&bad, 400, "malformed_json", &["not valid JSON", "line 1 column"]);
    let nan =
        app.raw(Method::POST, COLLECTIONS, Some("application/json"), br#"{"name":"a","dimension":NaN}"#.to_vec()).await;
    assert_error(&nan, 400, "malformed_json", &["not valid JSON"]);
    let inf = app
        .raw(
            Method::POST,
            "/api/v1/collections/c/search",
            Some("application/json"),
            br#"{"vector":[Infinity]}"#.to_vec(),
        )
        .await;
    assert_error(&inf, 400, "malformed_json", &["not valid JSON"]);
    let empty = app.raw(Method::POST, COLLECTIONS, Some("application/json"), Vec::new()).await;
    assert_error(&empty, 400, "malformed_json", &["EOF"]);
    let array = app.json(Method::POST, COLLECTIONS, &json!(["a", 3])).await;
    assert_error(&array, 400, "malformed_json", &["expected an object"]);
}

#[tokio::test]
async fn wrong_types_and_missing_fields_name_the_path() {
    let app = TestApp::new();
    let cases = [
        (COLLECTIONS, json!({"name": "a"}), "request body: missing field `dimension`"),
        (COLLECTIONS, json!({"name": 7, "dimension": 3}), "name: invalid type: integer `7`, expected a string"),
        (
            COLLECTIONS,
            json!({"name": "a", "dimension": "3"}),
            "dimension: invalid type: string \"3\", expected an integer",
        ),
        (
            COLLECTIONS,
            json!({"name": "a", "dimension": -1}),
            "dimension: invalid value: integer `-1`, expected an integer from 0 to 4294967295",
        ),
        (COLLECTIONS, json!({"name": "a", "dimension": 1e12}), "dimension: invalid type: number"),
        (
            COLLECTIONS,
            json!({"name": "a", "dimension": 3, "metric": "manhattan"}),
            "metric: unknown variant `manhattan`",
        ),
        (COLLECTIONS, json!({"name": "a", "dimension": 3, "hnsw": {"m": "big"}}), "hnsw.m: invalid type: string"),
        ("/api/v1/collections/c/vectors", json!({"vectors": [{"id": "a"}]}), "vectors[0]: missing field `vector`"),
        (
            "/api/v1/collections/c/vectors",
            json!({"vectors": [{"id": "a", "vector": [1, "x"]}]}),
            "vectors[0].vector[1]: invalid type: string \"x\", expected a number",
        ),
        (
            "/api/v1/collections/c/vectors",
            json!({"vectors": [{"id": 5, "vector": [1]}]}),
            "vectors[0].id: invalid type: integer `5`, expected a string",
        ),
        (
            "/api/v1/collections/c/vectors",
            json!({"vectors": {"id": "a"}}),
            "vectors: invalid type: object, expected an array",
        ),
        ("/api/v1/collections/c/search", json!({"vector": [1], "limit": -1}), "limit: invalid value: integer `-1`"),
        (
            "/api/v1/collections/c/search",
            json!({"vector": [1], "with_payload": "yes"}),
            "with_payload: invalid type: string \"yes\", expected a boolean",
        ),
        (
            "/api/v1/collections/c/vectors/delete",
            json!({"ids": "a"}),
            "ids: invalid type: string \"a\", expected an array",
        ),
        ("/api/v1/replication/replicaof", json!({"master": 5}), "master: invalid type: integer `5`"),
    ];
    for (uri, body, expected) in cases {
        let method = if uri.ends_with("/vectors") { Method::PUT } else { Method::POST };
        let answer = app.json(method, uri, &body).await;
        assert_error(&answer, 400, "malformed_json", &[expected]);
        let message = answer.1["error"]["message"].as_str().unwrap_or_default().to_owned();
        for rust in ["u32", "usize", "u64", "f32", "struct ", "sequence", " map"] {
            assert!(!message.contains(rust), "{message:?} leaks {rust:?}");
        }
    }
}

#[tokio::test]
async fn non_object_payload_is_rejected() {
    let app = TestApp::new();
    for payload in [json!([1, 2]), json!("text"), json!(5), json!(true)] {
        let body = json!({"vectors": [{"id": "a", "vector": [1.0], "payload": payload}]});
        let answer = app.json(Method::PUT, "/api/v1/collections/c/vectors", &body).await;
        assert_error(&answer, 400, "malformed_json", &["vectors[0].payload: invalid type", "expected an object"]);
    }
}

#[tokio::test]
async fn wrong_or_missing_content_type_is_415() {
    let app = TestApp::new();
    let body = br#"{"name":"a","dimension":3}"#.to_vec();
    let none = app.raw(Method::POST, COLLECTIONS, None, body.clone()).await;
    assert_error(&none, 415, "unsupported_media_type", &["application/json", "no Content-Type"]);
    let text = app.raw(Method::POST, COLLECTIONS, Some("text/plain"), body.clone()).await;
    assert_error(&text, 415, "unsupported_media_type", &["text/plain"]);
    let form =
        app.raw(Method::PUT, "/api/v1/collections/a/vectors", Some("application/x-www-form-urlencoded"), body).await;
    assert_error(&form, 415, "unsupported_media_type", &[]);
}

#[tokio::test]
async fn body_over_the_limit_is_413_naming_the_limit() {
    let app = TestApp::with(|_| {}, 1000);
    let big = json!({"vectors": [{"id": "a", "vector": vec![0.5_f32; 400]}]});
    let answer = app.json(Method::PUT, "/api/v1/collections/c/vectors", &big).await;
    assert_error(&answer, 413, "payload_too_large", &["1000 bytes", "http.max_body_bytes"]);
    // Just under the limit passes the body check (and then fails on something else).
    let small = app.json(Method::PUT, "/api/v1/collections/c/vectors", &json!({"vectors": "x"})).await;
    assert_error(&small, 400, "malformed_json", &[]);
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let app = TestApp::new();
    assert_error(&app.empty(Method::GET, "/nope").await, 404, "not_found", &["GET /nope"]);
    assert_error(&app.empty(Method::GET, "/api/v2/collections").await, 404, "not_found", &[]);
    assert_error(&app.empty(Method::GET, "/api/v1/collections/a/b/c/d").await, 404, "not_found", &[]);
    assert_error(&app.empty(Method::GET, "/api/v1/collections/a/vectors/").await, 404, "not_found", &[]);
    assert_error(&app.empty(Method::DELETE, "/health").await, 405, "method_not_allowed", &["DELETE"]);
    assert_error(&app.empty(Method::PATCH, COLLECTIONS).await, 405, "method_not_allowed", &[]);
    assert_error(&app.empty(Method::GET, "/api/v1/snapshots").await, 405, "method_not_allowed", &[]);
    assert_error(&app.empty(Method::POST, "/api/v1/collections/a/vectors/x").await, 405, "method_not_allowed", &[]);
    assert_error(&app.empty(Method::GET, "/api/v1/collections/a/search").await, 405, "method_not_allowed", &[]);
}

#[tokio::test]
async fn undecodable_path_ids_are_400() {
    let app = TestApp::new();
    let answer = app.empty(Method::GET, "/api/v1/collections/%FF%FE").await;
    assert_error(&answer, 400, "invalid_argument", &["path parameter"]);
}

#[tokio::test]
async fn replication_routes_without_replication() {
    let app = TestApp::new();
    let (status, body) = app.empty(Method::GET, "/api/v1/replication/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"role": "master", "enabled": false, "stats": null, "replicas": null}));
    let (status, body) = app.empty(Method::GET, "/api/v1/replication/replicas").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"replicas": []}));
    let answer = app.json(Method::POST, "/api/v1/replication/replicaof", &json!({"master": "127.0.0.1:1"})).await;
    assert_error(&answer, 409, "replication_conflict", &["replication is not enabled on this node"]);
    let answer = app.empty(Method::POST, "/api/v1/replication/promote").await;
    assert_error(&answer, 409, "replication_conflict", &["replication is not enabled on this node"]);
}
