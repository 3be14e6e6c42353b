//! The one error type of `vectorizer-core`.
//!
//! Each variant carries the fields a caller needs to build a precise message (which field, which
//! limit, which file and byte offset). The server maps every variant to an HTTP status in a single
//! exhaustive `match`; adding a variant therefore forces a decision there.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A user-supplied field is missing, malformed or outside its limits.
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },

    /// A vector does not have the collection's dimension.
    #[error("{field}: collection '{collection}' has dimension {expected}, got {actual} values")]
    DimensionMismatch { collection: String, field: String, expected: u32, actual: usize },

    /// A user-supplied value is larger than its configured size limit.
    #[error("{field}: {actual} bytes exceeds the limit of {limit} bytes")]
    TooLarge { field: String, actual: usize, limit: usize },

    #[error("collection '{name}' does not exist")]
    CollectionNotFound { name: String },

    #[error("collection '{name}' already exists")]
    CollectionExists { name: String },

    #[error("point '{id}' does not exist in collection '{collection}'")]
    PointNotFound { collection: String, id: String },

    /// Writes must go to the master; `master` is its HTTP address when known.
    #[error("this node is a read-only replica; send writes to the master{}", master.as_deref().map(|m| format!(" at {m}")).unwrap_or_default())]
    ReadOnlyReplica { master: Option<String> },

    /// The node cannot serve this request now (shutting down, or a background task failed).
    #[error("unavailable: {reason}")]
    Unavailable { reason: String },

    /// An operating-system I/O error on a file of the data directory.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Bytes on disk that fail their checksum or do not decode, before the tail of the log.
    #[error("corruption in {} at byte {offset}: {detail}", path.display())]
    Corruption { path: PathBuf, offset: u64, detail: String },

    /// A snapshot failed verification (checksum, digest, manifest or decoding) and was not used.
    #[error("snapshot {} rejected: {reason}", path.display())]
    SnapshotRejected { path: PathBuf, reason: String },

    /// An operation in the log contradicts the state it is applied to (corruption or divergence).
    #[error("operation at log offset {offset} cannot be applied: {detail}")]
    InconsistentLog { offset: u64, detail: String },

    /// A record or frame could not be decoded (wrong tag, truncated field, invalid UTF-8).
    #[error("decode error: {detail}")]
    Decode { detail: String },

    /// The requested log offset is older than the oldest record still stored (retention removed it);
    /// a replica asking for it needs a full sync.
    #[error("log offset {requested} was compacted; the oldest stored offset is {first}")]
    OffsetCompacted { requested: u64, first: u64 },

    /// The state cannot be rolled back to `offset` in place (no local snapshot at or below it
    /// whose continuation is still in the log); the node needs a full sync instead.
    #[error("cannot roll back to offset {offset} in place: {detail}")]
    RollbackImpossible { offset: u64, detail: String },

    /// A record handed to the log does not carry the next offset (replica apply out of order).
    #[error("log expected offset {expected}, got {actual}")]
    OffsetMismatch { expected: u64, actual: u64 },

    /// One chunk of a snapshot being received failed its checks and was not written; the sender
    /// may resend chunk `index`.
    #[error("snapshot chunk {index} rejected: {reason}")]
    SnapshotChunkRejected { index: u64, reason: String },

    /// An I/O error on a replication connection.
    #[error("replication link to {peer}: {source}")]
    PeerIo {
        peer: String,
        #[source]
        source: std::io::Error,
    },

    /// The replication peer closed the connection.
    #[error("replication peer {peer} closed the connection")]
    PeerClosed { peer: String },

    /// The replication peer sent nothing within the deadline.
    #[error("replication peer {peer} sent nothing for {after_ms} ms")]
    PeerTimeout { peer: String, after_ms: u64 },

    /// The replication peer refused the session (wrong secret, protocol version, stale epoch, ...).
    #[error("replication peer {peer} refused the session ({code}): {message}")]
    PeerRefused { peer: String, code: String, message: String },

    /// The replication peer broke the protocol (unexpected frame, offset gap, oversized frame).
    #[error("replication protocol violation by {peer}: {detail}")]
    ProtocolViolation { peer: String, detail: String },

    /// The request conflicts with the node's replication state (e.g. promote on a master).
    #[error("{detail}")]
    ReplicationConflict { detail: String },

    /// A write is durable on the master but did not reach the requested number of nodes in time.
    #[error(
        "write at offset {offset} is durable on {reached} of the {needed} nodes that w={w} requires after {timeout_ms} ms; it is not rolled back"
    )]
    WriteConcernTimeout { offset: u64, w: String, needed: usize, reached: usize, timeout_ms: u64 },
}

impl CoreError {
    /// Shorthand for [`CoreError::InvalidArgument`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument { field: field.into(), message: message.into() }
    }

    /// Shorthand for [`CoreError::Io`] with the file that failed.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// Shorthand for [`CoreError::Decode`].
    pub fn decode(detail: impl Into<String>) -> Self {
        Self::Decode { detail: detail.into() }
    }
}
