//! Wire types of the Vectorizer REST API (`/api/v1`).
//!
//! This crate is the single source of truth for request and response shapes: the server serialises
//! these exact types, the Rust client deserialises them, and the Python and TypeScript type files are
//! generated from them with `typeshare`. It holds no logic and performs no I/O.
//!
//! Invariants kept here:
//! - Every nullable field is `Option<T>` serialised as an explicit `null` (never omitted), so
//!   generated types declare `field: T | null` and match the JSON exactly.
//! - Unknown fields are ignored when parsing, so newer servers stay readable by older clients.
//! - Integers that may exceed 2^32 are `u64` on the Rust side and `U53` (a JSON-safe integer) for the
//!   generated languages; the server never emits values above 2^53.
//! - Timestamps are RFC 3339 strings in UTC (`2024-10-24T12:00:00Z`).
//!
//! Feature `openapi` (off by default; the server turns it on) derives `utoipa::ToSchema` for every
//! type, for the server's generated OpenAPI document. It changes no serde shape; nullable fields of
//! response types are declared required (they are always sent, possibly as `null`).

mod cluster;
mod collections;
mod errors;
mod replication;
pub mod vector;

pub use cluster::*;
pub use collections::*;
pub use errors::*;
pub use replication::*;

/// The API version this crate describes.
pub const API_VERSION: &str = "1.2.0";
