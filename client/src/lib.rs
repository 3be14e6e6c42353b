//! Async Rust client for the Vectorizer REST API, and the core the Python and Node SDKs wrap.
//!
//! - [`Client`] accepts one or more endpoints of one cluster, discovers the master through
//!   `GET /api/v1/replication/status`, sends writes to it and routes reads by [`ReadPreference`].
//! - Results are the [`vectorizer_sdk_types`] wire types, re-exported as [`types`].
//! - Failures are one [`ClientError`] enum that keeps the server's error code and HTTP status.
//!
//! ```no_run
//! # async fn demo() -> vectorizer_client::Result<()> {
//! use vectorizer_client::{Client, ClientConfig, ReadPreference};
//! let client = Client::new(
//!     ClientConfig::new(["http://127.0.0.1:7001", "http://127.0.0.1:7002"])?
//!         .read_preference(ReadPreference::PreferReplica),
//! )?;
//! let status = client.get_replication_status(None).await?;
//! if let Some(stats) = status.stats {
//!     println!("lag: {} ms", stats.lag_ms);
//! }
//! # Ok(()) }
//! ```

mod client;
mod config;
mod error;
mod topology;
mod transport;

pub use client::{API_METHODS, Client, invalid_argument};
pub use config::{ClientConfig, DEFAULT_TIMEOUT, ReadPreference};
pub use error::{ClientError, ErrorClass, Result};
pub use transport::MAX_RESPONSE_BYTES;
pub use vectorizer_sdk_types as types;

use vectorizer_sdk_types::{ReplicaListResponse, ReplicationStatus};

/// Parses a `GET /api/v1/replication/status` body exactly as [`Client`] does (unknown fields
/// ignored, nulls kept as `None`). Exposed so SDK tests can feed recorded responses.
pub fn parse_replication_status(json: &str) -> Result<ReplicationStatus> {
    parse_body(json)
}

/// Parses a `GET /api/v1/replication/replicas` body exactly as [`Client`] does.
pub fn parse_replica_list(json: &str) -> Result<ReplicaListResponse> {
    parse_body(json)
}

fn parse_body<T: serde::de::DeserializeOwned>(json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|source| ClientError::Decode { endpoint: "<input>".into(), source })
}
