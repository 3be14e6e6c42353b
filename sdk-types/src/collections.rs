//! Collections, points and search: request and response bodies.

use serde::{Deserialize, Serialize};
use typeshare::typeshare;

/// A JSON object attached to a point. Always an object (never an array or scalar).
/// (`JsonValue` is mapped per language in `scripts/sdk/typeshare.toml`.)
#[typeshare(serialized_as = "HashMap<String, JsonValue>")]
pub type Payload = serde_json::Map<String, serde_json::Value>;

/// Distance function of a collection.
///
/// Scores: `cosine` and `dot` return a similarity (higher is closer); `euclidean` returns the
/// Euclidean distance (lower is closer). Results are always ordered best first.
#[typeshare]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    #[default]
    Cosine,
    Dot,
    Euclidean,
}

/// HNSW index parameters. Every field is optional in requests; the server fills defaults.
#[typeshare]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HnswConfig {
    /// Links per node on the upper layers (layer 0 keeps `2 * m`). Range 4..=64, default 16.
    #[serde(default)]
    pub m: Option<u32>,
    /// Candidate list size while building. Range 8..=4096, default 100.
    #[serde(default)]
    pub ef_construction: Option<u32>,
    /// Default candidate list size while searching. Range 1..=4096, default 64.
    #[serde(default)]
    pub ef_search: Option<u32>,
}

/// `POST /api/v1/collections`.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateCollectionRequest {
    /// 1-128 characters of `[A-Za-z0-9_-]`.
    pub name: String,
    /// 1..=65536.
    pub dimension: u32,
    #[serde(default)]
    pub metric: Metric,
    #[serde(default)]
    pub hnsw: Option<HnswConfig>,
}

/// Effective HNSW parameters of an existing collection (defaults resolved).
#[typeshare]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HnswParams {
    pub m: u32,
    pub ef_construction: u32,
    pub ef_search: u32,
}

/// `GET /api/v1/collections/{name}` and the elements of the collection list.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CollectionInfo {
    pub name: String,
    pub dimension: u32,
    pub metric: Metric,
    pub hnsw: HnswParams,
    /// Number of live points.
    #[typeshare(serialized_as = "U53")]
    pub vector_count: u64,
    /// Live points already linked into the HNSW graph; the rest are searched exactly until linked.
    #[typeshare(serialized_as = "U53")]
    pub indexed_count: u64,
}

/// `GET /api/v1/collections`.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListCollectionsResponse {
    pub collections: Vec<CollectionInfo>,
}

/// One point in an upsert request.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PointInput {
    /// 1..=256 bytes of UTF-8.
    pub id: String,
    /// Exactly `dimension` finite numbers. (The REST API also accepts a base64 string of the
    /// little-endian float32 values here; the SDKs send that with the option `vector_encoding`.)
    #[serde(deserialize_with = "crate::vector::deserialize")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::vector::openapi_schema))]
    pub vector: Vec<f32>,
    /// A JSON object, at most `limits.max_payload_bytes` (default 64 KiB) when serialised.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub payload: Option<Payload>,
}

/// `PUT /api/v1/collections/{name}/vectors`: insert or replace points.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpsertRequest {
    /// 1..=10,000 points per request.
    pub vectors: Vec<PointInput>,
}

/// `POST /api/v1/collections/{name}/vectors/delete`.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeletePointsRequest {
    /// 1..=10,000 ids per request.
    pub ids: Vec<String>,
}

/// Answer to every acknowledged write.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WriteResponse {
    /// Log offset assigned to the write's operation. Reads on any node that has applied this offset
    /// see the write.
    #[typeshare(serialized_as = "U53")]
    pub offset: u64,
    /// Points inserted/replaced (upsert) or removed (delete); 0 for collection operations.
    #[typeshare(serialized_as = "U53")]
    pub affected: u64,
}

/// `GET /api/v1/collections/{name}/vectors/{id}`.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PointRecord {
    pub id: String,
    pub vector: Vec<f32>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>, required = true))]
    pub payload: Option<Payload>,
}

/// `POST /api/v1/collections/{name}/search`.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchRequest {
    /// Exactly `dimension` finite numbers (or, in REST, a base64 string as for upserts).
    #[serde(deserialize_with = "crate::vector::deserialize")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::vector::openapi_schema))]
    pub vector: Vec<f32>,
    /// Number of results, 1..=10,000. Default 10.
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Include each point's payload in the results. Default false.
    #[serde(default)]
    pub with_payload: bool,
    /// Brute-force exact search instead of HNSW. Default false.
    #[serde(default)]
    pub exact: bool,
    /// Candidate list size for this query (1..=4096); defaults to the collection's `ef_search`.
    #[serde(default)]
    pub ef_search: Option<u32>,
}

fn default_limit() -> u32 {
    10
}

/// One search hit.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScoredPoint {
    pub id: String,
    pub score: f32,
    /// The payload when `with_payload` was set and the point has one; otherwise null.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>, required = true))]
    pub payload: Option<Payload>,
}

/// Answer to a search, best match first.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResponse {
    pub results: Vec<ScoredPoint>,
}

/// `GET /health`.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthResponse {
    /// `"ok"` when the node serves requests.
    pub status: String,
    pub version: String,
}

/// `POST /api/v1/snapshots`: a snapshot that was written and verified.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotInfo {
    /// Log offset the snapshot covers (every op up to and including it).
    #[typeshare(serialized_as = "U53")]
    pub offset: u64,
    #[typeshare(serialized_as = "U53")]
    pub epoch: u64,
    /// Size of the snapshot file in bytes.
    #[typeshare(serialized_as = "U53")]
    pub bytes: u64,
    #[typeshare(serialized_as = "U53")]
    pub collections: u64,
    #[typeshare(serialized_as = "U53")]
    pub points: u64,
    /// When it was written (RFC 3339 UTC).
    pub created_at: String,
}

/// `GET /api/v1/admin/digest`: a content digest of every collection, to check that nodes converged.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DigestResponse {
    /// Log offset of the last operation this node has applied.
    #[typeshare(serialized_as = "U53")]
    pub applied_offset: u64,
    pub collections: Vec<CollectionDigest>,
}

/// Digest of one collection: blake3 over its config and its points sorted by id.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CollectionDigest {
    pub name: String,
    #[typeshare(serialized_as = "U53")]
    pub points: u64,
    /// Lowercase hex blake3.
    pub digest: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_request_defaults_apply() {
        let req: SearchRequest = serde_json::from_str(r#"{"vector":[1.0]}"#).expect("parse");
        assert_eq!(req.limit, 10);
        assert!(!req.with_payload);
        assert!(!req.exact);
        assert_eq!(req.ef_search, None);
    }

    #[test]
    fn create_request_defaults_metric_to_cosine() {
        let req: CreateCollectionRequest = serde_json::from_str(r#"{"name":"a","dimension":3}"#).expect("parse");
        assert_eq!(req.metric, Metric::Cosine);
        assert_eq!(req.hnsw, None);
    }

    #[test]
    fn null_payload_is_serialised_explicitly() {
        let hit = ScoredPoint { id: "a".into(), score: 1.0, payload: None };
        let json = serde_json::to_value(&hit).expect("serialise");
        assert_eq!(json["payload"], serde_json::Value::Null);
        assert!(json.as_object().is_some_and(|o| o.contains_key("payload")));
    }
}
