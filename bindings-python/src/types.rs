//! Python result classes mirroring `vectorizer_sdk_types`, and the conversions into and out of them.
//!
//! Invariants: one frozen class per wire type with the wire's snake_case field names (checked
//! against the typeshare output by `tests/test_types_match_sdk_types.py`); `null` becomes `None`;
//! RFC 3339 strings become timezone-aware `datetime`s; roles, statuses, metrics and cluster states
//! become the `enum.Enum`s of `vectorizer._enums`; payloads become plain `dict`s. No logic beyond
//! conversion.

use chrono::{DateTime, Utc};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};
use serde_json::Value;
use vectorizer_sdk_types as wire;

use crate::error::invalid_response;

/// Deepest JSON nesting converted in either direction (bounded recursion).
const MAX_JSON_DEPTH: usize = 128;

/// `GET /health`.
#[pyclass(module = "vectorizer", get_all, frozen)]
pub struct HealthResponse {
    pub status: String,
    pub version: String,
}

/// Effective HNSW parameters of a collection.
#[pyclass(module = "vectorizer", get_all, frozen)]
pub struct HnswParams {
    pub m: u32,
    pub ef_construction: u32,
    pub ef_search: u32,
}

/// A collection and its counts.
#[pyclass(module = "vectorizer", get_all, frozen)]
pub struct CollectionInfo {
    pub name: String,
    pub dimension: u32,
    pub metric: Py<PyAny>,
    pub hnsw: Py<HnswParams>,
    pub vector_count: u64,
    pub indexed_count: u64,
}

/// Answer to an acknowledged write.
#[pyclass(module = "vectorizer", get_all, frozen)]
pub struct WriteResponse {
    pub offset: u64,
    pub affected: u64,
}

/// One stored point.
#[pyclass(module = "vectorizer", get_all, frozen)]
pub struct PointRecord {
    pub id: String,
    pub vector: Vec<f32>,
    pub payload: Option<Py<PyAny>>,
}

/// One search hit.
#[pyclass(module = "vectorizer", get_all, frozen)]
pub struct ScoredPoint {
    pub id: String,
    pub score: f32,
    pub payload: Option<Py<PyAny>>,
}

/// A written and verified snapshot.
#[pyclass(module = "vectorizer", get_all, frozen)]
pub struct SnapshotInfo {
    pub offset: u64,
    pub epoch: u64,
    pub bytes: u64,
    pub collections: u64,
    pub points: u64,
    pub created_at: DateTime<Utc>,
}

/// Digest of one collection (blake3 over its config and points sorted by id).
#[pyclass(module = "vectorizer", get_all, frozen)]
pub struct CollectionDigest {
    pub name: String,
    pub points: u64,
    pub digest: String,
}

/// Content digest of every collection of a node.
#[pyclass(module = "vectorizer", get_all, frozen)]
pub struct DigestResponse {
    pub applied_offset: u64,
    pub collections: Vec<Py<CollectionDigest>>,
}

/// Progress of an in-flight full sync.
#[pyclass(module = "vectorizer", get_all, frozen)]
pub struct SyncProgress {
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// Replication statistics of one node.
#[pyclass(module = "vectorizer", get_all, frozen)]
pub struct ReplicationStats {
    pub role: Py<PyAny>,
    pub lag_ms: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub last_sync: Option<DateTime<Utc>>,
    pub operations_pending: u64,
    pub snapshot_size: u64,
    pub connected_replicas: Option<u64>,
    pub epoch: Option<u64>,
    pub master_offset: Option<u64>,
    pub applied_offset: Option<u64>,
    pub full_syncs: Option<u64>,
    pub partial_syncs: Option<u64>,
    pub status: Option<Py<PyAny>>,
    pub master: Option<String>,
    pub sync_progress: Option<Py<SyncProgress>>,
    pub link_down_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub ops_discarded_on_rejoin: Option<u64>,
}

/// One replica as the master sees it.
#[pyclass(module = "vectorizer", get_all, frozen)]
pub struct ReplicaInfo {
    pub id: String,
    pub host: String,
    pub port: u16,
    pub status: Py<PyAny>,
    pub lag_ms: u64,
    pub last_heartbeat: DateTime<Utc>,
    pub operations_synced: u64,
    pub acked_offset: Option<u64>,
    pub bytes_sent: Option<u64>,
    pub full_syncs: Option<u64>,
    pub partial_syncs: Option<u64>,
    pub sync_progress: Option<Py<SyncProgress>>,
    pub link_down_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// `GET /api/v1/replication/status`.
#[pyclass(module = "vectorizer", get_all, frozen)]
pub struct ReplicationStatus {
    pub role: Py<PyAny>,
    pub enabled: bool,
    pub stats: Option<Py<ReplicationStats>>,
    pub replicas: Option<Vec<Py<ReplicaInfo>>>,
}

/// One configured node of a cluster, as the reporting node sees it.
#[pyclass(module = "vectorizer", get_all, frozen)]
pub struct ClusterMember {
    pub id: u64,
    pub http: String,
    pub repl: String,
    pub raft: String,
    pub priority: u32,
    pub role: Py<PyAny>,
    pub controller_leader: bool,
    pub health: Py<PyAny>,
    pub epoch: Option<u64>,
    pub applied_offset: Option<u64>,
    pub last_seen_ms_ago: Option<u64>,
}

/// The last master change committed by the cluster controller.
#[pyclass(module = "vectorizer", get_all, frozen)]
pub struct FailoverInfo {
    pub at: DateTime<Utc>,
    pub reason: String,
    pub old_master: Option<u64>,
    pub new_master: u64,
    pub epoch: u64,
    pub new_master_applied_offset: Option<u64>,
    pub ops_discarded: Option<u64>,
}

/// `GET /api/v1/cluster`: the cluster controller as one node sees it.
#[pyclass(module = "vectorizer", get_all, frozen)]
pub struct ClusterView {
    pub node_id: u64,
    pub failover: Py<PyAny>,
    pub controller_role: Py<PyAny>,
    pub term: u64,
    pub leader_id: Option<u64>,
    pub epoch: u64,
    pub master_id: Option<u64>,
    pub fenced: bool,
    pub writes_allowed: bool,
    pub members: Vec<Py<ClusterMember>>,
    pub last_failover: Option<Py<FailoverInfo>>,
}

macro_rules! repr {
    ($ty:ident, $($field:ident),+) => {
        #[pymethods]
        impl $ty {
            fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
                let mut parts = Vec::new();
                $( parts.push(format!(concat!(stringify!($field), "={}"), slf.getattr(stringify!($field))?.repr()?)); )+
                Ok(format!(concat!(stringify!($ty), "({})"), parts.join(", ")))
            }
        }
    };
}

repr!(HealthResponse, status, version);
repr!(HnswParams, m, ef_construction, ef_search);
repr!(CollectionInfo, name, dimension, metric, hnsw, vector_count, indexed_count);
repr!(WriteResponse, offset, affected);
repr!(PointRecord, id, vector, payload);
repr!(ScoredPoint, id, score, payload);
repr!(SnapshotInfo, offset, epoch, bytes, collections, points, created_at);
repr!(SyncProgress, bytes_done, bytes_total);
repr!(CollectionDigest, name, points, digest);
repr!(DigestResponse, applied_offset, collections);
repr!(
    ReplicationStats,
    role,
    lag_ms,
    bytes_sent,
    bytes_received,
    last_sync,
    operations_pending,
    snapshot_size,
    connected_replicas
);
repr!(ReplicaInfo, id, host, port, status, lag_ms, last_heartbeat, operations_synced);
repr!(ReplicationStatus, role, enabled, stats, replicas);
repr!(ClusterMember, id, http, role, controller_leader, health, epoch, applied_offset, last_seen_ms_ago);
repr!(FailoverInfo, at, reason, old_master, new_master, epoch, new_master_applied_offset, ops_discarded);
repr!(
    ClusterView,
    node_id,
    failover,
    controller_role,
    term,
    leader_id,
    epoch,
    master_id,
    fenced,
    writes_allowed,
    members,
    last_failover
);

// ---------------------------------------------------------------- wire -> Python

fn enum_member(py: Python<'_>, class: &str, value: &str) -> PyResult<Py<PyAny>> {
    Ok(py.import("vectorizer._enums")?.getattr(class)?.call1((value,))?.unbind())
}

fn wire_str<T: serde::Serialize>(value: &T) -> PyResult<String> {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => Ok(s),
        _ => Err(invalid_response("enum value is not a string".into())),
    }
}

fn timestamp(text: &str) -> PyResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| invalid_response(format!("timestamp {text:?} is not RFC 3339: {e}")))
}

fn opt_timestamp(text: Option<&str>) -> PyResult<Option<DateTime<Utc>>> {
    text.map(timestamp).transpose()
}

fn payload(py: Python<'_>, p: Option<wire::Payload>) -> PyResult<Option<Py<PyAny>>> {
    p.map(|map| json_to_py(py, &Value::Object(map), 0).map(Bound::unbind)).transpose()
}

fn sync_progress(py: Python<'_>, p: Option<wire::SyncProgress>) -> PyResult<Option<Py<SyncProgress>>> {
    p.map(|p| Py::new(py, SyncProgress { bytes_done: p.bytes_done, bytes_total: p.bytes_total })).transpose()
}

/// Converts a JSON value into plain Python objects (dict, list, str, int, float, bool, None).
pub(crate) fn json_to_py<'py>(py: Python<'py>, value: &Value, depth: usize) -> PyResult<Bound<'py, PyAny>> {
    if depth > MAX_JSON_DEPTH {
        return Err(invalid_response(format!("JSON nested deeper than {MAX_JSON_DEPTH}")));
    }
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u), _) => u.into_pyobject(py)?.into_any(),
            (None, None, Some(f)) => f.into_pyobject(py)?.into_any(),
            (None, None, None) => return Err(invalid_response(format!("unrepresentable number {n}"))),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item, depth + 1)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json_to_py(py, v, depth + 1)?)?;
            }
            dict.into_any()
        }
    })
}

/// Converts plain Python objects (dict with str keys, list/tuple, str, int, float, bool, None) to JSON.
pub(crate) fn py_to_json(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if depth > MAX_JSON_DEPTH {
        return Err(PyValueError::new_err(format!("payload nested deeper than {MAX_JSON_DEPTH}")));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.cast::<PyInt>().is_ok() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        return obj
            .extract::<u64>()
            .map(Value::from)
            .map_err(|_| PyValueError::new_err("payload integer does not fit in 64 bits"));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return serde_json::Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| PyValueError::new_err("payload floats must be finite"));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_owned()));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = serde_json::Map::new();
        for (k, v) in dict.iter() {
            let key = k
                .cast::<PyString>()
                .map_err(|_| PyValueError::new_err("payload keys must be str"))?
                .to_str()?
                .to_owned();
            map.insert(key, py_to_json(&v, depth + 1)?);
        }
        return Ok(Value::Object(map));
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return list.iter().map(|v| py_to_json(&v, depth + 1)).collect::<PyResult<Vec<_>>>().map(Value::Array);
    }
    if let Ok(tuple) = obj.cast::<pyo3::types::PyTuple>() {
        return tuple.iter().map(|v| py_to_json(&v, depth + 1)).collect::<PyResult<Vec<_>>>().map(Value::Array);
    }
    Err(PyValueError::new_err(format!(
        "payload values must be JSON-compatible (dict, list, str, int, float, bool, None), got {}",
        obj.get_type().name()?
    )))
}

/// Conversion of a wire value into its Python class.
pub(crate) trait ToPython {
    type Output;
    fn to_python(self, py: Python<'_>) -> PyResult<Self::Output>;
}

impl ToPython for wire::HealthResponse {
    type Output = Py<HealthResponse>;
    fn to_python(self, py: Python<'_>) -> PyResult<Self::Output> {
        Py::new(py, HealthResponse { status: self.status, version: self.version })
    }
}

impl ToPython for wire::WriteResponse {
    type Output = Py<WriteResponse>;
    fn to_python(self, py: Python<'_>) -> PyResult<Self::Output> {
        Py::new(py, WriteResponse { offset: self.offset, affected: self.affected })
    }
}

impl ToPython for wire::CollectionInfo {
    type Output = Py<CollectionInfo>;
    fn to_python(self, py: Python<'_>) -> PyResult<Self::Output> {
        let hnsw =
            HnswParams { m: self.hnsw.m, ef_construction: self.hnsw.ef_construction, ef_search: self.hnsw.ef_search };
        Py::new(
            py,
            CollectionInfo {
                name: self.name,
                dimension: self.dimension,
                metric: enum_member(py, "Metric", &wire_str(&self.metric)?)?,
                hnsw: Py::new(py, hnsw)?,
                vector_count: self.vector_count,
                indexed_count: self.indexed_count,
            },
        )
    }
}

impl ToPython for wire::PointRecord {
    type Output = Py<PointRecord>;
    fn to_python(self, py: Python<'_>) -> PyResult<Self::Output> {
        Py::new(py, PointRecord { id: self.id, vector: self.vector, payload: payload(py, self.payload)? })
    }
}

impl ToPython for wire::ScoredPoint {
    type Output = Py<ScoredPoint>;
    fn to_python(self, py: Python<'_>) -> PyResult<Self::Output> {
        Py::new(py, ScoredPoint { id: self.id, score: self.score, payload: payload(py, self.payload)? })
    }
}

impl ToPython for wire::SnapshotInfo {
    type Output = Py<SnapshotInfo>;
    fn to_python(self, py: Python<'_>) -> PyResult<Self::Output> {
        Py::new(
            py,
            SnapshotInfo {
                offset: self.offset,
                epoch: self.epoch,
                bytes: self.bytes,
                collections: self.collections,
                points: self.points,
                created_at: timestamp(&self.created_at)?,
            },
        )
    }
}

impl ToPython for wire::DigestResponse {
    type Output = Py<DigestResponse>;
    fn to_python(self, py: Python<'_>) -> PyResult<Self::Output> {
        let collections = self
            .collections
            .into_iter()
            .map(|c| Py::new(py, CollectionDigest { name: c.name, points: c.points, digest: c.digest }))
            .collect::<PyResult<Vec<_>>>()?;
        Py::new(py, DigestResponse { applied_offset: self.applied_offset, collections })
    }
}

impl ToPython for wire::ReplicationStats {
    type Output = Py<ReplicationStats>;
    fn to_python(self, py: Python<'_>) -> PyResult<Self::Output> {
        let status = match self.status {
            Some(s) => Some(enum_member(py, "ReplicaStatus", &wire_str(&s)?)?),
            None => None,
        };
        Py::new(
            py,
            ReplicationStats {
                role: enum_member(py, "ReplicationRole", &wire_str(&self.role)?)?,
                lag_ms: self.lag_ms,
                bytes_sent: self.bytes_sent,
                bytes_received: self.bytes_received,
                last_sync: opt_timestamp(self.last_sync.as_deref())?,
                operations_pending: self.operations_pending,
                snapshot_size: self.snapshot_size,
                connected_replicas: self.connected_replicas,
                epoch: self.epoch,
                master_offset: self.master_offset,
                applied_offset: self.applied_offset,
                full_syncs: self.full_syncs,
                partial_syncs: self.partial_syncs,
                status,
                master: self.master,
                sync_progress: sync_progress(py, self.sync_progress)?,
                link_down_since: opt_timestamp(self.link_down_since.as_deref())?,
                last_error: self.last_error,
                ops_discarded_on_rejoin: self.ops_discarded_on_rejoin,
            },
        )
    }
}

impl ToPython for wire::ReplicaInfo {
    type Output = Py<ReplicaInfo>;
    fn to_python(self, py: Python<'_>) -> PyResult<Self::Output> {
        Py::new(
            py,
            ReplicaInfo {
                id: self.id,
                host: self.host,
                port: self.port,
                status: enum_member(py, "ReplicaStatus", &wire_str(&self.status)?)?,
                lag_ms: self.lag_ms,
                last_heartbeat: timestamp(&self.last_heartbeat)?,
                operations_synced: self.operations_synced,
                acked_offset: self.acked_offset,
                bytes_sent: self.bytes_sent,
                full_syncs: self.full_syncs,
                partial_syncs: self.partial_syncs,
                sync_progress: sync_progress(py, self.sync_progress)?,
                link_down_since: opt_timestamp(self.link_down_since.as_deref())?,
                last_error: self.last_error,
            },
        )
    }
}

impl ToPython for wire::ReplicationStatus {
    type Output = Py<ReplicationStatus>;
    fn to_python(self, py: Python<'_>) -> PyResult<Self::Output> {
        let stats = self.stats.map(|s| s.to_python(py)).transpose()?;
        let replicas = self.replicas.map(|r| r.to_python(py)).transpose()?;
        Py::new(
            py,
            ReplicationStatus {
                role: enum_member(py, "ReplicationRole", &wire_str(&self.role)?)?,
                enabled: self.enabled,
                stats,
                replicas,
            },
        )
    }
}

impl ToPython for wire::ClusterMember {
    type Output = Py<ClusterMember>;
    fn to_python(self, py: Python<'_>) -> PyResult<Self::Output> {
        Py::new(
            py,
            ClusterMember {
                id: self.id,
                http: self.http,
                repl: self.repl,
                raft: self.raft,
                priority: self.priority,
                role: enum_member(py, "ClusterMemberRole", &wire_str(&self.role)?)?,
                controller_leader: self.controller_leader,
                health: enum_member(py, "MemberHealth", &wire_str(&self.health)?)?,
                epoch: self.epoch,
                applied_offset: self.applied_offset,
                last_seen_ms_ago: self.last_seen_ms_ago,
            },
        )
    }
}

impl ToPython for wire::FailoverInfo {
    type Output = Py<FailoverInfo>;
    fn to_python(self, py: Python<'_>) -> PyResult<Self::Output> {
        Py::new(
            py,
            FailoverInfo {
                at: timestamp(&self.at)?,
                reason: self.reason,
                old_master: self.old_master,
                new_master: self.new_master,
                epoch: self.epoch,
                new_master_applied_offset: self.new_master_applied_offset,
                ops_discarded: self.ops_discarded,
            },
        )
    }
}

impl ToPython for wire::ClusterView {
    type Output = Py<ClusterView>;
    fn to_python(self, py: Python<'_>) -> PyResult<Self::Output> {
        Py::new(
            py,
            ClusterView {
                node_id: self.node_id,
                failover: enum_member(py, "ClusterFailoverMode", &wire_str(&self.failover)?)?,
                controller_role: enum_member(py, "ControllerRole", &wire_str(&self.controller_role)?)?,
                term: self.term,
                leader_id: self.leader_id,
                epoch: self.epoch,
                master_id: self.master_id,
                fenced: self.fenced,
                writes_allowed: self.writes_allowed,
                members: self.members.to_python(py)?,
                last_failover: self.last_failover.map(|f| f.to_python(py)).transpose()?,
            },
        )
    }
}

impl<T: ToPython> ToPython for Vec<T> {
    type Output = Vec<T::Output>;
    fn to_python(self, py: Python<'_>) -> PyResult<Self::Output> {
        self.into_iter().map(|item| item.to_python(py)).collect()
    }
}
