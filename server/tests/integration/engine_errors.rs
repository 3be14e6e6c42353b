//! Inputs the engine validates, and the happy paths, over HTTP in-process.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{TestApp, assert_error};

async fn with_collection(app: &TestApp, name: &str, dimension: u32) {
    let (status, body) =
        app.json(Method::POST, "/api/v1/collections", &json!({"name": name, "dimension": dimension})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

fn point(id: &str, vector: &[f32]) -> Value {
    json!({"id": id, "vector": vector})
}

async fn upsert(app: &TestApp, collection: &str, points: Vec<Value>) -> (StatusCode, Value) {
    app.json(Method::PUT, &format!("/api/v1/collections/{collection}/vectors"), &json!({"vectors": points})).await
}

#[tokio::test]
async fn crud_round_trip() {
    let app = TestApp::new();
    let (status, body) = app
        .json(Method::POST, "/api/v1/collections", &json!({"name": "docs", "dimension": 3, "metric": "euclidean"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["offset"].as_u64().is_some_and(|o| o >= 1), "{body}");

    let (status, body) = app.empty(Method::GET, "/api/v1/collections/docs").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["dimension"], 3);
    assert_eq!(body["metric"], "euclidean");
    assert_eq!(body["hnsw"], json!({"m": 16, "ef_construction": 100, "ef_search": 64}));

    let (status, body) = upsert(
        &app,
        "docs",
        vec![
            json!({"id": "a/b c", "vector": [1.0, 0.0, 0.0], "payload": {"k": 1}}),
            point("delete", &[0.0, 1.0, 0.0]),
            point("z", &[0.0, 0.0, 1.0]),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["affected"], 3);

    // Ids containing '/' and ' ' are percent-encoded in the path.
    let (status, body) = app.empty(Method::GET, "/api/v1/collections/docs/vectors/a%2Fb%20c").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"id": "a/b c", "vector": [1.0, 0.0, 0.0], "payload": {"k": 1}}));
    // The id "delete" is still fetchable.
    let (status, body) = app.empty(Method::GET, "/api/v1/collections/docs/vectors/delete").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], "delete");

    let (status, body) = app
        .json(
            Method::POST,
            "/api/v1/collections/docs/search",
            &json!({"vector": [0.9, 0.1, 0.0], "limit": 2, "with_payload": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["id"], "a/b c");
    assert_eq!(body["results"][0]["payload"], json!({"k": 1}));
    assert_eq!(body["results"].as_array().map(Vec::len), Some(2));

    let (status, body) =
        app.json(Method::POST, "/api/v1/collections/docs/vectors/delete", &json!({"ids": ["z", "missing"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["affected"], 1);
    assert_error(&app.empty(Method::GET, "/api/v1/collections/docs/vectors/z").await, 404, "point_not_found", &["'z'"]);

    let (status, body) = app.empty(Method::GET, "/api/v1/collections").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["collections"][0]["vector_count"], 2);

    let (status, body) = app.empty(Method::POST, "/api/v1/snapshots").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["points"], 2);
    assert_eq!(body["collections"], 1);

    let (status, _) = app.empty(Method::DELETE, "/api/v1/collections/docs").await;
    assert_eq!(status, StatusCode::OK);
    assert_error(&app.empty(Method::GET, "/api/v1/collections/docs").await, 404, "collection_not_found", &["'docs'"]);
}

#[tokio::test]
async fn collection_parameters_are_checked() {
    let app = TestApp::new();
    let cases = [
        (json!({"name": "a/b", "dimension": 3}), "name"),
        (json!({"name": "", "dimension": 3}), "name"),
        (json!({"name": "x".repeat(129), "dimension": 3}), "name"),
        (json!({"name": "a", "dimension": 0}), "dimension"),
        (json!({"name": "a", "dimension": 65537}), "65536"),
        (json!({"name": "a", "dimension": 3, "hnsw": {"m": 2}}), "hnsw.m"),
        (json!({"name": "a", "dimension": 3, "hnsw": {"m": 65}}), "hnsw.m"),
        (json!({"name": "a", "dimension": 3, "hnsw": {"ef_construction": 5000}}), "hnsw.ef_construction"),
        (json!({"name": "a", "dimension": 3, "hnsw": {"ef_search": 0}}), "hnsw.ef_search"),
    ];
    for (body, needle) in cases {
        let answer = app.json(Method::POST, "/api/v1/collections", &body).await;
        assert_error(&answer, 400, "invalid_argument", &[needle]);
    }
    with_collection(&app, "a", 3).await;
    let again = app.json(Method::POST, "/api/v1/collections", &json!({"name": "a", "dimension": 3})).await;
    assert_error(&again, 409, "collection_exists", &["'a'"]);
}

#[tokio::test]
async fn points_are_checked() {
    let app = TestApp::with(|c| c.limits.max_payload_bytes = 100, 64 * 1024 * 1024);
    with_collection(&app, "c", 3).await;
    let wrong_len = upsert(&app, "c", vec![point("a", &[1.0, 2.0])]).await;
    assert_error(&wrong_len, 400, "dimension_mismatch", &["vectors[0].vector", "3", "2"]);
    let huge = app
        .json(
            Method::PUT,
            "/api/v1/collections/c/vectors",
            &json!({"vectors": [{"id": "a", "vector": [1.0, 1e300, 0.0]}]}),
        )
        .await;
    assert_error(&huge, 400, "invalid_argument", &["vectors[0].vector[1]", "finite"]);
    let big_payload = json!({"vectors": [{"id": "a", "vector": [1.0, 0.0, 0.0], "payload": {"k": "x".repeat(200)}}]});
    let answer = app.json(Method::PUT, "/api/v1/collections/c/vectors", &big_payload).await;
    assert_error(&answer, 413, "payload_too_large", &["vectors[0].payload", "100 bytes"]);
    assert_error(&upsert(&app, "c", vec![]).await, 400, "invalid_argument", &["vectors", "1 to 10000"]);
    let too_many: Vec<Value> = (0..10_001).map(|i| point(&format!("p{i}"), &[1.0, 0.0, 0.0])).collect();
    assert_error(&upsert(&app, "c", too_many).await, 400, "invalid_argument", &["vectors", "10001"]);
    assert_error(
        &upsert(&app, "c", vec![point("", &[1.0, 0.0, 0.0])]).await,
        400,
        "invalid_argument",
        &["vectors[0].id"],
    );
    let long_id = "é".repeat(129); // 258 bytes
    assert_error(
        &upsert(&app, "c", vec![point(&long_id, &[1.0, 0.0, 0.0])]).await,
        400,
        "invalid_argument",
        &["vectors[0].id", "256"],
    );
    let ok_id = "x".repeat(256);
    let (status, body) = upsert(&app, "c", vec![point(&ok_id, &[1.0, 0.0, 0.0])]).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let app = &app;
    let delete = |ids: Value| async move {
        app.json(Method::POST, "/api/v1/collections/c/vectors/delete", &json!({"ids": ids})).await
    };
    assert_error(&delete(json!([])).await, 400, "invalid_argument", &["ids"]);
    assert_error(&delete(json!([""])).await, 400, "invalid_argument", &["ids[0]"]);

    assert_error(&upsert(app, "nope", vec![point("a", &[1.0])]).await, 404, "collection_not_found", &["'nope'"]);
    assert_error(
        &app.empty(Method::GET, "/api/v1/collections/c/vectors/absent").await,
        404,
        "point_not_found",
        &["'absent'"],
    );
}

#[tokio::test]
async fn searches_are_checked() {
    let app = TestApp::new();
    with_collection(&app, "c", 2).await;
    let app = &app;
    let search = |body: Value| async move { app.json(Method::POST, "/api/v1/collections/c/search", &body).await };
    assert_error(&search(json!({"vector": [1.0, 0.0], "limit": 0})).await, 400, "invalid_argument", &["limit"]);
    assert_error(
        &search(json!({"vector": [1.0, 0.0], "limit": 10001})).await,
        400,
        "invalid_argument",
        &["limit", "10000"],
    );
    assert_error(&search(json!({"vector": [1.0, 0.0], "ef_search": 0})).await, 400, "invalid_argument", &["ef_search"]);
    assert_error(&search(json!({"vector": [1.0]})).await, 400, "dimension_mismatch", &["vector"]);
    assert_error(&search(json!({"vector": [1e39, 0.0]})).await, 400, "invalid_argument", &["finite"]);
    let (status, body) = search(json!({"vector": [1.0, 0.0]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"results": []}));
    let missing = app.json(Method::POST, "/api/v1/collections/nope/search", &json!({"vector": [1.0, 0.0]})).await;
    assert_error(&missing, 404, "collection_not_found", &["'nope'"]);
    assert_error(&app.empty(Method::DELETE, "/api/v1/collections/nope").await, 404, "collection_not_found", &[]);
}

#[tokio::test]
async fn digest_reports_applied_offset_and_collections() {
    let app = TestApp::new();
    with_collection(&app, "d", 2).await;
    let (status, body) = upsert(&app, "d", vec![point("a", &[1.0, 2.0])]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let written_at = body["offset"].as_u64().expect("offset");
    let (status, body) = app.empty(Method::GET, "/api/v1/admin/digest").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["applied_offset"].as_u64(), Some(written_at));
    assert_eq!(body["collections"][0]["name"], "d");
    assert_eq!(body["collections"][0]["points"], 1);
    assert!(body["collections"][0]["digest"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
}

/// Bodies up to `INLINE_WRITE_MAX_BODY_BYTES` are written on the async worker, larger ones on the
/// blocking pool: both are acknowledged, applied once and answered the same way, errors included.
#[tokio::test]
async fn writes_on_either_side_of_the_inline_body_limit() {
    use vectorizer_server::write::INLINE_WRITE_MAX_BODY_BYTES;

    let app = TestApp::new();
    with_collection(&app, "c", 64).await;
    let small: Vec<Value> = (0..4).map(|i| point(&format!("s{i}"), &[i as f32 + 1.0; 64])).collect();
    let large: Vec<Value> = (0..400).map(|i| point(&format!("l{i}"), &[i as f32 + 0.5; 64])).collect();
    let small_len = serde_json::to_vec(&json!({"vectors": small})).expect("encode").len();
    let large_len = serde_json::to_vec(&json!({"vectors": large})).expect("encode").len();
    assert!(small_len <= INLINE_WRITE_MAX_BODY_BYTES && large_len > INLINE_WRITE_MAX_BODY_BYTES);

    let (status, body) = upsert(&app, "c", small).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["affected"], 4);
    let small_offset = body["offset"].as_u64().expect("offset");
    let (status, body) = upsert(&app, "c", large).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["affected"], 400);
    assert_eq!(body["offset"].as_u64(), Some(small_offset + 1), "one log record per request");

    let (status, body) = app.empty(Method::GET, "/api/v1/collections/c").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["vector_count"], 404, "{body}");
    let (_, body) = app.empty(Method::GET, "/api/v1/collections/c/vectors/s3").await;
    assert_eq!(body["vector"], json!(vec![4.0; 64]));
    let (_, body) = app.empty(Method::GET, "/api/v1/collections/c/vectors/l399").await;
    assert_eq!(body["vector"], json!(vec![399.5; 64]));

    // The same refusals on both sides, and nothing written by them.
    let bad_small = vec![point("x", &[1.0; 3])];
    let bad_large: Vec<Value> = (0..400).map(|i| point(&format!("x{i}"), &[1.0; 63])).collect();
    for bad in [bad_small, bad_large] {
        assert_error(&upsert(&app, "c", bad).await, 400, "dimension_mismatch", &["64"]);
    }
    assert_error(
        &upsert(&app, "missing", vec![point("x", &[1.0; 64])]).await,
        404,
        "collection_not_found",
        &["missing"],
    );
    let (_, body) = app.empty(Method::GET, "/api/v1/collections/c").await;
    assert_eq!(body["vector_count"], 404);

    let ids: Vec<String> = (0..400).map(|i| format!("l{i}")).collect();
    let (status, body) =
        app.json(Method::POST, "/api/v1/collections/c/vectors/delete", &json!({"ids": ["s0", "s1"]})).await;
    assert_eq!((status, body["affected"].clone()), (StatusCode::OK, json!(2)), "{body}");
    let (status, body) = app.json(Method::POST, "/api/v1/collections/c/vectors/delete", &json!({"ids": ids})).await;
    assert_eq!((status, body["affected"].clone()), (StatusCode::OK, json!(400)), "{body}");
    let (_, body) = app.empty(Method::GET, "/api/v1/collections/c").await;
    assert_eq!(body["vector_count"], 2);
}
