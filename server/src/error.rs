//! The API's error type: every failure a handler can return, rendered as `ErrorResponse` JSON.
//!
//! Invariant: the status of a response is always `ErrorCode::http_status` of its code; engine errors
//! are mapped by ONE exhaustive `match` (no wildcard arm, so a new `CoreError` variant forces a decision
//! here); only I/O, corruption and internal faults become 5xx, and every 5xx is logged at error level
//! by [`log_server_errors`].

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vectorizer_core::CoreError;
use vectorizer_sdk_types::{ErrorCode, ErrorDetail, ErrorResponse};

/// An error answered to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// The master's HTTP address on `read_only_replica` errors.
    pub master: Option<String>,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), master: None }
    }

    /// A server-side fault (500).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

impl From<CoreError> for ApiError {
    fn from(err: CoreError) -> Self {
        let (code, master) = match &err {
            CoreError::InvalidArgument { .. } => (ErrorCode::InvalidArgument, None),
            CoreError::DimensionMismatch { .. } => (ErrorCode::DimensionMismatch, None),
            CoreError::TooLarge { .. } => (ErrorCode::PayloadTooLarge, None),
            CoreError::CollectionNotFound { .. } => (ErrorCode::CollectionNotFound, None),
            CoreError::CollectionExists { .. } => (ErrorCode::CollectionExists, None),
            CoreError::PointNotFound { .. } => (ErrorCode::PointNotFound, None),
            CoreError::ReadOnlyReplica { master } => (ErrorCode::ReadOnlyReplica, master.clone()),
            CoreError::Unavailable { .. } => (ErrorCode::Unavailable, None),
            CoreError::Io { .. } => (ErrorCode::Internal, None),
            CoreError::Corruption { .. } => (ErrorCode::Internal, None),
            CoreError::SnapshotRejected { .. } => (ErrorCode::Internal, None),
            CoreError::InconsistentLog { .. } => (ErrorCode::Internal, None),
            // Requests never carry encoded records: a decode failure is stored data gone bad.
            CoreError::Decode { .. } => (ErrorCode::Internal, None),
            // Log/replication internals: no REST request can cause them, so reaching a handler is a fault.
            CoreError::OffsetCompacted { .. } => (ErrorCode::Internal, None),
            CoreError::OffsetMismatch { .. } => (ErrorCode::Internal, None),
            CoreError::RollbackImpossible { .. } => (ErrorCode::Internal, None),
            CoreError::SnapshotChunkRejected { .. } => (ErrorCode::Internal, None),
            // A replication peer that is unreachable, silent or refusing: this node cannot do what was
            // asked right now, through no fault of the client and no bug here.
            CoreError::PeerIo { .. } => (ErrorCode::Unavailable, None),
            CoreError::PeerClosed { .. } => (ErrorCode::Unavailable, None),
            CoreError::PeerTimeout { .. } => (ErrorCode::Unavailable, None),
            CoreError::PeerRefused { .. } => (ErrorCode::Unavailable, None),
            // A peer speaking the protocol wrongly is a bug somewhere in the cluster.
            CoreError::ProtocolViolation { .. } => (ErrorCode::Internal, None),
            CoreError::ReplicationConflict { .. } => (ErrorCode::ReplicationConflict, None),
            CoreError::WriteConcernTimeout { .. } => (ErrorCode::WriteConcernTimeout, None),
        };
        Self { code, message: err.to_string(), master }
    }
}

/// Marker put on 5xx responses so the logging middleware can report the cause.
#[derive(Debug, Clone)]
struct ServerFault(String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let fault = status.is_server_error().then(|| ServerFault(self.message.clone()));
        let body = ErrorResponse {
            error: ErrorDetail { code: self.code.as_str().to_owned(), message: self.message, master: self.master },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(fault) = fault {
            response.extensions_mut().insert(fault);
        }
        response
    }
}

/// Middleware: logs server faults (500) at error level and other 5xx (503 unavailable) at warn level,
/// with the request line and the cause.
pub async fn log_server_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let response = next.run(request).await;
    let status = response.status();
    if status.is_server_error() {
        let cause = response.extensions().get::<ServerFault>().map_or("(no detail)", |f| f.0.as_str());
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(%method, %uri, status = status.as_u16(), cause, "request failed on the server side");
        } else {
            tracing::warn!(%method, %uri, status = status.as_u16(), cause, "request not served");
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn every_variant() -> Vec<CoreError> {
        vec![
            CoreError::invalid("f", "bad"),
            CoreError::DimensionMismatch { collection: "c".into(), field: "vector".into(), expected: 3, actual: 2 },
            CoreError::TooLarge { field: "payload".into(), actual: 10, limit: 5 },
            CoreError::CollectionNotFound { name: "c".into() },
            CoreError::CollectionExists { name: "c".into() },
            CoreError::PointNotFound { collection: "c".into(), id: "p".into() },
            CoreError::ReadOnlyReplica { master: Some("10.0.0.1:15002".into()) },
            CoreError::Unavailable { reason: "shutting down".into() },
            CoreError::io("/d/x", std::io::Error::other("disk")),
            CoreError::Corruption { path: PathBuf::from("/d/log/1.seg"), offset: 7, detail: "crc".into() },
            CoreError::SnapshotRejected { path: PathBuf::from("/d/s.snap"), reason: "digest".into() },
            CoreError::decode("tag"),
            CoreError::OffsetCompacted { requested: 1, first: 5 },
            CoreError::OffsetMismatch { expected: 2, actual: 3 },
            CoreError::RollbackImpossible { offset: 4, detail: "no snapshot".into() },
            CoreError::SnapshotChunkRejected { index: 0, reason: "crc".into() },
            CoreError::PeerIo { peer: "10.0.0.2:7001".into(), source: std::io::Error::other("reset") },
            CoreError::PeerClosed { peer: "10.0.0.2:7001".into() },
            CoreError::PeerTimeout { peer: "10.0.0.2:7001".into(), after_ms: 5000 },
            CoreError::PeerRefused { peer: "10.0.0.2:7001".into(), code: "auth".into(), message: "bad secret".into() },
            CoreError::ProtocolViolation { peer: "10.0.0.2:7001".into(), detail: "gap".into() },
            CoreError::ReplicationConflict { detail: "already a master".into() },
        ]
    }

    #[test]
    fn only_server_faults_are_5xx() {
        for err in every_variant() {
            let server_fault = matches!(
                err,
                CoreError::Io { .. }
                    | CoreError::Corruption { .. }
                    | CoreError::SnapshotRejected { .. }
                    | CoreError::InconsistentLog { .. }
                    | CoreError::Decode { .. }
                    | CoreError::OffsetCompacted { .. }
                    | CoreError::OffsetMismatch { .. }
                    | CoreError::RollbackImpossible { .. }
                    | CoreError::SnapshotChunkRejected { .. }
                    | CoreError::ProtocolViolation { .. }
            );
            let unavailable = matches!(
                err,
                CoreError::Unavailable { .. }
                    | CoreError::PeerIo { .. }
                    | CoreError::PeerClosed { .. }
                    | CoreError::PeerTimeout { .. }
                    | CoreError::PeerRefused { .. }
            );
            let api = ApiError::from(err);
            let status = api.code.http_status();
            if server_fault {
                assert_eq!(status, 500, "{api:?}");
            } else if unavailable {
                assert_eq!(status, 503, "{api:?}");
            } else {
                assert!((400..500).contains(&status), "{api:?}");
            }
        }
    }

    #[test]
    fn read_only_replica_names_the_master() {
        let api = ApiError::from(CoreError::ReadOnlyReplica { master: Some("10.0.0.1:15002".into()) });
        assert_eq!(api.code, ErrorCode::ReadOnlyReplica);
        assert_eq!(api.master.as_deref(), Some("10.0.0.1:15002"));
        assert!(api.message.contains("10.0.0.1:15002"));
    }
}
