//! Conversion of [`ClientError`] into the Python exception hierarchy of `vectorizer._errors`.
//!
//! Invariant: the mapping is one exhaustive `match` over [`ErrorClass`] (no wildcard), so a new
//! error class cannot silently become a generic exception; every exception carries the error's
//! `code` and HTTP `status` (None when the failure did not come from a server answer).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use vectorizer_client::{ClientError, ErrorClass};

/// A [`ClientError`] on its way to Python (the orphan rule forbids `From<ClientError> for PyErr`).
pub(crate) struct PyClientError(pub(crate) ClientError);

impl From<ClientError> for PyClientError {
    fn from(err: ClientError) -> Self {
        Self(err)
    }
}

impl From<PyClientError> for PyErr {
    fn from(PyClientError(err): PyClientError) -> Self {
        let class = match err.class() {
            ErrorClass::NotFound => "NotFoundError",
            ErrorClass::Conflict => "ConflictError",
            ErrorClass::ReadOnlyReplica => "ReadOnlyReplicaError",
            ErrorClass::Validation => "ValidationError",
            ErrorClass::Connection => "VectorizerConnectionError",
            ErrorClass::Timeout => "VectorizerTimeoutError",
            ErrorClass::NoQuorum => "NoQuorumError",
            ErrorClass::Server => "ServerError",
        };
        Python::attach(|py| {
            let make = || -> PyResult<PyErr> {
                let ty = py.import("vectorizer._errors")?.getattr(class)?;
                let value = ty.call1((err.to_string(), err.code(), err.http_status(), err.master_hint()))?;
                Ok(PyErr::from_value(value))
            };
            make().unwrap_or_else(|import_failure| import_failure)
        })
    }
}

/// Raises `ServerError` with code `invalid_response` (a 2xx body whose values we cannot convert).
pub(crate) fn invalid_response(message: String) -> PyErr {
    let source = <serde_json::Error as serde::de::Error>::custom(message);
    PyClientError(ClientError::Decode { endpoint: "<response>".into(), source }).into()
}

/// A failure of the extension itself (e.g. the runtime could not start).
pub(crate) fn runtime_error(message: &str) -> PyErr {
    PyRuntimeError::new_err(format!("vectorizer runtime: {message}"))
}
