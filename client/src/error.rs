//! The client's one error type, and its classification into the error classes every SDK exposes.
//!
//! Invariant: a server error keeps the server's `code` string and HTTP status exactly as received,
//! so bindings never need to parse messages; [`ClientError::class`] is the only place that decides
//! which SDK exception/error class a failure belongs to.

use std::time::Duration;

use vectorizer_sdk_types::ErrorCode;

/// Result alias of the client.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Every way a client call can fail.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body (`{"error": {"code", "message"}}`).
    #[error("{code} (HTTP {status}) from {endpoint}: {message}")]
    Api {
        endpoint: String,
        status: u16,
        /// The server's error code, kept verbatim (it may be newer than this client).
        code: String,
        message: String,
        /// On `read_only_replica`: the master's `host:port` as the replica knows it.
        master: Option<String>,
    },
    /// The server answered with a non-2xx status but no parseable error body.
    #[error("HTTP {status} from {endpoint} without an error body")]
    UnexpectedStatus { endpoint: String, status: u16 },
    /// The TCP/TLS connection could not be established or broke.
    #[error("cannot reach {endpoint}: {source}")]
    Connection {
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    /// The request did not complete within the configured timeout.
    #[error("request to {endpoint} timed out after {timeout:?}")]
    Timeout { endpoint: String, timeout: Duration },
    /// A 2xx response whose body is not the expected type.
    #[error("invalid response body from {endpoint}: {source}")]
    Decode {
        endpoint: String,
        #[source]
        source: serde_json::Error,
    },
    /// Any other transport failure (e.g. a body that could not be read).
    #[error("HTTP transport error with {endpoint}: {source}")]
    Transport {
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    /// No configured endpoint reported itself as master.
    #[error("no master found among {endpoints:?}")]
    NoMaster { endpoints: Vec<String> },
    /// An endpoint URL given to the client is not an absolute http(s) URL.
    #[error("invalid endpoint {url:?}: {reason}")]
    InvalidEndpoint { url: String, reason: String },
    /// The client was created with an empty endpoint list.
    #[error("at least one endpoint is required")]
    NoEndpoints,
    /// A call argument was rejected before sending (names the argument).
    #[error("invalid argument {argument}: {reason}")]
    InvalidArgument { argument: &'static str, reason: String },
}

/// The error classes every SDK exposes (Python exception subclasses, JS `code`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// 404: collection, point or route not found.
    NotFound,
    /// 409 other than read-only replica: already exists, replication state conflict.
    Conflict,
    /// 409 `read_only_replica`: a write reached a replica.
    ReadOnlyReplica,
    /// 4xx user mistakes (invalid argument, dimension mismatch, too large, ...), and client-side
    /// argument errors (bad endpoint URL, empty endpoint list, zero timeout).
    Validation,
    /// Could not connect, or no master found.
    Connection,
    /// Client timeout, or the server's write concern timeout.
    Timeout,
    /// 503 `no_quorum`: a cluster-mode master without a controller lease did not acknowledge the
    /// write (refused before applying it, or with `w` above 1 applied but refused when the lease
    /// was checked again after the wait). Retry once a master is elected.
    NoQuorum,
    /// 5xx (internal, unavailable) and malformed responses.
    Server,
}

impl ClientError {
    /// The error's stable code: the server's code for [`ClientError::Api`], otherwise a client-side
    /// code (`connection_failed`, `timeout`, `invalid_response`, ...).
    pub fn code(&self) -> &str {
        match self {
            Self::Api { code, .. } => code,
            Self::UnexpectedStatus { .. } => "unexpected_status",
            Self::Connection { .. } => "connection_failed",
            Self::Timeout { .. } => "timeout",
            Self::Decode { .. } => "invalid_response",
            Self::Transport { .. } => "transport_error",
            Self::NoMaster { .. } => "no_master",
            Self::InvalidEndpoint { .. } => "invalid_endpoint",
            Self::NoEndpoints => "no_endpoints",
            Self::InvalidArgument { .. } => "invalid_argument",
        }
    }

    /// The HTTP status the server answered with, if the failure came from a server answer.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::UnexpectedStatus { status, .. } => Some(*status),
            Self::Connection { .. }
            | Self::Timeout { .. }
            | Self::Decode { .. }
            | Self::Transport { .. }
            | Self::NoMaster { .. }
            | Self::InvalidEndpoint { .. }
            | Self::NoEndpoints
            | Self::InvalidArgument { .. } => None,
        }
    }

    /// The error code as a known [`ErrorCode`], if the server sent one this client knows.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Api { code, .. } => ErrorCode::parse(code),
            _ => None,
        }
    }

    /// Which SDK error class this failure belongs to.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Api { code, status, .. } => match ErrorCode::parse(code) {
                Some(known) => class_of_code(known),
                None => class_of_status(*status),
            },
            Self::UnexpectedStatus { status, .. } => class_of_status(*status),
            Self::Connection { .. } | Self::NoMaster { .. } => ErrorClass::Connection,
            Self::Timeout { .. } => ErrorClass::Timeout,
            Self::Decode { .. } | Self::Transport { .. } => ErrorClass::Server,
            Self::InvalidArgument { .. } | Self::InvalidEndpoint { .. } | Self::NoEndpoints => ErrorClass::Validation,
        }
    }

    /// The master's address named by a `read_only_replica` error.
    pub fn master_hint(&self) -> Option<&str> {
        match self {
            Self::Api { master, .. } => master.as_deref(),
            _ => None,
        }
    }
}

fn class_of_code(code: ErrorCode) -> ErrorClass {
    match code {
        ErrorCode::InvalidArgument
        | ErrorCode::MalformedJson
        | ErrorCode::DimensionMismatch
        | ErrorCode::PayloadTooLarge
        | ErrorCode::UnsupportedMediaType
        | ErrorCode::MethodNotAllowed => ErrorClass::Validation,
        ErrorCode::CollectionNotFound | ErrorCode::PointNotFound | ErrorCode::NotFound => ErrorClass::NotFound,
        ErrorCode::CollectionExists | ErrorCode::ReplicationConflict => ErrorClass::Conflict,
        ErrorCode::ReadOnlyReplica => ErrorClass::ReadOnlyReplica,
        ErrorCode::WriteConcernTimeout => ErrorClass::Timeout,
        ErrorCode::NoQuorum => ErrorClass::NoQuorum,
        ErrorCode::Unavailable | ErrorCode::Internal => ErrorClass::Server,
    }
}

/// Classification of codes this client does not know yet, by their HTTP status.
fn class_of_status(status: u16) -> ErrorClass {
    match status {
        404 => ErrorClass::NotFound,
        409 => ErrorClass::Conflict,
        408 | 504 => ErrorClass::Timeout,
        400..=499 => ErrorClass::Validation,
        _ => ErrorClass::Server,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vectorizer_sdk_types::ALL_ERROR_CODES;

    #[test]
    fn every_known_code_keeps_code_and_status() {
        for code in ALL_ERROR_CODES {
            let err = ClientError::Api {
                endpoint: "http://x".into(),
                status: code.http_status(),
                code: code.as_str().into(),
                message: "m".into(),
                master: None,
            };
            assert_eq!(err.code(), code.as_str());
            assert_eq!(err.http_status(), Some(code.http_status()));
            assert_eq!(err.error_code(), Some(code));
        }
    }

    #[test]
    fn unknown_codes_are_classified_by_status() {
        let err = |status| ClientError::Api {
            endpoint: "http://x".into(),
            status,
            code: "from_the_future".into(),
            message: String::new(),
            master: None,
        };
        assert_eq!(err(404).class(), ErrorClass::NotFound);
        assert_eq!(err(409).class(), ErrorClass::Conflict);
        assert_eq!(err(422).class(), ErrorClass::Validation);
        assert_eq!(err(502).class(), ErrorClass::Server);
        assert_eq!(err(404).code(), "from_the_future");
    }

    #[test]
    fn read_only_replica_is_its_own_class() {
        let err = ClientError::Api {
            endpoint: "http://r".into(),
            status: 409,
            code: "read_only_replica".into(),
            message: "read only".into(),
            master: Some("127.0.0.1:1".into()),
        };
        assert_eq!(err.class(), ErrorClass::ReadOnlyReplica);
        assert_eq!(err.master_hint(), Some("127.0.0.1:1"));
    }

    #[test]
    fn no_quorum_and_write_concern_timeout_have_their_classes() {
        let err = |status, code: &str| ClientError::Api {
            endpoint: "http://m".into(),
            status,
            code: code.into(),
            message: String::new(),
            master: None,
        };
        assert_eq!(err(503, "no_quorum").class(), ErrorClass::NoQuorum);
        assert_eq!(err(503, "unavailable").class(), ErrorClass::Server);
        assert_eq!(err(504, "write_concern_timeout").class(), ErrorClass::Timeout);
    }
}
