//! The error envelope every non-2xx response carries, and the stable error codes.

use serde::{Deserialize, Serialize};
use typeshare::typeshare;

/// Body of every error response: `{"error": {"code": "...", "message": "..."}}`.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

/// A stable machine-readable `code` and a human-readable `message` naming the field and the limit.
#[typeshare]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// One of the [`ErrorCode`] values (kept as a string so unknown future codes still parse).
    pub code: String,
    pub message: String,
    /// Address (`host:port` of the HTTP API) of the master, set on `read_only_replica` errors.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub master: Option<String>,
}

/// Stable error codes. The HTTP status for each is fixed and documented in `docs/API.md`.
#[typeshare]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: a field is missing, has the wrong type, or is outside its limits.
    InvalidArgument,
    /// 400: the body is not valid JSON or does not match the request schema.
    MalformedJson,
    /// 400: a vector's length differs from the collection's dimension.
    DimensionMismatch,
    /// 404: the collection does not exist.
    CollectionNotFound,
    /// 404: the point does not exist.
    PointNotFound,
    /// 404: no such route.
    NotFound,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 409: a collection with that name already exists.
    CollectionExists,
    /// 409: this node is a read-only replica; `master` names the master to write to.
    ReadOnlyReplica,
    /// 409: the request conflicts with the node's replication state (e.g. promote on a master).
    ReplicationConflict,
    /// 413: the request body or a payload exceeds its size limit.
    PayloadTooLarge,
    /// 415: the request is not `application/json`.
    UnsupportedMediaType,
    /// 503: the node cannot accept writes right now (shutting down, log failed).
    Unavailable,
    /// 503: cluster mode: this master holds no valid lease from the controller (it cannot reach a
    /// controller majority, or a master change is in progress); the write was not acknowledged.
    /// Checked before the write (nothing applied) and, with `w` above 1, again before the answer
    /// (then the write may be applied on some nodes; retrying an upsert is safe).
    NoQuorum,
    /// 504: the requested write concern was not reached in time.
    WriteConcernTimeout,
    /// 500: a server-side failure (I/O error, bug). Never used for user mistakes.
    Internal,
}

impl ErrorCode {
    /// The wire string of this code, e.g. `"collection_not_found"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "invalid_argument",
            Self::MalformedJson => "malformed_json",
            Self::DimensionMismatch => "dimension_mismatch",
            Self::CollectionNotFound => "collection_not_found",
            Self::PointNotFound => "point_not_found",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::CollectionExists => "collection_exists",
            Self::ReadOnlyReplica => "read_only_replica",
            Self::ReplicationConflict => "replication_conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Unavailable => "unavailable",
            Self::NoQuorum => "no_quorum",
            Self::WriteConcernTimeout => "write_concern_timeout",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status code the server answers with for this error.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidArgument | Self::MalformedJson | Self::DimensionMismatch => 400,
            Self::CollectionNotFound | Self::PointNotFound | Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::CollectionExists | Self::ReadOnlyReplica | Self::ReplicationConflict => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::Unavailable | Self::NoQuorum => 503,
            Self::WriteConcernTimeout => 504,
            Self::Internal => 500,
        }
    }

    /// Parses a wire string; `None` for codes this version does not know.
    pub fn parse(code: &str) -> Option<Self> {
        ALL_ERROR_CODES.iter().copied().find(|c| c.as_str() == code)
    }
}

/// Every error code, for exhaustive tests and documentation.
pub const ALL_ERROR_CODES: [ErrorCode; 16] = [
    ErrorCode::InvalidArgument,
    ErrorCode::MalformedJson,
    ErrorCode::DimensionMismatch,
    ErrorCode::CollectionNotFound,
    ErrorCode::PointNotFound,
    ErrorCode::NotFound,
    ErrorCode::MethodNotAllowed,
    ErrorCode::CollectionExists,
    ErrorCode::ReadOnlyReplica,
    ErrorCode::ReplicationConflict,
    ErrorCode::PayloadTooLarge,
    ErrorCode::UnsupportedMediaType,
    ErrorCode::Unavailable,
    ErrorCode::NoQuorum,
    ErrorCode::WriteConcernTimeout,
    ErrorCode::Internal,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_serde_and_as_str() {
        for code in ALL_ERROR_CODES {
            let json = serde_json::to_string(&code).expect("serialise");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("no_such_code"), None);
    }
}
