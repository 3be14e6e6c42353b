//! The two wire forms of a vector in requests: a JSON array of numbers, or a base64 string.
//!
//! Invariant: both forms decode to the same `Vec<f32>`. The string form is standard base64
//! (RFC 4648 alphabet, with padding) of the vector's IEEE-754 float32 values in little-endian byte
//! order, 4 bytes per value; a string that is not valid base64, or whose decoded length is not a
//! multiple of 4, is a deserialisation error (the server reports it with the field's JSON path).
//! Decoding allocates at most 3/4 of the string's length (plus the same again as floats), so it is
//! bounded by the request body, and never panics. Dimension and finiteness are not checked here:
//! the engine checks them exactly as for arrays.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserializer;
use serde::de::{Error, SeqAccess, Visitor};

/// Bytes per value in the base64 form (one little-endian IEEE-754 float32).
pub const BASE64_BYTES_PER_VALUE: usize = 4;

/// Why a base64 vector string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VectorDecodeError {
    /// Not standard base64 with padding; `reason` is the base64 decoder's description.
    InvalidBase64 { reason: String },
    /// Valid base64, but the decoded byte count is not a multiple of 4.
    LengthNotMultipleOfFour { bytes: usize },
}

impl fmt::Display for VectorDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidBase64 { reason } => write!(
                f,
                "not valid base64 ({reason}); expected an array of numbers or standard base64 (with padding) \
                 of little-endian float32 values"
            ),
            Self::LengthNotMultipleOfFour { bytes } => write!(
                f,
                "base64 decodes to {bytes} bytes, not a multiple of {BASE64_BYTES_PER_VALUE} \
                 (one little-endian float32 per {BASE64_BYTES_PER_VALUE} bytes)"
            ),
        }
    }
}

impl std::error::Error for VectorDecodeError {}

/// Decodes the base64 form of a vector (see the module documentation).
pub fn decode_base64(text: &str) -> Result<Vec<f32>, VectorDecodeError> {
    let bytes = STANDARD.decode(text).map_err(|e| VectorDecodeError::InvalidBase64 { reason: e.to_string() })?;
    if bytes.len() % BASE64_BYTES_PER_VALUE != 0 {
        return Err(VectorDecodeError::LengthNotMultipleOfFour { bytes: bytes.len() });
    }
    Ok(bytes.chunks_exact(BASE64_BYTES_PER_VALUE).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// The base64 form of `vector`: standard base64 (with padding) of its little-endian f32 bytes.
pub fn encode_base64(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    STANDARD.encode(bytes)
}

/// `deserialize_with` for a request's `vector` field: an array of numbers or a base64 string.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f32>, D::Error> {
    deserializer.deserialize_any(VectorVisitor)
}

/// OpenAPI schema of a request vector: an array of numbers or a base64 string.
#[cfg(feature = "openapi")]
pub fn openapi_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};
    let number =
        ObjectBuilder::new().schema_type(Type::Number).format(Some(SchemaFormat::KnownFormat(KnownFormat::Float)));
    let array = ArrayBuilder::new().items(number).description(Some("Exactly `dimension` finite numbers."));
    let string = ObjectBuilder::new().schema_type(Type::String).content_encoding("base64").description(Some(
        "Standard base64 (RFC 4648, with padding) of the `dimension` values as little-endian IEEE-754 float32, \
             4 bytes per value.",
    ));
    Schema::OneOf(
        OneOfBuilder::new()
            .item(array)
            .item(string)
            .description(Some(
                "The vector: an array of numbers, or the base64 string of its little-endian float32 bytes.",
            ))
            .build(),
    )
}

struct VectorVisitor;

impl<'de> Visitor<'de> for VectorVisitor {
    type Value = Vec<f32>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of numbers or a base64 string of little-endian float32 values")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<f32>, A::Error> {
        // The hint comes from the input; capped so a lying hint cannot force a large allocation.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(value) = seq.next_element::<f32>()? {
            out.push(value);
        }
        Ok(out)
    }

    fn visit_str<E: Error>(self, text: &str) -> Result<Vec<f32>, E> {
        decode_base64(text).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "deserialize")]
        vector: Vec<f32>,
    }

    fn parse(json: &str) -> Result<Vec<f32>, String> {
        serde_json::from_str::<Holder>(json).map(|h| h.vector).map_err(|e| e.to_string())
    }

    #[test]
    fn both_forms_decode_to_the_same_bits() {
        let values = [0.0f32, -0.0, 1.5, -3.25e-7, f32::MAX, f32::MIN_POSITIVE, 1.0 / 3.0];
        let encoded = encode_base64(&values);
        let from_string = parse(&format!(r#"{{"vector":"{encoded}"}}"#)).expect("base64");
        let array = serde_json::to_string(&values).expect("json");
        let from_array = parse(&format!(r#"{{"vector":{array}}}"#)).expect("array");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&from_string), bits(&values));
        assert_eq!(bits(&from_array), bits(&values));
    }

    #[test]
    fn known_encoding_is_little_endian() {
        // 1.0f32 = 0x3F800000 -> bytes 00 00 80 3F -> "AACAPw==".
        assert_eq!(encode_base64(&[1.0]), "AACAPw==");
        assert_eq!(decode_base64("AACAPw==").expect("decode"), vec![1.0]);
        assert_eq!(decode_base64("").expect("empty"), Vec::<f32>::new());
    }

    #[test]
    fn non_finite_values_pass_through_for_the_engine_to_reject() {
        let v = decode_base64(&encode_base64(&[f32::NAN, f32::INFINITY])).expect("decode");
        assert!(v[0].is_nan() && v[1].is_infinite());
    }

    #[test]
    fn bad_strings_are_refused_with_a_reason() {
        assert!(matches!(decode_base64("AACAPw"), Err(VectorDecodeError::InvalidBase64 { .. })), "no padding");
        assert!(matches!(decode_base64("AAC!Pw=="), Err(VectorDecodeError::InvalidBase64 { .. })));
        assert!(matches!(decode_base64("AACA Pw=="), Err(VectorDecodeError::InvalidBase64 { .. })));
        assert_eq!(decode_base64("AACA"), Err(VectorDecodeError::LengthNotMultipleOfFour { bytes: 3 }));
        let m = parse(r#"{"vector":"AACA"}"#).expect_err("3 bytes");
        assert!(m.starts_with("base64 decodes to 3 bytes, not a multiple of 4"), "{m}");
        let m = parse(r#"{"vector":"%%%%"}"#).expect_err("bad base64");
        assert!(m.starts_with("not valid base64 ("), "{m}");
    }

    #[test]
    fn other_types_are_refused() {
        let m = parse(r#"{"vector":5}"#).expect_err("number");
        assert!(m.contains("expected an array of numbers or a base64 string"), "{m}");
        let m = parse(r#"{"vector":[1,"x"]}"#).expect_err("string element");
        assert!(m.starts_with(r#"invalid type: string "x", expected f32"#), "{m}");
    }

    #[test]
    fn arbitrary_strings_never_panic() {
        let alphabet = b"AB+/=a9!";
        let mut state = 12345u32;
        for len in 0..64 {
            let text: String = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    alphabet[(state >> 16) as usize % alphabet.len()] as char
                })
                .collect();
            let _ = decode_base64(&text);
        }
    }
}
