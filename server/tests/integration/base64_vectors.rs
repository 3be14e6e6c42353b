//! Vectors sent as base64 strings (little-endian float32 bytes) instead of number arrays: same
//! stored values, same engine checks, and bad strings refused with nothing written.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use vectorizer_sdk_types::vector::encode_base64;

use crate::{TestApp, assert_error};

const UPSERT: &str = "/api/v1/collections/c/vectors";

async fn app_with_collection(dimension: u32) -> TestApp {
    let app = TestApp::new();
    let (status, body) =
        app.json(Method::POST, "/api/v1/collections", &json!({"name": "c", "dimension": dimension})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app
}

async fn count(app: &TestApp) -> u64 {
    let (status, body) = app.empty(Method::GET, "/api/v1/collections/c").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["vector_count"].as_u64().expect("vector_count")
}

/// The stored vector of `id`, as the f32 values the server returns.
async fn stored(app: &TestApp, id: &str) -> Vec<f32> {
    let (status, body) = app.empty(Method::GET, &format!("/api/v1/collections/c/vectors/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body["vector"].clone()).expect("numbers")
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Values whose shortest decimal forms are long, plus signed zero and extremes.
fn awkward(seed: f32) -> Vec<f32> {
    vec![seed / 3.0, -0.0, f32::MIN_POSITIVE, f32::MAX, -1.0e-38 * seed, 0.1 + seed]
}

#[tokio::test]
async fn base64_and_array_forms_store_the_same_values_and_can_be_mixed() {
    let app = app_with_collection(6).await;
    let (a, b, c) = (awkward(1.0), awkward(2.0), awkward(3.0));
    let batch = json!({"vectors": [
        {"id": "b64", "vector": encode_base64(&a)},
        {"id": "arr", "vector": a},
        {"id": "b64-payload", "vector": encode_base64(&b), "payload": {"k": 1}},
        {"id": "arr2", "vector": c},
    ]});
    let (status, body) = app.json(Method::PUT, UPSERT, &batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["affected"], 4);
    assert_eq!(bits(&stored(&app, "b64").await), bits(&a));
    assert_eq!(bits(&stored(&app, "arr").await), bits(&a));
    assert_eq!(bits(&stored(&app, "b64-payload").await), bits(&b));
    assert_eq!(bits(&stored(&app, "arr2").await), bits(&c));
    let (_, body) = app.empty(Method::GET, "/api/v1/collections/c/vectors/b64-payload").await;
    assert_eq!(body["payload"], json!({"k": 1}));
}

#[tokio::test]
async fn search_accepts_a_base64_vector() {
    let app = app_with_collection(3).await;
    let points = json!({"vectors": [{"id": "x", "vector": [1.0, 0.0, 0.0]}, {"id": "y", "vector": [0.0, 1.0, 0.0]}]});
    assert_eq!(app.json(Method::PUT, UPSERT, &points).await.0, StatusCode::OK);
    let query = |vector: Value| json!({"vector": vector, "limit": 2, "exact": true});
    let (status, by_string) =
        app.json(Method::POST, "/api/v1/collections/c/search", &query(json!(encode_base64(&[0.1, 0.9, 0.0])))).await;
    assert_eq!(status, StatusCode::OK, "{by_string}");
    let (_, by_array) = app.json(Method::POST, "/api/v1/collections/c/search", &query(json!([0.1, 0.9, 0.0]))).await;
    assert_eq!(by_string, by_array);
    assert_eq!(by_string["results"][0]["id"], "y");
    let bad = app.json(Method::POST, "/api/v1/collections/c/search", &query(json!("AACA"))).await;
    assert_error(&bad, 400, "malformed_json", &["vector: ", "3 bytes", "multiple of 4"]);
}

/// Each bad point sits third in a batch whose first two points are good; nothing may be written.
#[tokio::test]
async fn bad_base64_vectors_are_refused_and_change_nothing() {
    let app = app_with_collection(2).await;
    let (status, body) =
        app.json(Method::PUT, UPSERT, &json!({"vectors": [{"id": "seed", "vector": [1.0, 0.0]}]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let good = |id: &str| json!({"id": id, "vector": encode_base64(&[0.5, 0.5])});
    let cases: [(Value, &str, &[&str]); 6] = [
        (json!("AACAPw=!"), "malformed_json", &["vectors[2].vector: ", "not valid base64"]),
        (json!("AACAPwAAgD8"), "malformed_json", &["vectors[2].vector: ", "not valid base64"]),
        (json!("AACAPwAAgA=="), "malformed_json", &["vectors[2].vector: ", "7 bytes", "multiple of 4"]),
        (json!(encode_base64(&[1.0, 0.0, 0.0])), "dimension_mismatch", &["vectors[2].vector", "2", "3"]),
        (json!(encode_base64(&[1.0, f32::NAN])), "invalid_argument", &["vectors[2].vector[1]", "finite"]),
        (json!(encode_base64(&[f32::NEG_INFINITY, 0.0])), "invalid_argument", &["vectors[2].vector[0]", "finite"]),
    ];
    for (vector, code, needles) in cases {
        let batch = json!({"vectors": [good("new1"), good("new2"), {"id": "bad", "vector": vector}]});
        let answer = app.json(Method::PUT, UPSERT, &batch).await;
        assert_error(&answer, 400, code, needles);
        assert_eq!(count(&app).await, 1, "{vector}: nothing written");
    }
    // The same NaN as an out-of-range number in the array form gets the same code and field.
    let array = json!({"vectors": [good("new1"), good("new2"), {"id": "bad", "vector": [1.0, 1e300]}]});
    assert_error(
        &app.json(Method::PUT, UPSERT, &array).await,
        400,
        "invalid_argument",
        &["vectors[2].vector[1]", "finite"],
    );
    assert_eq!(count(&app).await, 1);
}
