//! The HTTP application driven in-process with `tower::ServiceExt::oneshot` over a real engine in a
//! temporary directory.
//!
//! - `requests`: inputs the server rejects before the engine is called (JSON, content type, size,
//!   routing) plus the replication routes without replication, and health.
//! - `base64_vectors`: vectors sent as base64 strings (same values, same checks as arrays).
//! - `engine_errors`: inputs the engine rejects, and the happy paths (need the real engine).
//! - `replication`: the replication routes over a running replication runtime (loopback listener).
//! - `metrics`: `GET /metrics` (format, HTTP metrics labelled by route template, engine gauges).
//! - `openapi`: the generated document against `docs/openapi.json`, the router and real answers.

mod base64_vectors;
mod engine_errors;
mod metrics;
mod openapi;
mod replication;
mod requests;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;
use vectorizer_core::engine::{Engine, EngineConfig};
use vectorizer_core::replication::{Replication, ReplicationConfig};
use vectorizer_server::{AppState, app};

/// An app over a fresh engine; the temp dir lives as long as the returned guard.
pub struct TestApp {
    pub router: Router,
    /// The replication runtime, when the app was built with [`TestApp::replicated`].
    pub replication: Option<Arc<Replication>>,
    _dir: tempfile::TempDir,
}

impl Default for TestApp {
    fn default() -> Self {
        Self::with(|_| {}, 64 * 1024 * 1024)
    }
}

impl TestApp {
    pub fn new() -> Self {
        Self::default()
    }

    /// An app whose engine config is adjusted by `tune` and whose body limit is `max_body_bytes`.
    pub fn with(tune: impl FnOnce(&mut EngineConfig), max_body_bytes: usize) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = EngineConfig::new(dir.path());
        config.index_threads = 1;
        tune(&mut config);
        let engine = Engine::open(config).expect("engine opens");
        Self { router: app(AppState::new(engine, max_body_bytes)), replication: None, _dir: dir }
    }

    /// An app over a fresh engine with replication running on an ephemeral loopback port, its
    /// config adjusted by `tune`. Call [`TestApp::shutdown`] at the end.
    pub async fn replicated(tune: impl FnOnce(&mut ReplicationConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = EngineConfig::new(dir.path());
        config.index_threads = 1;
        let engine = Engine::open(config).expect("engine opens");
        let mut repl = ReplicationConfig::new("127.0.0.1:0", "127.0.0.1:15002");
        tune(&mut repl);
        let replication = Replication::start(Arc::clone(&engine), repl).await.expect("replication starts");
        let state = AppState::new(engine, 64 * 1024 * 1024).with_replication(Arc::clone(&replication));
        Self { router: app(state), replication: Some(replication), _dir: dir }
    }

    /// Stops the replication runtime, if any.
    pub async fn shutdown(&self) {
        if let Some(r) = &self.replication {
            r.shutdown().await;
        }
    }

    /// Sends a request with an optional raw body and content type; returns status and JSON body.
    pub async fn raw(
        &self,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let req = req.body(Body::from(body)).expect("request");
        let response = self.router.clone().oneshot(req).await.expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("non-JSON answer {status}: {e}: {bytes:?}"))
        };
        (status, json)
    }

    /// Sends a request without a body; returns status, `Content-Type` and the body as text.
    pub async fn text(&self, method: Method, uri: &str) -> (StatusCode, String, String) {
        let req = Request::builder().method(method).uri(uri).body(Body::empty()).expect("request");
        let response = self.router.clone().oneshot(req).await.expect("infallible");
        let status = response.status();
        let content_type =
            response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
        (status, content_type, String::from_utf8(bytes.to_vec()).expect("UTF-8 body"))
    }

    /// Sends `body` as JSON.
    pub async fn json(&self, method: Method, uri: &str, body: &Value) -> (StatusCode, Value) {
        self.raw(method, uri, Some("application/json"), body.to_string().into_bytes()).await
    }

    /// Sends a request without a body.
    pub async fn empty(&self, method: Method, uri: &str) -> (StatusCode, Value) {
        self.raw(method, uri, None, Vec::new()).await
    }
}

/// Asserts an error answer: status, code, and that the message contains every `needles`.
#[track_caller]
pub fn assert_error(answer: &(StatusCode, Value), status: u16, code: &str, needles: &[&str]) {
    let (got_status, body) = answer;
    assert_eq!(got_status.as_u16(), status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_else(|| panic!("no message: {body}"));
    for needle in needles {
        assert!(message.contains(needle), "message {message:?} lacks {needle:?}");
    }
    assert!(body["error"].as_object().is_some_and(|o| o.contains_key("master")), "{body}");
}
