//! `vectorizer-core`: the engine behind the Vectorizer server.
//!
//! - [`model`]: validated collection/point/operation types and the input limits.
//! - [`codec`]: the binary encoding of operations, shared by the log and the replication stream.
//! - [`index`]: vector storage and the HNSW graph (plus exact search).
//! - [`storage`]: the segmented operation log (WAL + replication backlog) and snapshot files.
//! - [`cluster`]: the failover controller (embedded Raft group, master leases).
//! - [`engine`]: collections kept in memory, the write path (validate -> log -> apply -> fsync ->
//!   ack), search, snapshots and recovery.
//!
//! Invariant of the whole crate: every state change is an [`model::Op`] appended to the log
//! before it is acknowledged; in-memory state is always the result of applying the log in offset
//! order on top of a verified snapshot.

pub mod cluster;
pub mod codec;
pub mod engine;
pub mod error;
pub mod index;
pub mod model;
pub mod os_thread;
pub mod replication;
pub mod storage;
pub mod testdata;

pub use error::{CoreError, Result};
