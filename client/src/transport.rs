//! One HTTP exchange with one endpoint: build the URL, send, bound and decode the answer.
//!
//! Invariants: path segments and query values are percent-encoded (point ids may contain `/`); a
//! response body is never read beyond [`MAX_RESPONSE_BYTES`]; a non-2xx answer always becomes a
//! [`ClientError`] carrying the server's code and status; unknown JSON fields are ignored.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use vectorizer_sdk_types::ErrorResponse;

use crate::config::endpoint_name;
use crate::error::{ClientError, Result};

/// Largest response body the client accepts (a 10,000-hit search with 64 KiB payloads fits).
pub const MAX_RESPONSE_BYTES: usize = 1 << 30;

/// Per-request extras: query parameters, and time the request may take beyond the client's
/// timeout (a write that waits up to `timeout_ms` for its write concern).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct RequestOptions {
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) extra_timeout: Duration,
}

/// Shared HTTP state: one connection pool for every endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    api_key: Option<String>,
    timeout: Duration,
}

impl Transport {
    pub(crate) fn new(api_key: Option<String>, timeout: Duration) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|source| ClientError::Transport { endpoint: String::new(), source })?;
        Ok(Self { http, api_key, timeout })
    }

    /// Sends `method` to `base` + `/` + `segments` (each percent-encoded) with an optional JSON body.
    pub(crate) async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        base: &Url,
        method: Method,
        segments: &[&str],
        body: Option<&B>,
    ) -> Result<T> {
        self.call_with(base, method, segments, body, &RequestOptions::default()).await
    }

    /// [`Transport::call`] with query parameters and a longer timeout.
    pub(crate) async fn call_with<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        base: &Url,
        method: Method,
        segments: &[&str],
        body: Option<&B>,
        options: &RequestOptions,
    ) -> Result<T> {
        let endpoint = endpoint_name(base);
        let url = with_query(join(base, segments)?, &options.query);
        let timeout = self.timeout + options.extra_timeout;
        let mut request = self.http.request(method, url);
        if !options.extra_timeout.is_zero() {
            request = request.timeout(timeout);
        }
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let mut response = request.send().await.map_err(|e| map_send_error(&endpoint, timeout, e))?;
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| map_send_error(&endpoint, timeout, e))? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(ClientError::Decode {
                    endpoint,
                    source: serde::de::Error::custom(format!("response body exceeds {MAX_RESPONSE_BYTES} bytes")),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        decode(&endpoint, status, &bytes)
    }
}

fn map_send_error(endpoint: &str, timeout: Duration, source: reqwest::Error) -> ClientError {
    let endpoint = endpoint.to_owned();
    if source.is_timeout() {
        ClientError::Timeout { endpoint, timeout }
    } else if source.is_connect() || source.is_request() {
        ClientError::Connection { endpoint, source }
    } else {
        ClientError::Transport { endpoint, source }
    }
}

/// Appends percent-encoded path segments to the endpoint's base path.
fn join(base: &Url, segments: &[&str]) -> Result<Url> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| ClientError::InvalidEndpoint { url: base.to_string(), reason: "cannot hold a path".into() })?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// Appends `query` (percent-encoded); without pairs the URL gets no `?` at all.
fn with_query(mut url: Url, query: &[(&'static str, String)]) -> Url {
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
    }
    url
}

/// Turns a status and body into the typed answer or the server's error.
pub(crate) fn decode<T: DeserializeOwned>(endpoint: &str, status: StatusCode, body: &[u8]) -> Result<T> {
    if status.is_success() {
        return serde_json::from_slice(body)
            .map_err(|source| ClientError::Decode { endpoint: endpoint.to_owned(), source });
    }
    match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(ErrorResponse { error }) => Err(ClientError::Api {
            endpoint: endpoint.to_owned(),
            status: status.as_u16(),
            code: error.code,
            message: error.message,
            master: error.master,
        }),
        Err(_) => Err(ClientError::UnexpectedStatus { endpoint: endpoint.to_owned(), status: status.as_u16() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vectorizer_sdk_types::WriteResponse;

    #[test]
    fn ids_with_slashes_are_one_segment() {
        let base = Url::parse("http://h:1/base").expect("url");
        let url = join(&base, &["api", "v1", "collections", "c", "vectors", "a/b c"]).expect("join");
        assert_eq!(url.as_str(), "http://h:1/base/api/v1/collections/c/vectors/a%2Fb%20c");
    }

    #[test]
    fn query_pairs_are_appended_only_when_present() {
        let base = Url::parse("http://h:1").expect("url");
        let url = join(&base, &["api", "v1", "collections", "c"]).expect("join");
        assert_eq!(with_query(url.clone(), &[]).as_str(), "http://h:1/api/v1/collections/c");
        let query = [("w", "majority".to_owned()), ("timeout_ms", "250".to_owned())];
        assert_eq!(with_query(url, &query).as_str(), "http://h:1/api/v1/collections/c?w=majority&timeout_ms=250");
    }

    #[test]
    fn error_bodies_keep_code_status_and_master() {
        let body = br#"{"error":{"code":"read_only_replica","message":"ro","master":"m:1","x":1}}"#;
        let err = decode::<WriteResponse>("http://r", StatusCode::CONFLICT, body).expect_err("error");
        assert_eq!(err.code(), "read_only_replica");
        assert_eq!(err.http_status(), Some(409));
        assert_eq!(err.master_hint(), Some("m:1"));
    }

    #[test]
    fn non_json_error_keeps_status() {
        let err = decode::<WriteResponse>("http://r", StatusCode::BAD_GATEWAY, b"<html>").expect_err("e");
        assert!(matches!(err, ClientError::UnexpectedStatus { status: 502, .. }));
    }

    #[test]
    fn bad_success_body_is_a_decode_error() {
        let err = decode::<WriteResponse>("http://r", StatusCode::OK, b"{}").expect_err("e");
        assert_eq!(err.code(), "invalid_response");
    }
}
