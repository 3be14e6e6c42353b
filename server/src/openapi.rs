//! The OpenAPI description of the REST API, generated from the code.
//!
//! Invariant: the router and the document come from the same registrations
//! ([`crate::routes::api`], one `utoipa_axum::routes!` per handler annotated with `#[utoipa::path]`),
//! so a route cannot be served without being described, and the schemas are the
//! `vectorizer_sdk_types` wire types themselves (feature `openapi`). Errors every route shares
//! (request body rejections, server faults) are added here by rule, from the same facts the
//! extractors and the error mapping implement. `docs/openapi.json` is this document; a test fails
//! when it differs (regenerate with `cargo run -p vectorizer-server -- openapi > docs/openapi.json`).

use std::sync::LazyLock;

use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use vectorizer_sdk_types::{ErrorCode, ErrorDetail, ErrorResponse};

/// Document-level information; paths and the wire schemas are collected from the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vectorizer REST API",
        description = "Vector database with master/replica replication. Every non-2xx answer is an \
            `ErrorResponse` (`{\"error\":{\"code\",\"message\",\"master\"}}`) whose HTTP status is fixed by its \
            `code` (see `ErrorCode`); unknown routes answer 404 `not_found`, known routes with another method \
            405 `method_not_allowed`. Timestamps are RFC 3339 UTC. Reference: docs/API.md."
    ),
    components(schemas(ErrorResponse, ErrorDetail, ErrorCode)),
    tags(
        (name = "collections", description = "Create, list, inspect and delete collections"),
        (name = "points", description = "Insert, fetch and delete points"),
        (name = "search", description = "Nearest-neighbour search"),
        (name = "snapshots", description = "On-demand snapshots"),
        (name = "replication", description = "Replication status, statistics and control"),
        (name = "admin", description = "Operator checks"),
        (name = "cluster", description = "Cluster mode: the failover controller's view"),
        (name = "monitoring", description = "Health, Prometheus metrics and this document"),
    )
)]
pub struct ApiDoc;

/// The complete document: paths from the routes plus the shared error responses.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, mut api) = crate::routes::api().split_for_parts();
    for (path, item) in &mut api.paths.paths {
        let reaches_engine = path.starts_with("/api/v1/");
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for op in operations.into_iter().flatten() {
            add_shared_errors(op, reaches_engine);
        }
    }
    api
}

/// The document as pretty JSON with a final newline: the exact content of `docs/openapi.json`.
pub fn json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        // Serialising a document built from our own types cannot fail; an empty object would make
        // the docs test fail loudly if it ever did.
        let mut text = document().to_pretty_json().unwrap_or_else(|_| "{}".to_owned());
        text.push('\n');
        text
    });
    &JSON
}

/// Adds the errors that apply to an operation by rule:
/// - with a request body: 400 `malformed_json`, 413 `payload_too_large`, 415 `unsupported_media_type`
///   (`crate::extract::ApiJson`);
/// - under `/api/v1` (anything that reaches the engine): 500 `internal`.
fn add_shared_errors(op: &mut Operation, reaches_engine: bool) {
    if op.request_body.is_some() {
        add_error(
            op,
            400,
            "`malformed_json`: the body is not JSON or does not match the schema (the message names the JSON path)",
        );
        add_error(op, 413, "`payload_too_large`: the body exceeds `http.max_body_bytes`");
        add_error(op, 415, "`unsupported_media_type`: the body is not declared `application/json`");
    }
    if reaches_engine {
        add_error(op, 500, "`internal`: a server-side fault (I/O error, corruption); never caused by the request");
    }
}

/// Adds `description` to the `status` response of `op` (creating it with an `ErrorResponse` body).
fn add_error(op: &mut Operation, status: u16, description: &str) {
    let key = status.to_string();
    match op.responses.responses.get_mut(&key) {
        Some(RefOr::T(existing)) => {
            existing.description = format!("{}; {description}", existing.description);
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            let body = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorResponse"))).build();
            let response = ResponseBuilder::new().description(description).content("application/json", body).build();
            op.responses.responses.insert(key, RefOr::T(response));
        }
    }
}
