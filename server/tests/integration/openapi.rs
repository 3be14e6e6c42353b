//! The generated OpenAPI document: identical to the committed `docs/openapi.json`, served at
//! `/openapi.json`, describing exactly the routes and methods the router serves, every error as the
//! envelope, and schemas that the server's real answers satisfy.

use std::path::PathBuf;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use vectorizer_server::openapi;

use crate::TestApp;

const REGENERATE: &str = "cargo run -p vectorizer-server -- openapi > docs/openapi.json";

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

fn document() -> Value {
    serde_json::from_str(openapi::json()).expect("the generated document is JSON")
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// Every (method, path) the document describes.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut ops = Vec::new();
    for (path, item) in paths {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                ops.push((m.to_owned(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

/// A concrete URI for a templated path.
fn concrete(path: &str) -> String {
    path.replace("{name}", "no_such_collection").replace("{id}", "no_such_point")
}

fn method(m: &str) -> Method {
    Method::from_bytes(m.to_ascii_uppercase().as_bytes()).expect("method")
}

#[test]
fn committed_document_is_up_to_date() {
    let path = committed_path();
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}; create it with `{REGENERATE}`", path.display()));
    assert!(
        committed == openapi::json(),
        "docs/openapi.json differs from the document generated from the code; run `{REGENERATE}` and commit it"
    );
}

#[tokio::test]
async fn the_served_document_is_the_generated_one() {
    let app = TestApp::new();
    let (status, content_type, body) = app.text(Method::GET, "/openapi.json").await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/json"));
    assert_eq!(body, openapi::json());
    let doc = document();
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_no_other_method_is() {
    let app = TestApp::new();
    let doc = document();
    let ops = operations(&doc);
    assert!(ops.len() >= 17, "{} operations", ops.len());
    for (m, path, op) in &ops {
        let uri = concrete(path);
        let (status, code) = if op.get("requestBody").is_some() {
            let (status, body) = app.json(method(m), &uri, &json!({})).await;
            (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
        } else {
            // Not every answer is JSON (`/metrics`).
            let (status, _, text) = app.text(method(m), &uri).await;
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
        };
        assert!(
            code != "not_found" && code != "method_not_allowed",
            "{m} {path} is documented but not routed: {status} {code}"
        );
    }
    // Methods a path does not document must be refused by the router (no undocumented handlers).
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS.iter().filter(|m| item.get(**m).is_none()) {
            let (status, _, _) = app.text(method(m), &concrete(path)).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{m} {path} answers without being documented");
        }
    }
    // The routes the contract lists (docs/dev/CONTRACTS.md) plus the operator endpoints.
    for (m, path) in [
        ("get", "/health"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
        ("post", "/api/v1/collections"),
        ("get", "/api/v1/collections"),
        ("get", "/api/v1/collections/{name}"),
        ("delete", "/api/v1/collections/{name}"),
        ("put", "/api/v1/collections/{name}/vectors"),
        ("get", "/api/v1/collections/{name}/vectors/{id}"),
        ("post", "/api/v1/collections/{name}/vectors/delete"),
        ("post", "/api/v1/collections/{name}/search"),
        ("post", "/api/v1/snapshots"),
        ("get", "/api/v1/replication/status"),
        ("get", "/api/v1/replication/replicas"),
        ("post", "/api/v1/replication/replicaof"),
        ("post", "/api/v1/replication/promote"),
        ("get", "/api/v1/admin/digest"),
    ] {
        assert!(doc["paths"][path].get(m).is_some(), "{m} {path} is not documented");
    }
}

#[test]
fn every_error_response_is_the_envelope_and_every_ref_resolves() {
    let doc = document();
    for (m, path, op) in operations(&doc) {
        let responses = op["responses"].as_object().expect("responses");
        assert!(responses.keys().any(|s| s.starts_with('2')), "{m} {path} has no success response");
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/ErrorResponse", "{m} {path} {status}");
                assert!(
                    response["description"].as_str().is_some_and(|d| d.contains('`')),
                    "{m} {path} {status}: name the code"
                );
            }
        }
        if path.starts_with("/api/v1/") {
            assert!(responses.contains_key("500"), "{m} {path} lacks 500");
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "413", "415"] {
                assert!(responses.contains_key(status), "{m} {path} has a body but no {status}");
            }
            assert!(responses["400"]["description"].as_str().is_some_and(|d| d.contains("malformed_json")));
        }
    }
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected ref {r}"));
        assert!(doc["components"]["schemas"].get(name).is_some(), "dangling ref {r}");
    }
    // Every error code is listed in the ErrorCode schema.
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"].as_array().expect("ErrorCode enum");
    for code in vectorizer_sdk_types::ALL_ERROR_CODES {
        assert!(codes.contains(&json!(code.as_str())), "{}", code.as_str());
    }
}

#[test]
fn the_v1_2_0_status_shape_is_described_exactly() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let status = &schemas["ReplicationStatus"];
    let required = |schema: &Value| -> Vec<String> {
        let mut r: Vec<String> = schema["required"]
            .as_array()
            .expect("required")
            .iter()
            .map(|v| v.as_str().expect("name").to_owned())
            .collect();
        r.sort();
        r
    };
    assert_eq!(required(status), ["enabled", "replicas", "role", "stats"], "all four fields always present");
    assert!(accepts(&doc, &status["properties"]["stats"], &Value::Null), "stats is nullable");
    assert!(accepts(&doc, &status["properties"]["replicas"], &Value::Null), "replicas is nullable");
    let stats = required(&schemas["ReplicationStats"]);
    for field in [
        "role",
        "lag_ms",
        "bytes_sent",
        "bytes_received",
        "last_sync",
        "operations_pending",
        "snapshot_size",
        "connected_replicas",
    ] {
        assert!(stats.contains(&field.to_owned()), "{field}");
    }
    let info = required(&schemas["ReplicaInfo"]);
    for field in ["id", "host", "port", "status", "lag_ms", "last_heartbeat", "operations_synced"] {
        assert!(info.contains(&field.to_owned()), "{field}");
    }
    assert_eq!(schemas["ReplicaStatus"]["enum"], json!(["Connected", "Syncing", "Lagging", "Disconnected"]));
    // The spec's example answer validates.
    let example = json!({
        "role": "master", "enabled": true,
        "stats": {"role": "master", "lag_ms": 0, "bytes_sent": 1048576, "bytes_received": 0,
                  "last_sync": "2024-10-24T12:00:00Z", "operations_pending": 0, "snapshot_size": 524288,
                  "connected_replicas": 2, "epoch": null, "master_offset": null, "applied_offset": null,
                  "full_syncs": null, "partial_syncs": null, "status": null, "master": null,
                  "sync_progress": null, "link_down_since": null, "last_error": null,
                  "ops_discarded_on_rejoin": null},
        "replicas": null
    });
    assert!(accepts(&doc, status, &example));
    assert!(!accepts(&doc, status, &json!({"role": "leader", "enabled": true, "stats": null, "replicas": null})));
}

#[tokio::test]
async fn real_answers_satisfy_the_documented_schemas() {
    let app = TestApp::replicated(|_| {}).await;
    let doc = document();
    let create = app.json(Method::POST, "/api/v1/collections", &json!({"name": "c", "dimension": 2})).await;
    check(&doc, "post", "/api/v1/collections", create);
    let upsert = app
        .json(
            Method::PUT,
            "/api/v1/collections/c/vectors",
            &json!({"vectors": [{"id": "p", "vector": [1.0, 2.0], "payload": {"k": 1}}, {"id": "q", "vector": [0.5, 0.0]}]}),
        )
        .await;
    check(&doc, "put", "/api/v1/collections/{name}/vectors", upsert);
    let search = app
        .json(Method::POST, "/api/v1/collections/c/search", &json!({"vector": [1.0, 2.0], "with_payload": true}))
        .await;
    check(&doc, "post", "/api/v1/collections/{name}/search", search);
    for (path, uri) in [
        ("/api/v1/collections", "/api/v1/collections"),
        ("/api/v1/collections/{name}", "/api/v1/collections/c"),
        ("/api/v1/collections/{name}/vectors/{id}", "/api/v1/collections/c/vectors/p"),
        ("/api/v1/collections/{name}/vectors/{id}", "/api/v1/collections/c/vectors/q"),
        ("/api/v1/collections/{name}/vectors/{id}", "/api/v1/collections/c/vectors/nope"),
        ("/api/v1/collections/{name}/vectors/delete", "/api/v1/collections/c/vectors/delete"),
        ("/api/v1/collections/{name}", "/api/v1/collections/missing"),
        ("/api/v1/replication/status", "/api/v1/replication/status"),
        ("/api/v1/replication/replicas", "/api/v1/replication/replicas"),
        ("/api/v1/admin/digest", "/api/v1/admin/digest"),
        ("/health", "/health"),
    ] {
        check(&doc, "get", path, app.empty(Method::GET, uri).await);
    }
    check(&doc, "post", "/api/v1/snapshots", app.empty(Method::POST, "/api/v1/snapshots").await);
    let bad = app.json(Method::POST, "/api/v1/collections/c/vectors/delete", &json!({"ids": "p"})).await;
    check(&doc, "post", "/api/v1/collections/{name}/vectors/delete", bad);
    let deleted = app.json(Method::POST, "/api/v1/collections/c/vectors/delete", &json!({"ids": ["p"]})).await;
    check(&doc, "post", "/api/v1/collections/{name}/vectors/delete", deleted);
    check(&doc, "post", "/api/v1/replication/promote", app.empty(Method::POST, "/api/v1/replication/promote").await);
    let replica = app.json(Method::POST, "/api/v1/replication/replicaof", &json!({"master": "127.0.0.1:1"})).await;
    check(&doc, "post", "/api/v1/replication/replicaof", replica);
    check(&doc, "get", "/api/v1/replication/status", app.empty(Method::GET, "/api/v1/replication/status").await);
    check(&doc, "delete", "/api/v1/collections/{name}", app.empty(Method::DELETE, "/api/v1/collections/c").await);
    app.shutdown().await;
}

/// Asserts that `answer` is a documented status of (`m`, `path`) and its body satisfies the schema.
#[track_caller]
fn check(doc: &Value, m: &str, path: &str, answer: (StatusCode, Value)) {
    let (status, body) = answer;
    let response = &doc["paths"][path][m]["responses"][status.as_str()];
    assert!(response.is_object(), "{m} {path} answered {status}, which is not documented: {body}");
    let schema = &response["content"]["application/json"]["schema"];
    assert!(accepts(doc, schema, &body), "{m} {path} {status}: the body does not match {schema}:\n{body:#}");
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// A validator for the subset of JSON Schema utoipa emits: `$ref`, `oneOf`, `type` (one or a list),
/// `enum`, `properties` + `required` (no unknown properties allowed), `items`, `minimum`.
fn accepts(doc: &Value, schema: &Value, value: &Value) -> bool {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return accepts(doc, &doc["components"]["schemas"][name], value);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        return options.iter().filter(|s| accepts(doc, s, value)).count() == 1;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return false;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| type_matches(t, value)) {
        return false;
    }
    if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), value.as_f64())
        && n < min
    {
        return false;
    }
    match value {
        Value::Object(map) if types.contains(&"object") => {
            let props = schema["properties"].as_object();
            let required = schema["required"].as_array().cloned().unwrap_or_default();
            let has_all = required.iter().filter_map(Value::as_str).all(|k| map.contains_key(k));
            let known = match props {
                Some(p) => map.iter().all(|(k, v)| p.get(k).is_some_and(|s| accepts(doc, s, v))),
                None => true, // a free-form object (payloads)
            };
            has_all && known
        }
        Value::Array(items) if types.contains(&"array") => items.iter().all(|i| accepts(doc, &schema["items"], i)),
        _ => true,
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_u64() || v.is_i64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    }
}
