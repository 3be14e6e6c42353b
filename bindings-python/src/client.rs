//! `vectorizer.Client`: the blocking Python face of [`vectorizer_client::Client`].
//!
//! Invariants: every method converts its arguments, runs the inner client's future with the GIL
//! released, and converts the result; nothing else. The inner client is rebuilt in a forked child
//! (its connection pool belonged to the parent's runtime; the inherited one is leaked, never
//! dropped). Every write takes the keyword arguments `w=` (`1`, `"majority"`, `"all"`) and
//! `timeout_ms=` (1..=300000): the write is acknowledged once that many voting nodes hold it
//! durable, else `write_concern_timeout` is raised.

use std::sync::Mutex;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyMapping, PyString};
use vectorizer_client::{
    ClientConfig, ClientError, ReadPreference, VectorEncoding, WriteConcern, WriteOptions, invalid_argument,
};
use vectorizer_sdk_types as wire;

use crate::error::PyClientError;
use crate::runtime::{block_on, current_pid};
use crate::types::{
    ClusterView, CollectionInfo, DigestResponse, HealthResponse, PointRecord, ReplicaInfo, ReplicationStatus,
    ScoredPoint, SnapshotInfo, ToPython, WriteResponse, py_to_json,
};

/// Blocking client of a Vectorizer cluster (one or several endpoints).
#[pyclass(module = "vectorizer", frozen)]
pub struct Client {
    config: ClientConfig,
    /// The inner client and the pid that built it.
    inner: Mutex<(u32, vectorizer_client::Client)>,
}

impl Client {
    fn inner(&self) -> PyResult<vectorizer_client::Client> {
        let mut slot = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.0 != current_pid() {
            let fresh = (current_pid(), vectorizer_client::Client::new(self.config.clone()).map_err(PyClientError)?);
            // Inherited across fork: its connection pool's locks may have been held by parent
            // threads that do not exist here, so dropping it could block forever (as the runtime).
            std::mem::forget(std::mem::replace(&mut *slot, fresh));
        }
        Ok(slot.1.clone())
    }
}

/// `str` or a sequence of `str` -> endpoint list.
fn endpoints(url: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(one) = url.cast::<PyString>() {
        return Ok(vec![one.to_str()?.to_owned()]);
    }
    url.extract::<Vec<String>>().map_err(|_| PyValueError::new_err("url must be a str or a sequence of str"))
}

fn metric(value: &Bound<'_, PyAny>) -> PyResult<wire::Metric> {
    // Accepts the `Metric` enum (a `str` subclass) or its string value.
    let name: String = value.extract().map_err(|_| PyValueError::new_err("metric must be a Metric or str"))?;
    serde_json::from_value(serde_json::Value::String(name.clone()))
        .map_err(|_| PyValueError::new_err(format!("metric must be cosine, dot or euclidean, got {name:?}")))
}

fn point(item: &Bound<'_, PyAny>) -> PyResult<wire::PointInput> {
    let map = item
        .cast::<PyMapping>()
        .map_err(|_| PyValueError::new_err("each point must be a mapping with id, vector and optional payload"))?;
    let id: String = map.get_item("id")?.extract()?;
    let vector: Vec<f32> = map.get_item("vector")?.extract()?;
    let payload = match map.contains("payload")? {
        true => match py_to_json(&map.get_item("payload")?, 0)? {
            serde_json::Value::Null => None,
            serde_json::Value::Object(obj) => Some(obj),
            _ => return Err(PyValueError::new_err("payload must be a dict or None")),
        },
        false => None,
    };
    Ok(wire::PointInput { id, vector, payload })
}

/// `w=`: `1`, `"1"`, `"majority"`, `"all"` or a `WriteConcern` (a `str` enum).
fn write_concern(w: &Bound<'_, PyAny>) -> Result<WriteConcern, ClientError> {
    let bad = || invalid_argument("w", format!("expected 1, \"majority\" or \"all\", got {w}"));
    if let Ok(text) = w.cast::<PyString>() {
        return WriteConcern::parse(text.to_str().map_err(|_| bad())?);
    }
    if w.cast::<PyInt>().is_ok() && w.cast::<PyBool>().is_err() && w.extract::<i64>().ok() == Some(1) {
        return Ok(WriteConcern::One);
    }
    Err(bad())
}

/// `w=` and `timeout_ms=` keyword arguments of a write. Bad values raise `ValidationError` (code
/// `invalid_argument`) naming the argument; nothing is sent then.
fn write_options(
    w: Option<&Bound<'_, PyAny>>,
    timeout_ms: Option<&Bound<'_, PyAny>>,
) -> Result<WriteOptions, ClientError> {
    let mut options = WriteOptions::default();
    if let Some(w) = w {
        options.w = Some(write_concern(w)?);
    }
    if let Some(ms) = timeout_ms {
        let ms = match ms.cast::<PyBool>() {
            Ok(_) => None,
            Err(_) => ms.extract::<u64>().ok(),
        };
        let range = vectorizer_client::MAX_WRITE_TIMEOUT_MS;
        options.timeout_ms =
            Some(ms.ok_or_else(|| invalid_argument("timeout_ms", format!("expected an int in 1..={range}")))?);
    }
    Ok(options)
}

#[pymethods]
impl Client {
    /// Connects lazily to `url` (one endpoint or a list of endpoints of one cluster).
    /// `vector_encoding`: `"array"` (default, JSON number arrays) or `"base64"` (little-endian
    /// float32 bytes as base64 strings: far less server CPU per vector; needs a server that accepts them).
    #[new]
    #[pyo3(signature = (url, *, api_key = None, timeout = 30.0, read_preference = "master", vector_encoding = "array"))]
    fn new(
        url: &Bound<'_, PyAny>,
        api_key: Option<String>,
        timeout: f64,
        read_preference: &str,
        vector_encoding: &str,
    ) -> PyResult<Self> {
        let timeout = Duration::try_from_secs_f64(timeout)
            .map_err(|_| PyValueError::new_err("timeout must be a positive number of seconds"))?;
        let config = ClientConfig::new(endpoints(url)?)
            .and_then(|c| c.timeout(timeout))
            .and_then(|c| Ok(c.read_preference(ReadPreference::parse(read_preference)?)))
            .and_then(|c| Ok(c.vector_encoding(VectorEncoding::parse(vector_encoding)?)))
            .map_err(PyClientError)?
            .api_key(api_key);
        let inner = vectorizer_client::Client::new(config.clone()).map_err(PyClientError)?;
        Ok(Self { config, inner: Mutex::new((current_pid(), inner)) })
    }

    /// The configured endpoints, normalised.
    #[getter]
    fn endpoints(&self) -> Vec<String> {
        self.config.endpoints()
    }

    /// The endpoint currently believed to be master.
    fn master_endpoint(&self, py: Python<'_>) -> PyResult<String> {
        let inner = self.inner()?;
        Ok(block_on(py, async move { inner.master_endpoint().await })?.map_err(PyClientError)?)
    }

    /// `GET /health` of `endpoint`, or of the master.
    #[pyo3(signature = (endpoint = None))]
    fn health(&self, py: Python<'_>, endpoint: Option<String>) -> PyResult<Py<HealthResponse>> {
        let inner = self.inner()?;
        let out = block_on(py, async move { inner.health(endpoint.as_deref()).await })?;
        out.map_err(PyClientError)?.to_python(py)
    }

    /// Creates a collection.
    #[pyo3(signature = (
        name, dimension, metric = None, *, m = None, ef_construction = None, ef_search = None, w = None, timeout_ms = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn create_collection(
        &self,
        py: Python<'_>,
        name: String,
        dimension: u32,
        metric: Option<&Bound<'_, PyAny>>,
        m: Option<u32>,
        ef_construction: Option<u32>,
        ef_search: Option<u32>,
        w: Option<&Bound<'_, PyAny>>,
        timeout_ms: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<WriteResponse>> {
        let options = write_options(w, timeout_ms).map_err(PyClientError)?;
        let hnsw = (m.is_some() || ef_construction.is_some() || ef_search.is_some()).then_some(wire::HnswConfig {
            m,
            ef_construction,
            ef_search,
        });
        let metric = metric.map(self::metric).transpose()?.unwrap_or_default();
        let request = wire::CreateCollectionRequest { name, dimension, metric, hnsw };
        let inner = self.inner()?;
        let out = block_on(py, async move { inner.create_collection_with(&request, options).await })?;
        out.map_err(PyClientError)?.to_python(py)
    }

    /// Lists every collection.
    fn list_collections(&self, py: Python<'_>) -> PyResult<Vec<Py<CollectionInfo>>> {
        let inner = self.inner()?;
        let out = block_on(py, async move { inner.list_collections().await })?;
        out.map_err(PyClientError)?.to_python(py)
    }

    /// One collection's info.
    fn get_collection(&self, py: Python<'_>, name: String) -> PyResult<Py<CollectionInfo>> {
        let inner = self.inner()?;
        let out = block_on(py, async move { inner.get_collection(&name).await })?;
        out.map_err(PyClientError)?.to_python(py)
    }

    /// Deletes a collection and its points.
    #[pyo3(signature = (name, *, w = None, timeout_ms = None))]
    fn delete_collection(
        &self,
        py: Python<'_>,
        name: String,
        w: Option<&Bound<'_, PyAny>>,
        timeout_ms: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<WriteResponse>> {
        let options = write_options(w, timeout_ms).map_err(PyClientError)?;
        let inner = self.inner()?;
        let out = block_on(py, async move { inner.delete_collection_with(&name, options).await })?;
        out.map_err(PyClientError)?.to_python(py)
    }

    /// Inserts or replaces points: each a mapping `{"id": str, "vector": [float], "payload": dict | None}`.
    #[pyo3(signature = (collection, points, *, w = None, timeout_ms = None))]
    fn upsert(
        &self,
        py: Python<'_>,
        collection: String,
        points: &Bound<'_, PyAny>,
        w: Option<&Bound<'_, PyAny>>,
        timeout_ms: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<WriteResponse>> {
        let options = write_options(w, timeout_ms).map_err(PyClientError)?;
        let points = points.try_iter()?.map(|item| point(&item?)).collect::<PyResult<Vec<_>>>()?;
        let inner = self.inner()?;
        let out = block_on(py, async move { inner.upsert_with(&collection, points, options).await })?;
        out.map_err(PyClientError)?.to_python(py)
    }

    /// One point by id.
    fn get(&self, py: Python<'_>, collection: String, id: String) -> PyResult<Py<PointRecord>> {
        let inner = self.inner()?;
        let out = block_on(py, async move { inner.get(&collection, &id).await })?;
        out.map_err(PyClientError)?.to_python(py)
    }

    /// Deletes points by id.
    #[pyo3(signature = (collection, ids, *, w = None, timeout_ms = None))]
    fn delete(
        &self,
        py: Python<'_>,
        collection: String,
        ids: Vec<String>,
        w: Option<&Bound<'_, PyAny>>,
        timeout_ms: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<WriteResponse>> {
        let options = write_options(w, timeout_ms).map_err(PyClientError)?;
        let inner = self.inner()?;
        let out = block_on(py, async move { inner.delete_with(&collection, ids, options).await })?;
        out.map_err(PyClientError)?.to_python(py)
    }

    /// Nearest neighbours of `vector`, best first.
    #[pyo3(signature = (collection, vector, limit = 10, *, with_payload = false, exact = false, ef_search = None))]
    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        py: Python<'_>,
        collection: String,
        vector: Vec<f32>,
        limit: u32,
        with_payload: bool,
        exact: bool,
        ef_search: Option<u32>,
    ) -> PyResult<Vec<Py<ScoredPoint>>> {
        let request = wire::SearchRequest { vector, limit, with_payload, exact, ef_search };
        let inner = self.inner()?;
        let out = block_on(py, async move { inner.search(&collection, &request).await })?;
        out.map_err(PyClientError)?.to_python(py)
    }

    /// Writes and verifies a snapshot on the master.
    fn create_snapshot(&self, py: Python<'_>) -> PyResult<Py<SnapshotInfo>> {
        let inner = self.inner()?;
        let out = block_on(py, async move { inner.create_snapshot().await })?;
        out.map_err(PyClientError)?.to_python(py)
    }

    /// Replication status of `endpoint`, or of the master.
    #[pyo3(signature = (endpoint = None))]
    fn get_replication_status(&self, py: Python<'_>, endpoint: Option<String>) -> PyResult<Py<ReplicationStatus>> {
        let inner = self.inner()?;
        let out = block_on(py, async move { inner.get_replication_status(endpoint.as_deref()).await })?;
        out.map_err(PyClientError)?.to_python(py)
    }

    /// Every replica the master knows.
    fn list_replicas(&self, py: Python<'_>) -> PyResult<Vec<Py<ReplicaInfo>>> {
        let inner = self.inner()?;
        let out = block_on(py, async move { inner.list_replicas().await })?;
        out.map_err(PyClientError)?.to_python(py)
    }

    /// Promotes the replica at `endpoint` to master.
    fn promote(&self, py: Python<'_>, endpoint: String) -> PyResult<Py<ReplicationStatus>> {
        let inner = self.inner()?;
        let out = block_on(py, async move { inner.promote(&endpoint).await })?;
        out.map_err(PyClientError)?.to_python(py)
    }

    /// Makes `endpoint` follow `master` (`host:port` of its replication port), or detaches it with None.
    fn replica_of(&self, py: Python<'_>, endpoint: String, master: Option<String>) -> PyResult<Py<ReplicationStatus>> {
        let inner = self.inner()?;
        let out = block_on(py, async move { inner.replica_of(&endpoint, master.as_deref()).await })?;
        out.map_err(PyClientError)?.to_python(py)
    }

    /// Content digest of every collection of `endpoint`, or of the master.
    #[pyo3(signature = (endpoint = None))]
    fn get_digest(&self, py: Python<'_>, endpoint: Option<String>) -> PyResult<Py<DigestResponse>> {
        let inner = self.inner()?;
        let out = block_on(py, async move { inner.get_digest(endpoint.as_deref()).await })?;
        out.map_err(PyClientError)?.to_python(py)
    }

    /// The cluster controller as `endpoint` (or the master) sees it; outside cluster mode the node
    /// answers `replication_conflict` (`ConflictError`).
    #[pyo3(signature = (endpoint = None))]
    fn get_cluster(&self, py: Python<'_>, endpoint: Option<String>) -> PyResult<Py<ClusterView>> {
        let inner = self.inner()?;
        let out = block_on(py, async move { inner.get_cluster(endpoint.as_deref()).await })?;
        out.map_err(PyClientError)?.to_python(py)
    }

    fn __repr__(&self) -> String {
        format!("Client({:?})", self.config.endpoints())
    }
}
