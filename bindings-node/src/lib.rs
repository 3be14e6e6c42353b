//! Node.js addon (napi-rs): a thin wrapper of `vectorizer-client`.
//!
//! Conversions live in `types.rs` (results are serialised wire types, so they match the
//! typeshare-generated `types.d.ts` exactly) and `error.rs` (JS `Error`s with `code`/`status`);
//! `client.rs` holds the `Client` class. No logic beyond conversion lives here.

mod client;
mod error;
mod types;

use napi::bindgen_prelude::*;
use napi_derive::napi;

pub use client::{Client, ClientOptions, WriteOptions};

fn parse_error(env: &Env, err: &vectorizer_client::ClientError) -> Error {
    // SAFETY: module functions run on the JS thread with this live env.
    unsafe { error::js_error(env.raw(), err) }
}

/// Parses a `GET /api/v1/replication/status` body exactly as `Client.getReplicationStatus` does.
#[napi(ts_return_type = "ReplicationStatus")]
pub fn parse_replication_status(env: Env, json: String) -> Result<serde_json::Value> {
    vectorizer_client::parse_replication_status(&json)
        .map_err(|e| parse_error(&env, &e))
        .and_then(|s| serde_json::to_value(s).map_err(|e| Error::new(Status::GenericFailure, e.to_string())))
}

/// Parses a `GET /api/v1/replication/replicas` body exactly as `Client.listReplicas` does.
#[napi(ts_return_type = "ReplicaInfo[]")]
pub fn parse_replica_list(env: Env, json: String) -> Result<serde_json::Value> {
    vectorizer_client::parse_replica_list(&json)
        .map_err(|e| parse_error(&env, &e))
        .and_then(|s| serde_json::to_value(s.replicas).map_err(|e| Error::new(Status::GenericFailure, e.to_string())))
}

/// Names of every API method of the Rust client, snake_case (for the parity test).
#[napi]
pub fn api_methods() -> Vec<&'static str> {
    vectorizer_client::API_METHODS.to_vec()
}
