//! Request extractors whose rejections are [`ApiError`]s.
//!
//! Invariant: a request body reaches a handler only if it is declared `application/json`, is at most
//! `http.max_body_bytes` long and deserialises into the handler's type; otherwise the client gets 415,
//! 413 or 400 `malformed_json` with a message that names the JSON path of the bad value and describes
//! expected types in JSON terms (never Rust type names such as `u32` or `usize`). A vector given as
//! a base64 string that does not decode (bad base64, or a byte count that is not a multiple of 4) is
//! such a 400 `malformed_json` too, naming the vector's path (`vectors[3].vector: ...`).

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use vectorizer_sdk_types::{ErrorCode, UpsertRequest};

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_json_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON request body of type `T` and its length in bytes (for handlers whose work is proportional
/// to the body and that pick where to run it by its size).
#[derive(Debug)]
pub struct SizedJson<T> {
    pub value: T,
    pub body_len: usize,
}

impl<T: DeserializeOwned> FromRequest<AppState> for SizedJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_json_body(req, state).await?;
        parse_json(&bytes).map(|value| SizedJson { value, body_len: bytes.len() })
    }
}

/// The body of `PUT .../vectors` and its length: decoded by [`crate::upsert_json::decode`] when it has
/// the common shape (the same result as serde, for a fraction of the CPU), else exactly as
/// [`SizedJson`] does (the same errors).
#[derive(Debug)]
pub struct UpsertBody {
    pub value: UpsertRequest,
    pub body_len: usize,
}

impl FromRequest<AppState> for UpsertBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_json_body(req, state).await?;
        Ok(UpsertBody { value: decode_upsert(&bytes)?, body_len: bytes.len() })
    }
}

/// Decodes an upsert body: [`crate::upsert_json::decode`], or [`parse_json`] for the bodies it leaves
/// to serde.
pub fn decode_upsert(bytes: &[u8]) -> Result<UpsertRequest, ApiError> {
    match crate::upsert_json::decode(bytes) {
        Some(value) => Ok(value),
        None => parse_json(bytes),
    }
}

/// The body of a request declared JSON, within `http.max_body_bytes`.
async fn read_json_body(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    check_content_type(req.headers())?;
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("request body exceeds the limit of {} bytes (http.max_body_bytes)", state.max_body_bytes),
            )
        } else {
            ApiError::new(ErrorCode::MalformedJson, format!("cannot read the request body: {rejection}"))
        }
    })
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let unsupported = |got: &str| {
        ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("expected a request body with Content-Type: application/json, got {got}"),
        )
    };
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(unsupported("no Content-Type header"));
    };
    let Ok(text) = value.to_str() else {
        return Err(unsupported("a Content-Type that is not ASCII"));
    };
    let essence = text.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let is_json = essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"));
    if is_json { Ok(()) } else { Err(unsupported(&format!("{text:?}"))) }
}

/// Parses `bytes` as one JSON value of type `T` (trailing characters are an error).
///
/// Every request body of the API is an object; serde would also accept a struct written as an array,
/// so a top-level array is refused here.
///
/// Decodes with plain `serde_json` (tracking the JSON path costs ~20 % of the decode, and decoding
/// is most of an ingest request's CPU); only a body that fails is parsed again through
/// `serde_path_to_error`, to name the path of the bad value. Parsing is deterministic, so the
/// second parse fails at the same place with the same error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::new(ErrorCode::MalformedJson, "request body: invalid type: array, expected an object"));
    }
    serde_json::from_slice(bytes).map_err(|plain| explain_failure::<T>(bytes, plain))
}

/// The error of a body that plain `serde_json` refused with `plain`: the same parse again, tracking
/// the path of the value being decoded.
fn explain_failure<T: DeserializeOwned>(bytes: &[u8], plain: serde_json::Error) -> ApiError {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) => {
            let path = e.path().to_string();
            json_error(&path, e.into_inner())
        }
        Ok(_) => match de.end() {
            Err(e) => json_error(".", e),
            // Unreachable while parsing is deterministic; the first error still describes the body.
            Ok(()) => json_error(".", plain),
        },
    }
}

fn json_error(path: &str, err: serde_json::Error) -> ApiError {
    let full = err.to_string();
    let location = format!(" at line {} column {}", err.line(), err.column());
    let message = full.strip_suffix(&location).unwrap_or(&full);
    let text = match err.classify() {
        serde_json::error::Category::Data => {
            let target = if path == "." { "request body" } else { path };
            format!("{target}: {}", readable(message))
        }
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof | serde_json::error::Category::Io => {
            format!("request body is not valid JSON: {message}{location}")
        }
    };
    ApiError::new(ErrorCode::MalformedJson, text)
}

/// Rewrites serde's Rust-flavoured type names into JSON terms.
fn readable(message: &str) -> String {
    const INTEGERS: [(&str, &str); 6] = [
        ("u8", "an integer from 0 to 255"),
        ("u16", "an integer from 0 to 65535"),
        ("u32", "an integer from 0 to 4294967295"),
        ("u64", "an integer from 0 to 18446744073709551615"),
        ("usize", "a non-negative integer"),
        ("i64", "an integer"),
    ];
    let mut out = message
        .replace("invalid type: map", "invalid type: object")
        .replace("invalid type: sequence", "invalid type: array")
        .replace("expected a map", "expected an object")
        .replace("expected a sequence", "expected an array")
        .replace("expected f32", "expected a number")
        .replace("expected f64", "expected a number")
        .replace("floating point", "number");
    for (rust, json) in INTEGERS {
        let from = format!("expected {rust}");
        if out.ends_with(&from) {
            out.truncate(out.len() - from.len());
            out.push_str("expected ");
            out.push_str(json);
        }
    }
    // "expected struct CreateCollectionRequest" -> "expected an object".
    if let Some(at) = out.find("expected struct ") {
        let rest = &out[at + "expected struct ".len()..];
        let ident_len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        out = format!("{}expected an object{}", &out[..at], &rest[ident_len..]);
    }
    out
}

/// Path parameters of type `T`, percent-decoded (so `a%2Fb` becomes `a/b`).
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                Err(ApiError::new(ErrorCode::InvalidArgument, format!("invalid path parameter: {}", e.body_text())))
            }
            Err(other) => Err(ApiError::internal(format!("route parameters unavailable: {}", other.body_text()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use vectorizer_sdk_types::{CreateCollectionRequest, SearchRequest, UpsertRequest};

    use super::*;

    fn message<T: DeserializeOwned + std::fmt::Debug>(json: &str) -> String {
        let err = parse_json::<T>(json.as_bytes()).expect_err(json);
        assert_eq!(err.code, ErrorCode::MalformedJson, "{json}");
        err.message
    }

    #[test]
    fn messages_name_the_path_and_json_types() {
        let m = message::<CreateCollectionRequest>(r#"{"name":"a","dimension":-3}"#);
        assert_eq!(m, "dimension: invalid value: integer `-3`, expected an integer from 0 to 4294967295");
        let m = message::<CreateCollectionRequest>(r#"{"name":"a","dimension":5000000000}"#);
        assert!(m.starts_with("dimension: ") && !m.contains("u32"), "{m}");
        let m = message::<CreateCollectionRequest>(r#"{"name":"a","dimension":1.5}"#);
        assert!(m.starts_with("dimension: invalid type: number `1.5`") && !m.contains("u32"), "{m}");
        let m = message::<CreateCollectionRequest>(r#"{"dimension":3}"#);
        assert_eq!(m, "request body: missing field `name`");
        let m = message::<CreateCollectionRequest>(r#"[1,2]"#);
        assert_eq!(m, "request body: invalid type: array, expected an object");
        let m = message::<UpsertRequest>(r#"{"vectors":[{"id":"a","vector":[1,"x"]}]}"#);
        assert_eq!(m, r#"vectors[0].vector[1]: invalid type: string "x", expected a number"#);
        let m = message::<UpsertRequest>(r#"{"vectors":[{"id":"a","vector":[1],"payload":[1]}]}"#);
        assert_eq!(m, "vectors[0].payload: invalid type: array, expected an object");
        let m = message::<UpsertRequest>(r#"{"vectors":[{"id":"a","vector":[1]},{"id":"b","vector":"AAC!"}]}"#);
        assert!(m.starts_with("vectors[1].vector: not valid base64 ("), "{m}");
        let m = message::<UpsertRequest>(r#"{"vectors":[{"id":"a","vector":"AACAPwAAgA=="}]}"#);
        assert!(m.starts_with("vectors[0].vector: base64 decodes to 7 bytes, not a multiple of 4"), "{m}");
        let m = message::<UpsertRequest>(r#"{"vectors":[{"id":"a","vector":{"x":1}}]}"#);
        assert_eq!(
            m,
            "vectors[0].vector: invalid type: object, expected an array of numbers or a base64 string of \
             little-endian float32 values"
        );
        let m = message::<SearchRequest>(r#"{"vector":[1],"limit":"ten"}"#);
        assert!(m.starts_with("limit: invalid type: string \"ten\""), "{m}");
        let m = message::<CreateCollectionRequest>(r#"{"name":"a","dimension":3,"metric":"hamming"}"#);
        assert!(m.starts_with("metric: unknown variant `hamming`"), "{m}");
    }

    /// The messages of the previous implementation: every body through serde_path_to_error.
    fn message_tracking_paths<T: DeserializeOwned>(json: &str) -> String {
        let mut de = serde_json::Deserializer::from_slice(json.as_bytes());
        match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Err(e) => {
                let path = e.path().to_string();
                json_error(&path, e.into_inner()).message
            }
            Ok(_) => json_error(".", de.end().expect_err(json)).message,
        }
    }

    #[test]
    fn messages_equal_those_of_always_tracking_paths() {
        let upserts = [
            r#"{"vectors":[{"id":"a","vector":[1,"x"]}]}"#,
            r#"{"vectors":[{"id":"a","vector":[1,2]},{"id":"b","vector":[1,2],"payload":7}]}"#,
            r#"{"vectors":[{"id":"a","vector":[1,2]},{"id":7,"vector":[1,2]}]}"#,
            r#"{"vectors":[{"id":"a","vector":[1,2]},{"vector":[1,2]}]}"#,
            r#"{"vectors":[{"id":"a","vector":[1,2,]}]}"#,
            r#"{"vectors":[{"id":"a","vector":[1,2]}]"#,
            r#"{"vectors":[{"id":"a","vector":[1,2]}]} ]"#,
            r#"{"vectors":{"id":"a"}}"#,
            r#"{"vectors":[{"id":"a","vector":[1e999999]}]}"#,
            r#"{"vectors":[{"id":"a","vector":"AACAPw=="},{"id":"b","vector":"AACAPw"}]}"#,
            r#"{"vectors":[{"id":"a","vector":"AACAPwAAgA=="}]}"#,
            r#"{"vectors":[{"id":"a","vector":"AACAPw=="}],"x":}"#,
            r#"{"vectors":[{"id":"a","vector":7}]}"#,
            "\n  {\"vectors\": [\n {\"id\": \"a\", \"vector\": [1, true]}]}",
            "",
            "null",
            "{}",
        ];
        for json in upserts {
            assert_eq!(message::<UpsertRequest>(json), message_tracking_paths::<UpsertRequest>(json), "{json}");
        }
        let creates = [
            r#"{"name":"a","dimension":-3}"#,
            r#"{"name":"a","dimension":3,"metric":"hamming"}"#,
            r#"{"name":"a","dimension":3,"hnsw":{"m":"x"}}"#,
            r#"{"name":"a","dimension":3} x"#,
            r#"{"name":"a","dimension":NaN}"#,
            r#"{"name":"a","#,
        ];
        for json in creates {
            let (now, before) =
                (message::<CreateCollectionRequest>(json), message_tracking_paths::<CreateCollectionRequest>(json));
            assert_eq!(now, before, "{json}");
        }
        let searches = [
            r#"{"vector":[1],"limit":"ten"}"#,
            r#"{"vector":[1],"limit":-1}"#,
            r#"{"vector":[[1]]}"#,
            r#"{"vector":"AAC"}"#,
        ];
        for json in searches {
            assert_eq!(message::<SearchRequest>(json), message_tracking_paths::<SearchRequest>(json), "{json}");
        }
    }

    #[test]
    fn syntax_errors_say_where() {
        let m = message::<CreateCollectionRequest>(r#"{"name":"a","#);
        assert!(m.starts_with("request body is not valid JSON: ") && m.contains("line 1 column"), "{m}");
        let m = message::<CreateCollectionRequest>(r#"{"name":"a","dimension":NaN}"#);
        assert!(m.starts_with("request body is not valid JSON"), "{m}");
        let m = message::<CreateCollectionRequest>(r#"{"name":"a","dimension":3} x"#);
        assert!(m.starts_with("request body is not valid JSON: trailing characters"), "{m}");
        let m = message::<CreateCollectionRequest>("");
        assert!(m.starts_with("request body is not valid JSON: EOF"), "{m}");
    }

    #[test]
    fn huge_numbers_become_infinite_f32_for_the_engine_to_reject() {
        let req: SearchRequest = parse_json(br#"{"vector":[1e300]}"#).expect("parses");
        assert!(req.vector[0].is_infinite());
    }

    #[test]
    fn base64_vectors_decode_to_the_array_values() {
        let req: UpsertRequest =
            parse_json(br#"{"vectors":[{"id":"a","vector":"AACAPwAAAAA="},{"id":"b","vector":[1,0]}]}"#)
                .expect("parses");
        assert_eq!(req.vectors[0].vector, req.vectors[1].vector);
        let req: SearchRequest = parse_json(br#"{"vector":"AACAPwAAAAA="}"#).expect("parses");
        assert_eq!(req.vector, vec![1.0, 0.0]);
    }

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        assert!(check_content_type(&h).is_err());
        for ok in ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/vnd.x+json"]
        {
            h.insert(header::CONTENT_TYPE, ok.parse().expect("header"));
            assert!(check_content_type(&h).is_ok(), "{ok}");
        }
        for bad in ["text/plain", "application/x-www-form-urlencoded", "json"] {
            h.insert(header::CONTENT_TYPE, bad.parse().expect("header"));
            let err = check_content_type(&h).expect_err(bad);
            assert_eq!(err.code, ErrorCode::UnsupportedMediaType);
        }
    }
}
