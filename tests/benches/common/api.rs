//! The REST calls the benchmarks make, over a [`KeepAlive`] connection, with request bodies encoded
//! ahead of time so the timed loops measure the server, not the client's JSON encoder.
//!
//! Invariant: point ids are the decimal index of the vector in the data set, so a search answer maps
//! back to ground-truth indices without a lookup table; any non-2xx answer is a panic naming the
//! call and the server's message (a benchmark that silently counts failures would lie).

use vectorizer_core::model::Metric;
use vectorizer_sdk_types::vector::encode_base64;
use vectorizer_sdk_types::{
    CollectionInfo, CreateCollectionRequest, PointInput, SearchRequest, SearchResponse, UpsertRequest,
};

use super::keepalive::KeepAlive;

/// The collection every benchmark writes to.
pub const COLLECTION: &str = "bench";

/// Path of a collection route below `/api/v1/collections/{COLLECTION}`.
pub fn path(rest: &str) -> String {
    format!("/api/v1/collections/{COLLECTION}{rest}")
}

/// Panics unless `status` is 2xx, showing the body.
#[track_caller]
pub fn check(what: &str, status: u16, body: &[u8]) {
    assert!((200..300).contains(&status), "{what}: HTTP {status}: {}", String::from_utf8_lossy(body));
}

/// Creates [`COLLECTION`] with default HNSW parameters.
pub fn create_collection(c: &mut KeepAlive, dim: usize, metric: Metric) {
    let req = CreateCollectionRequest {
        name: COLLECTION.into(),
        dimension: u32::try_from(dim).expect("dimension fits u32"),
        metric,
        hnsw: None,
    };
    let body = serde_json::to_vec(&req).expect("encode create");
    let (status, answer) = c.request("POST", "/api/v1/collections", Some(&body)).expect("create collection");
    check("create collection", status, &answer);
}

/// How vectors are written in the upsert bodies the benchmarks send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorEncoding {
    /// JSON arrays of numbers.
    Array,
    /// Base64 strings of the little-endian float32 bytes.
    Base64,
}

impl VectorEncoding {
    /// `"array"` or `"base64"`, as in the benchmarks' `encoding=` option.
    pub fn name(self) -> &'static str {
        match self {
            Self::Array => "array",
            Self::Base64 => "base64",
        }
    }
}

/// Upsert bodies: `data` cut into batches of `batch`, ids = indices (offset by `first_id`).
pub fn upsert_bodies(data: &[Vec<f32>], batch: usize, first_id: usize) -> Vec<Vec<u8>> {
    upsert_bodies_as(data, batch, first_id, VectorEncoding::Array)
}

/// [`upsert_bodies`] with the vectors written as `encoding`.
pub fn upsert_bodies_as(data: &[Vec<f32>], batch: usize, first_id: usize, encoding: VectorEncoding) -> Vec<Vec<u8>> {
    if encoding == VectorEncoding::Base64 {
        return base64_upsert_bodies(data, batch, first_id);
    }
    data.chunks(batch)
        .enumerate()
        .map(|(b, chunk)| {
            let vectors = chunk
                .iter()
                .enumerate()
                .map(|(i, v)| PointInput {
                    id: (first_id + b * batch + i).to_string(),
                    vector: v.clone(),
                    payload: None,
                })
                .collect();
            serde_json::to_vec(&UpsertRequest { vectors }).expect("encode upsert")
        })
        .collect()
}

fn base64_upsert_bodies(data: &[Vec<f32>], batch: usize, first_id: usize) -> Vec<Vec<u8>> {
    data.chunks(batch)
        .enumerate()
        .map(|(b, chunk)| {
            let vectors: Vec<serde_json::Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    serde_json::json!({"id": (first_id + b * batch + i).to_string(), "vector": encode_base64(v)})
                })
                .collect();
            serde_json::to_vec(&serde_json::json!({ "vectors": vectors })).expect("encode upsert")
        })
        .collect()
}

/// A search body for the top-`k` of `vector`; `ef` = `None` uses the collection's default.
pub fn search_body(vector: &[f32], k: usize, ef: Option<u32>) -> Vec<u8> {
    let req = SearchRequest {
        vector: vector.to_vec(),
        limit: u32::try_from(k).expect("k fits u32"),
        with_payload: false,
        exact: false,
        ef_search: ef,
    };
    serde_json::to_vec(&req).expect("encode search")
}

/// Sends one upsert body; panics on failure.
pub fn upsert(c: &mut KeepAlive, body: &[u8]) {
    let (status, answer) = c.request("PUT", &path("/vectors"), Some(body)).expect("upsert");
    check("upsert", status, &answer);
}

/// Sends one search body and returns the ids found (as data-set indices), best first.
pub fn search(c: &mut KeepAlive, body: &[u8]) -> Vec<u32> {
    let (status, answer) = c.request("POST", &path("/search"), Some(body)).expect("search");
    check("search", status, &answer);
    parse_ids(&answer)
}

/// Ids of a search answer as data-set indices.
pub fn parse_ids(answer: &[u8]) -> Vec<u32> {
    let response: SearchResponse = serde_json::from_slice(answer).expect("search answer parses");
    response.results.iter().map(|p| p.id.parse::<u32>().expect("bench ids are integers")).collect()
}

/// `GET /api/v1/collections/{COLLECTION}`.
pub fn collection_info(c: &mut KeepAlive) -> CollectionInfo {
    let (status, answer) = c.get(&path("")).expect("collection info");
    check("collection info", status, &answer);
    serde_json::from_slice(&answer).expect("collection info parses")
}
