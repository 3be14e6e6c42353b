//! Validated domain types: collection configs, points and the operations that change state.
//!
//! Invariant: a value of [`CollectionConfig`], [`Point`] or [`Op`] built through the `validate_*`
//! functions satisfies every limit in [`Limits`]; the engine and the log never see unchecked input.
//! Payloads are kept as compact JSON text of an object: they are stored and shipped as-is and only
//! parsed when a client asks for them.

use vectorizer_sdk_types as wire;

use crate::error::{CoreError, Result};

pub use wire::{HnswParams, Metric};

/// Default HNSW links per node (upper layers; layer 0 keeps twice as many).
pub const DEFAULT_M: u32 = 16;
/// Default candidate list size while building the graph.
pub const DEFAULT_EF_CONSTRUCTION: u32 = 100;
/// Default candidate list size while searching.
pub const DEFAULT_EF_SEARCH: u32 = 64;

/// Input limits. All are enforced before an operation reaches the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum serialised size of one point's payload.
    pub max_payload_bytes: usize,
    /// Maximum points (upsert) or ids (delete) in one request.
    pub max_batch: usize,
    /// Maximum `limit` of a search.
    pub max_search_limit: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_payload_bytes: 64 * 1024, max_batch: 10_000, max_search_limit: 10_000 }
    }
}

/// Name length limit of a collection, in characters.
pub const MAX_COLLECTION_NAME_LEN: usize = 128;
/// Largest supported dimension.
pub const MAX_DIMENSION: u32 = 65_536;
/// Largest point id, in bytes of UTF-8.
pub const MAX_ID_BYTES: usize = 256;
/// Allowed range of `hnsw.m`.
pub const M_RANGE: std::ops::RangeInclusive<u32> = 4..=64;
/// Allowed range of `hnsw.ef_construction`.
pub const EF_CONSTRUCTION_RANGE: std::ops::RangeInclusive<u32> = 8..=4096;
/// Allowed range of `ef_search` (per collection and per query).
pub const EF_SEARCH_RANGE: std::ops::RangeInclusive<u32> = 1..=4096;

/// A collection's immutable configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionConfig {
    pub name: String,
    pub dimension: u32,
    pub metric: Metric,
    pub hnsw: HnswParams,
}

/// A point ready to be stored: id, vector of exactly `dimension` finite values, payload JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub id: String,
    pub vector: Vec<f32>,
    /// Compact JSON text of an object, or `None`.
    pub payload: Option<Box<str>>,
}

/// A state change: the unit of durability and of replication.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    CreateCollection(CollectionConfig),
    DeleteCollection { name: String },
    Upsert { collection: String, points: Vec<Point> },
    Delete { collection: String, ids: Vec<String> },
    SetPayload { collection: String, id: String, payload: Option<Box<str>> },
}

impl Op {
    /// The collection this operation touches.
    pub fn collection(&self) -> &str {
        match self {
            Op::CreateCollection(cfg) => &cfg.name,
            Op::DeleteCollection { name } => name,
            Op::Upsert { collection, .. } | Op::Delete { collection, .. } | Op::SetPayload { collection, .. } => {
                collection
            }
        }
    }
}

/// Checks a collection name: 1-128 characters of `[A-Za-z0-9_-]`.
pub fn validate_collection_name(field: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_COLLECTION_NAME_LEN {
        return Err(CoreError::invalid(
            field,
            format!("must be 1 to {MAX_COLLECTION_NAME_LEN} characters, got {}", name.chars().count()),
        ));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(CoreError::invalid(field, format!("may only contain letters, digits, '_' and '-', found {bad:?}")));
    }
    Ok(())
}

/// Resolves defaults and checks every field of a create-collection request.
pub fn validate_create(req: &wire::CreateCollectionRequest) -> Result<CollectionConfig> {
    validate_collection_name("name", &req.name)?;
    if req.dimension == 0 || req.dimension > MAX_DIMENSION {
        return Err(CoreError::invalid(
            "dimension",
            format!("must be between 1 and {MAX_DIMENSION}, got {}", req.dimension),
        ));
    }
    let given = req.hnsw.unwrap_or_default();
    let hnsw = HnswParams {
        m: given.m.unwrap_or(DEFAULT_M),
        ef_construction: given.ef_construction.unwrap_or(DEFAULT_EF_CONSTRUCTION),
        ef_search: given.ef_search.unwrap_or(DEFAULT_EF_SEARCH),
    };
    check_range("hnsw.m", hnsw.m, &M_RANGE)?;
    check_range("hnsw.ef_construction", hnsw.ef_construction, &EF_CONSTRUCTION_RANGE)?;
    check_range("hnsw.ef_search", hnsw.ef_search, &EF_SEARCH_RANGE)?;
    Ok(CollectionConfig { name: req.name.clone(), dimension: req.dimension, metric: req.metric, hnsw })
}

/// Checks that `value` lies in `range`, naming `field` and the range otherwise.
pub fn check_range(field: &str, value: u32, range: &std::ops::RangeInclusive<u32>) -> Result<()> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(CoreError::invalid(field, format!("must be between {} and {}, got {value}", range.start(), range.end())))
    }
}

/// Checks a point id: 1..=256 bytes.
pub fn validate_point_id(field: &str, id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(CoreError::invalid(field, format!("must be 1 to {MAX_ID_BYTES} bytes, got {} bytes", id.len())));
    }
    Ok(())
}

/// Checks a vector against a collection: exact length, finite values only.
pub fn validate_vector(collection: &CollectionConfig, field: &str, vector: &[f32]) -> Result<()> {
    if vector.len() != collection.dimension as usize {
        return Err(CoreError::DimensionMismatch {
            collection: collection.name.clone(),
            field: field.to_owned(),
            expected: collection.dimension,
            actual: vector.len(),
        });
    }
    if let Some(pos) = vector.iter().position(|v| !v.is_finite()) {
        return Err(CoreError::invalid(
            format!("{field}[{pos}]"),
            "must be a finite number (NaN and infinities are rejected)",
        ));
    }
    Ok(())
}

/// Serialises a payload to compact JSON text and checks its size.
pub fn encode_payload(field: &str, payload: &wire::Payload, limits: &Limits) -> Result<Box<str>> {
    let text =
        serde_json::to_string(payload).map_err(|e| CoreError::invalid(field, format!("cannot be serialised: {e}")))?;
    if text.len() > limits.max_payload_bytes {
        return Err(CoreError::TooLarge {
            field: field.to_owned(),
            actual: text.len(),
            limit: limits.max_payload_bytes,
        });
    }
    Ok(text.into_boxed_str())
}

/// Parses stored payload text back into a JSON object.
pub fn decode_payload(text: &str) -> Result<wire::Payload> {
    serde_json::from_str(text).map_err(|e| CoreError::decode(format!("stored payload is not a JSON object: {e}")))
}

/// Validates an upsert batch against its collection and builds the points to store.
pub fn validate_points(
    collection: &CollectionConfig,
    inputs: Vec<wire::PointInput>,
    limits: &Limits,
) -> Result<Vec<Point>> {
    check_batch("vectors", inputs.len(), limits)?;
    inputs
        .into_iter()
        .enumerate()
        .map(|(i, input)| {
            validate_point_id(&format!("vectors[{i}].id"), &input.id)?;
            validate_vector(collection, &format!("vectors[{i}].vector"), &input.vector)?;
            let payload = input
                .payload
                .as_ref()
                .map(|p| encode_payload(&format!("vectors[{i}].payload"), p, limits))
                .transpose()?;
            Ok(Point { id: input.id, vector: input.vector, payload })
        })
        .collect()
}

/// Validates the ids of a delete batch.
pub fn validate_ids(ids: &[String], limits: &Limits) -> Result<()> {
    check_batch("ids", ids.len(), limits)?;
    for (i, id) in ids.iter().enumerate() {
        validate_point_id(&format!("ids[{i}]"), id)?;
    }
    Ok(())
}

fn check_batch(field: &str, len: usize, limits: &Limits) -> Result<()> {
    if len == 0 || len > limits.max_batch {
        return Err(CoreError::invalid(field, format!("must hold 1 to {} entries, got {len}", limits.max_batch)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dim: u32) -> CollectionConfig {
        validate_create(&wire::CreateCollectionRequest {
            name: "c".into(),
            dimension: dim,
            metric: Metric::Cosine,
            hnsw: None,
        })
        .expect("valid")
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_collection_name("name", "ok_Name-1").is_ok());
        assert!(validate_collection_name("name", "").is_err());
        assert!(validate_collection_name("name", &"a".repeat(129)).is_err());
        assert!(validate_collection_name("name", &"a".repeat(128)).is_ok());
        let err = validate_collection_name("name", "a/b").expect_err("slash");
        assert!(err.to_string().contains("'/'"), "{err}");
    }

    #[test]
    fn defaults_and_ranges() {
        let c = cfg(3);
        assert_eq!(c.hnsw, HnswParams { m: 16, ef_construction: 100, ef_search: 64 });
        let bad =
            wire::CreateCollectionRequest { name: "c".into(), dimension: 65_537, metric: Metric::Dot, hnsw: None };
        let err = validate_create(&bad).expect_err("too big");
        assert!(err.to_string().contains("dimension") && err.to_string().contains("65536"), "{err}");
        let bad_m = wire::CreateCollectionRequest {
            hnsw: Some(wire::HnswConfig { m: Some(2), ..Default::default() }),
            dimension: 3,
            ..bad
        };
        assert!(validate_create(&bad_m).expect_err("m").to_string().contains("hnsw.m"));
    }

    #[test]
    fn vectors_must_match_and_be_finite() {
        let c = cfg(3);
        assert!(validate_vector(&c, "v", &[1.0, 2.0, 3.0]).is_ok());
        assert!(matches!(
            validate_vector(&c, "v", &[1.0]),
            Err(CoreError::DimensionMismatch { expected: 3, actual: 1, .. })
        ));
        let err = validate_vector(&c, "v", &[1.0, f32::NAN, 3.0]).expect_err("nan");
        assert!(err.to_string().contains("v[1]"), "{err}");
    }

    #[test]
    fn payload_size_is_capped() {
        let limits = Limits { max_payload_bytes: 10, ..Limits::default() };
        let mut p = wire::Payload::new();
        p.insert("k".into(), serde_json::Value::String("x".repeat(20)));
        assert!(matches!(encode_payload("p", &p, &limits), Err(CoreError::TooLarge { limit: 10, .. })));
    }

    #[test]
    fn batches_are_bounded() {
        let limits = Limits { max_batch: 2, ..Limits::default() };
        assert!(validate_ids(&[], &limits).is_err());
        assert!(validate_ids(&["a".into(), "b".into(), "c".into()], &limits).is_err());
        assert!(validate_ids(&["a".into()], &limits).is_ok());
        assert!(validate_ids(&[String::new()], &limits).is_err());
    }
}
