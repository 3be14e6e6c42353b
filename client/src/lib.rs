//! Async Rust client for the Vectorizer REST API, and the core the Python and Node SDKs wrap.
//!
//! - [`Client`] accepts one or more endpoints of one cluster, discovers the master through
//!   `GET /api/v1/replication/status`, sends writes to it and routes reads by [`ReadPreference`].
//! - Results are the [`vectorizer_sdk_types`] wire types, re-exported as [`types`].
//! - Failures are one [`ClientError`] enum that keeps the server's error code and HTTP status.
//! - [`VectorEncoding`] chooses how sent vectors are written: JSON number arrays (default) or
//!   base64 strings of their little-endian float32 bytes (far cheaper for the server to decode).
//! - Every write has a `*_with` variant taking [`WriteOptions`]: the write concern `w` (how many
//!   voting nodes must hold it durable before it is acknowledged) and its `timeout_ms`.
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
//!
//! A write acknowledged only once a majority of the voting nodes hold it durable (else
//! `write_concern_timeout` after 2 s, the write staying applied where it reached):
//!
//! ```no_run
//! # async fn demo(client: vectorizer_client::Client) -> vectorizer_client::Result<()> {
//! use vectorizer_client::types::PointInput;
//! use vectorizer_client::{WriteConcern, WriteOptions};
//! let points = vec![PointInput { id: "a".into(), vector: vec![1.0, 0.0], payload: None }];
//! let options = WriteOptions::default().w(WriteConcern::Majority).timeout_ms(2_000);
//! let written = client.upsert_with("docs", points, options).await?;
//! println!("durable on a majority at offset {}", written.offset);
//! # Ok(()) }
//! ```

mod client;
mod config;
mod error;
mod topology;
mod transport;
mod vector_encoding;
mod write_options;

pub use client::{API_METHODS, Client, invalid_argument};
pub use config::{ClientConfig, DEFAULT_TIMEOUT, ReadPreference};
pub use error::{ClientError, ErrorClass, Result};
pub use transport::MAX_RESPONSE_BYTES;
pub use vector_encoding::VectorEncoding;
pub use vectorizer_sdk_types as types;
pub use write_options::{MAX_WRITE_TIMEOUT_MS, WriteConcern, WriteOptions};

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
