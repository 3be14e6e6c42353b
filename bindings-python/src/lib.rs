//! Native module `vectorizer._vectorizer`: a thin pyo3 wrapper of `vectorizer-client`.
//!
//! The Python package `vectorizer` (in `python/vectorizer/`) re-exports everything from here plus
//! the pure-Python enums and exceptions. This crate holds conversions only (`types.rs`,
//! `error.rs`), one lazily created fork-safe runtime (`runtime.rs`) and the `Client` (`client.rs`).

mod client;
mod error;
mod runtime;
mod types;

use pyo3::prelude::*;

use crate::error::PyClientError;
use crate::types::ToPython;

/// Parses a `GET /api/v1/replication/status` body exactly as `Client.get_replication_status` does.
#[pyfunction]
fn parse_replication_status(py: Python<'_>, json_text: &str) -> PyResult<Py<types::ReplicationStatus>> {
    vectorizer_client::parse_replication_status(json_text).map_err(PyClientError)?.to_python(py)
}

/// Parses a `GET /api/v1/replication/replicas` body exactly as `Client.list_replicas` does.
#[pyfunction]
fn parse_replica_list(py: Python<'_>, json_text: &str) -> PyResult<Vec<Py<types::ReplicaInfo>>> {
    vectorizer_client::parse_replica_list(json_text).map_err(PyClientError)?.replicas.to_python(py)
}

/// Names of every API method of the Rust client (for the parity test).
#[pyfunction]
fn api_methods() -> Vec<&'static str> {
    vectorizer_client::API_METHODS.to_vec()
}

#[pymodule]
fn _vectorizer(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::Client>()?;
    m.add_class::<types::HealthResponse>()?;
    m.add_class::<types::HnswParams>()?;
    m.add_class::<types::CollectionInfo>()?;
    m.add_class::<types::WriteResponse>()?;
    m.add_class::<types::PointRecord>()?;
    m.add_class::<types::ScoredPoint>()?;
    m.add_class::<types::SnapshotInfo>()?;
    m.add_class::<types::SyncProgress>()?;
    m.add_class::<types::CollectionDigest>()?;
    m.add_class::<types::DigestResponse>()?;
    m.add_class::<types::ReplicationStats>()?;
    m.add_class::<types::ReplicaInfo>()?;
    m.add_class::<types::ReplicationStatus>()?;
    m.add_class::<types::ClusterMember>()?;
    m.add_class::<types::FailoverInfo>()?;
    m.add_class::<types::ClusterView>()?;
    m.add_function(wrap_pyfunction!(parse_replication_status, m)?)?;
    m.add_function(wrap_pyfunction!(parse_replica_list, m)?)?;
    m.add_function(wrap_pyfunction!(api_methods, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
