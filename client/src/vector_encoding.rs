//! How the client writes the vectors it sends: JSON number arrays or base64 strings.
//!
//! Invariant: both encodings carry exactly the same f32 values (base64 is the little-endian
//! float32 bytes, see `vectorizer_sdk_types::vector`); only the request bodies' bytes differ.
//! The bodies here mirror [`UpsertRequest`] and [`SearchRequest`] field for field (destructured
//! exhaustively, so a new wire field fails to compile here until it is added).

use serde::Serialize;
use vectorizer_sdk_types::vector::encode_base64;
use vectorizer_sdk_types::{Payload, PointInput, SearchRequest};

use crate::error::{ClientError, Result};

/// How vectors are written in request bodies (upsert points and search queries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VectorEncoding {
    /// A JSON array of numbers: understood by every server version.
    #[default]
    Array,
    /// A string: standard base64 of the values as little-endian float32. Needs a server that
    /// accepts base64 vectors (older servers answer `malformed_json`); much cheaper for the server to decode.
    Base64,
}

impl VectorEncoding {
    /// Parses the names used by the bindings: `"array"` or `"base64"`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "array" => Ok(Self::Array),
            "base64" => Ok(Self::Base64),
            other => Err(ClientError::InvalidArgument {
                argument: "vector_encoding",
                reason: format!("expected \"array\" or \"base64\", got {other:?}"),
            }),
        }
    }
}

/// An upsert body whose vectors are base64 strings.
#[derive(Serialize)]
pub(crate) struct Base64Upsert<'a> {
    vectors: Vec<Base64Point<'a>>,
}

#[derive(Serialize)]
struct Base64Point<'a> {
    id: &'a str,
    vector: String,
    payload: &'a Option<Payload>,
}

impl<'a> Base64Upsert<'a> {
    pub(crate) fn new(points: &'a [PointInput]) -> Self {
        let vectors = points
            .iter()
            .map(|point| {
                let PointInput { id, vector, payload } = point;
                Base64Point { id, vector: encode_base64(vector), payload }
            })
            .collect();
        Self { vectors }
    }
}

/// A search body whose query vector is a base64 string.
#[derive(Serialize)]
pub(crate) struct Base64Search {
    vector: String,
    limit: u32,
    with_payload: bool,
    exact: bool,
    ef_search: Option<u32>,
}

impl Base64Search {
    pub(crate) fn new(request: &SearchRequest) -> Self {
        let SearchRequest { vector, limit, with_payload, exact, ef_search } = request;
        Self {
            vector: encode_base64(vector),
            limit: *limit,
            with_payload: *with_payload,
            exact: *exact,
            ef_search: *ef_search,
        }
    }
}

#[cfg(test)]
mod tests {
    use vectorizer_sdk_types::UpsertRequest;

    use super::*;

    #[test]
    fn base64_bodies_decode_to_the_same_requests() {
        let points = vec![
            PointInput { id: "a".into(), vector: vec![1.0 / 3.0, -0.0, 7.5], payload: None },
            PointInput {
                id: "b".into(),
                vector: vec![f32::MAX, f32::MIN_POSITIVE, 0.1],
                payload: serde_json::json!({"k": [1, 2]}).as_object().cloned(),
            },
        ];
        let body = serde_json::to_string(&Base64Upsert::new(&points)).expect("encode");
        assert!(body.contains(r#""vector":""#), "{body}");
        let back: UpsertRequest = serde_json::from_str(&body).expect("decode");
        assert_eq!(back.vectors, points);

        let search =
            SearchRequest { vector: vec![0.25, -1.0], limit: 3, with_payload: true, exact: false, ef_search: Some(9) };
        let body = serde_json::to_string(&Base64Search::new(&search)).expect("encode");
        assert_eq!(serde_json::from_str::<SearchRequest>(&body).expect("decode"), search);
    }

    #[test]
    fn names_parse() {
        assert_eq!(VectorEncoding::parse("array").expect("array"), VectorEncoding::Array);
        assert_eq!(VectorEncoding::parse("base64").expect("base64"), VectorEncoding::Base64);
        assert!(matches!(VectorEncoding::parse("json"), Err(ClientError::InvalidArgument { .. })));
    }
}
