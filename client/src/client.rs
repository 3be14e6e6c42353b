//! [`Client`]: every REST operation, with master-aware routing over one or more endpoints.
//!
//! Routing invariants:
//! - Writes go to the discovered master (to a replica when no master is known: its answer names
//!   the master). On `read_only_replica` the topology is rediscovered (also probing the master
//!   named in the error) and the write is retried exactly once. On `no_quorum` (a cluster-mode
//!   master without a controller lease: the write was not acknowledged) the topology is
//!   rediscovered and the write is retried once only if a different master was found (after a
//!   failover). The server refuses before applying, except with `w` above 1 where the lease is
//!   checked again after the wait; the retry is then a repeat (idempotent for upsert and delete).
//! - Reads go to the master, or to a replica under [`ReadPreference::PreferReplica`]. A read that
//!   cannot connect rediscovers and is retried once (reads are idempotent; writes are not retried
//!   on connection errors because they may have been applied).
//! - Node-level calls (`health`, `get_replication_status`, `promote`, `replica_of`) may name an
//!   endpoint explicitly; the topology is dropped after a role change.

use std::sync::Arc;

use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use vectorizer_sdk_types::{
    ClusterView, CollectionInfo, CreateCollectionRequest, DeletePointsRequest, DigestResponse, HealthResponse,
    ListCollectionsResponse, PointInput, PointRecord, ReplicaInfo, ReplicaListResponse, ReplicaOfRequest,
    ReplicationStatus, ScoredPoint, SearchRequest, SearchResponse, SnapshotInfo, UpsertRequest, WriteResponse,
};

use crate::config::{ClientConfig, ReadPreference, endpoint_name, parse_endpoint};
use crate::error::{ClientError, ErrorClass, Result};
use crate::topology::{Topology, discover, require_master};
use crate::transport::{RequestOptions, Transport};
use crate::vector_encoding::{Base64Search, Base64Upsert, VectorEncoding};
use crate::write_options::WriteOptions;

/// Names of every public API method of [`Client`], in the order of `docs/dev/sdk-parity.md`.
/// The bindings' parity tests compare their method lists against this one.
pub const API_METHODS: &[&str] = &[
    "health",
    "create_collection",
    "list_collections",
    "get_collection",
    "delete_collection",
    "upsert",
    "get",
    "delete",
    "search",
    "create_snapshot",
    "get_replication_status",
    "list_replicas",
    "promote",
    "replica_of",
    "get_digest",
    "get_cluster",
];

/// Async client of the Vectorizer REST API. Cheap to clone (shared connection pool and topology).
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    transport: Transport,
    endpoints: Vec<Url>,
    read_preference: ReadPreference,
    vector_encoding: VectorEncoding,
    /// `None` until the first call, and again after a call showed it stale.
    topology: Mutex<Option<Topology>>,
}

/// An HTTP request, kept so that it can be re-sent to another endpoint.
struct Call<'a, B: ?Sized> {
    method: Method,
    segments: &'a [&'a str],
    body: Option<&'a B>,
}

impl Client {
    /// A client for `config`. Does no I/O: the master is discovered on the first call.
    pub fn new(config: ClientConfig) -> Result<Self> {
        let transport = Transport::new(config.api_key, config.timeout)?;
        Ok(Self {
            inner: Arc::new(Inner {
                transport,
                endpoints: config.endpoints,
                read_preference: config.read_preference,
                vector_encoding: config.vector_encoding,
                topology: Mutex::new(None),
            }),
        })
    }

    /// Shorthand for a client over `endpoints` with default settings.
    pub fn connect<I, S>(endpoints: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::new(ClientConfig::new(endpoints)?)
    }

    /// The configured endpoints, normalised.
    pub fn endpoints(&self) -> Vec<String> {
        self.inner.endpoints.iter().map(endpoint_name).collect()
    }

    /// The endpoint currently believed to be master (discovering it if unknown).
    pub async fn master_endpoint(&self) -> Result<String> {
        Ok(endpoint_name(&self.master().await?))
    }

    // ---- node-level ----

    /// `GET /health` of `endpoint`, or of the master when `None`.
    pub async fn health(&self, endpoint: Option<&str>) -> Result<HealthResponse> {
        self.node_call(endpoint, Call::<()> { method: Method::GET, segments: &["health"], body: None }).await
    }

    /// `GET /api/v1/replication/status` of `endpoint`, or of the master when `None`.
    pub async fn get_replication_status(&self, endpoint: Option<&str>) -> Result<ReplicationStatus> {
        let segments = &["api", "v1", "replication", "status"];
        self.node_call(endpoint, Call::<()> { method: Method::GET, segments, body: None }).await
    }

    /// `GET /api/v1/replication/replicas` of the master: every replica it knows.
    pub async fn list_replicas(&self) -> Result<Vec<ReplicaInfo>> {
        let segments = &["api", "v1", "replication", "replicas"];
        let list: ReplicaListResponse =
            self.node_call(None, Call::<()> { method: Method::GET, segments, body: None }).await?;
        Ok(list.replicas)
    }

    /// `POST /api/v1/replication/promote` on `endpoint` (a replica): it becomes master.
    pub async fn promote(&self, endpoint: &str) -> Result<ReplicationStatus> {
        let segments = &["api", "v1", "replication", "promote"];
        let status = self.node_call(Some(endpoint), Call::<()> { method: Method::POST, segments, body: None }).await;
        self.forget_topology().await;
        status
    }

    /// `POST /api/v1/replication/replicaof` on `endpoint`: follow `master` (`host:port` of its
    /// replication port), or detach and become a standalone master with `None`.
    pub async fn replica_of(&self, endpoint: &str, master: Option<&str>) -> Result<ReplicationStatus> {
        let segments = &["api", "v1", "replication", "replicaof"];
        let body = ReplicaOfRequest { master: master.map(str::to_owned) };
        let status = self.node_call(Some(endpoint), Call { method: Method::POST, segments, body: Some(&body) }).await;
        self.forget_topology().await;
        status
    }

    /// `GET /api/v1/admin/digest` of `endpoint`, or of the master: a content digest of every
    /// collection, to check that nodes converged.
    pub async fn get_digest(&self, endpoint: Option<&str>) -> Result<DigestResponse> {
        let segments = &["api", "v1", "admin", "digest"];
        self.node_call(endpoint, Call::<()> { method: Method::GET, segments, body: None }).await
    }

    /// `GET /api/v1/cluster` of `endpoint`, or of the master: the cluster controller as that node
    /// sees it. Outside cluster mode the node answers 409 `replication_conflict`.
    pub async fn get_cluster(&self, endpoint: Option<&str>) -> Result<ClusterView> {
        let segments = &["api", "v1", "cluster"];
        self.node_call(endpoint, Call::<()> { method: Method::GET, segments, body: None }).await
    }

    /// `POST /api/v1/snapshots` on the master: writes and verifies a snapshot.
    pub async fn create_snapshot(&self) -> Result<SnapshotInfo> {
        let call = Call::<()> { method: Method::POST, segments: &["api", "v1", "snapshots"], body: None };
        self.write(call, WriteOptions::default()).await
    }

    // ---- collections ----

    /// `POST /api/v1/collections`.
    pub async fn create_collection(&self, request: &CreateCollectionRequest) -> Result<WriteResponse> {
        self.create_collection_with(request, WriteOptions::default()).await
    }

    /// [`Client::create_collection`] with a write concern.
    pub async fn create_collection_with(
        &self,
        request: &CreateCollectionRequest,
        options: WriteOptions,
    ) -> Result<WriteResponse> {
        let segments = &["api", "v1", "collections"];
        self.write(Call { method: Method::POST, segments, body: Some(request) }, options).await
    }

    /// `GET /api/v1/collections`.
    pub async fn list_collections(&self) -> Result<Vec<CollectionInfo>> {
        let segments = &["api", "v1", "collections"];
        let list: ListCollectionsResponse = self.read(Call::<()> { method: Method::GET, segments, body: None }).await?;
        Ok(list.collections)
    }

    /// `GET /api/v1/collections/{name}`.
    pub async fn get_collection(&self, name: &str) -> Result<CollectionInfo> {
        let segments = &["api", "v1", "collections", name];
        self.read(Call::<()> { method: Method::GET, segments, body: None }).await
    }

    /// `DELETE /api/v1/collections/{name}`.
    pub async fn delete_collection(&self, name: &str) -> Result<WriteResponse> {
        self.delete_collection_with(name, WriteOptions::default()).await
    }

    /// [`Client::delete_collection`] with a write concern.
    pub async fn delete_collection_with(&self, name: &str, options: WriteOptions) -> Result<WriteResponse> {
        let segments = &["api", "v1", "collections", name];
        self.write(Call::<()> { method: Method::DELETE, segments, body: None }, options).await
    }

    // ---- points ----

    /// `PUT /api/v1/collections/{collection}/vectors`: insert or replace points.
    pub async fn upsert(&self, collection: &str, points: Vec<PointInput>) -> Result<WriteResponse> {
        self.upsert_with(collection, points, WriteOptions::default()).await
    }

    /// [`Client::upsert`] with a write concern.
    pub async fn upsert_with(
        &self,
        collection: &str,
        points: Vec<PointInput>,
        options: WriteOptions,
    ) -> Result<WriteResponse> {
        let segments = &["api", "v1", "collections", collection, "vectors"];
        match self.inner.vector_encoding {
            VectorEncoding::Array => {
                let body = UpsertRequest { vectors: points };
                self.write(Call { method: Method::PUT, segments, body: Some(&body) }, options).await
            }
            VectorEncoding::Base64 => {
                let body = Base64Upsert::new(&points);
                self.write(Call { method: Method::PUT, segments, body: Some(&body) }, options).await
            }
        }
    }

    /// `GET /api/v1/collections/{collection}/vectors/{id}`.
    pub async fn get(&self, collection: &str, id: &str) -> Result<PointRecord> {
        let segments = &["api", "v1", "collections", collection, "vectors", id];
        self.read(Call::<()> { method: Method::GET, segments, body: None }).await
    }

    /// `POST /api/v1/collections/{collection}/vectors/delete`.
    pub async fn delete(&self, collection: &str, ids: Vec<String>) -> Result<WriteResponse> {
        self.delete_with(collection, ids, WriteOptions::default()).await
    }

    /// [`Client::delete`] with a write concern.
    pub async fn delete_with(
        &self,
        collection: &str,
        ids: Vec<String>,
        options: WriteOptions,
    ) -> Result<WriteResponse> {
        let segments = &["api", "v1", "collections", collection, "vectors", "delete"];
        let body = DeletePointsRequest { ids };
        self.write(Call { method: Method::POST, segments, body: Some(&body) }, options).await
    }

    /// `POST /api/v1/collections/{collection}/search`: hits, best first.
    pub async fn search(&self, collection: &str, request: &SearchRequest) -> Result<Vec<ScoredPoint>> {
        let segments = &["api", "v1", "collections", collection, "search"];
        let response: SearchResponse = match self.inner.vector_encoding {
            VectorEncoding::Array => self.read(Call { method: Method::POST, segments, body: Some(request) }).await?,
            VectorEncoding::Base64 => {
                let body = Base64Search::new(request);
                self.read(Call { method: Method::POST, segments, body: Some(&body) }).await?
            }
        };
        Ok(response.results)
    }

    // ---- routing ----

    /// Sends a write to the master. `options` are checked before anything is sent.
    async fn write<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        call: Call<'_, B>,
        options: WriteOptions,
    ) -> Result<T> {
        let extras = options.to_request()?;
        let target = self.write_target().await?;
        match self.send_with(&target, &call, &extras).await {
            Err(err) if err.class() == ErrorClass::ReadOnlyReplica => {
                let topology = self.rediscover(err.master_hint()).await;
                let master = require_master(&topology, &self.inner.endpoints)?;
                self.send_with(&master, &call, &extras).await
            }
            Err(err) if err.class() == ErrorClass::NoQuorum => {
                // The refusing master may have been replaced; resending to the same node is
                // pointless, so only a newly discovered master gets the (single) retry.
                let topology = self.rediscover(None).await;
                match topology.master {
                    Some(master) if master != target => self.send_with(&master, &call, &extras).await,
                    _ => Err(err),
                }
            }
            Err(err) if err.class() == ErrorClass::Connection => {
                self.forget_topology().await;
                Err(err)
            }
            other => other,
        }
    }

    async fn read<T: DeserializeOwned, B: Serialize + ?Sized>(&self, call: Call<'_, B>) -> Result<T> {
        let target = self.read_target().await?;
        match self.send(&target, &call).await {
            Err(err) if err.class() == ErrorClass::Connection => {
                self.rediscover(None).await;
                let target = self.read_target().await?;
                self.send(&target, &call).await
            }
            other => other,
        }
    }

    async fn node_call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        endpoint: Option<&str>,
        call: Call<'_, B>,
    ) -> Result<T> {
        match endpoint {
            Some(raw) => self.send(&parse_endpoint(raw)?, &call).await,
            None => self.read_from_master(call).await,
        }
    }

    async fn read_from_master<T: DeserializeOwned, B: Serialize + ?Sized>(&self, call: Call<'_, B>) -> Result<T> {
        let master = self.master().await?;
        match self.send(&master, &call).await {
            Err(err) if err.class() == ErrorClass::Connection => {
                let topology = self.rediscover(None).await;
                let master = require_master(&topology, &self.inner.endpoints)?;
                self.send(&master, &call).await
            }
            other => other,
        }
    }

    async fn send<T: DeserializeOwned, B: Serialize + ?Sized>(&self, url: &Url, call: &Call<'_, B>) -> Result<T> {
        self.send_with(url, call, &RequestOptions::default()).await
    }

    async fn send_with<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        url: &Url,
        call: &Call<'_, B>,
        extras: &RequestOptions,
    ) -> Result<T> {
        self.inner.transport.call_with(url, call.method.clone(), call.segments, call.body, extras).await
    }

    async fn master(&self) -> Result<Url> {
        let mut guard = self.inner.topology.lock().await;
        let topology = match guard.as_mut() {
            Some(known) => known,
            None => guard.insert(discover(&self.inner.transport, &self.inner.endpoints, None).await),
        };
        require_master(topology, &self.inner.endpoints)
    }

    /// The master; without one, a replica (its `read_only_replica` answer names the master, which
    /// the retry then finds even when it is not among the configured endpoints).
    async fn write_target(&self) -> Result<Url> {
        let mut guard = self.inner.topology.lock().await;
        let topology = match guard.as_mut() {
            Some(known) => known,
            None => guard.insert(discover(&self.inner.transport, &self.inner.endpoints, None).await),
        };
        match (&topology.master, topology.replicas.first()) {
            (Some(master), _) => Ok(master.clone()),
            (None, Some(replica)) => Ok(replica.clone()),
            (None, None) => require_master(topology, &self.inner.endpoints),
        }
    }

    async fn read_target(&self) -> Result<Url> {
        if self.inner.read_preference == ReadPreference::Master {
            return self.master().await;
        }
        let mut guard = self.inner.topology.lock().await;
        let topology = match guard.as_mut() {
            Some(known) => known,
            None => guard.insert(discover(&self.inner.transport, &self.inner.endpoints, None).await),
        };
        match topology.next_replica() {
            Some(replica) => Ok(replica),
            None => require_master(topology, &self.inner.endpoints),
        }
    }

    /// Replaces the topology with a fresh discovery round and returns it.
    async fn rediscover(&self, hint: Option<&str>) -> Topology {
        let mut guard = self.inner.topology.lock().await;
        let topology = discover(&self.inner.transport, &self.inner.endpoints, hint).await;
        *guard = Some(topology.clone());
        topology
    }

    async fn forget_topology(&self) {
        *self.inner.topology.lock().await = None;
    }
}

/// Error used when a binding is handed something that is not a valid argument.
pub fn invalid_argument(argument: &'static str, reason: impl Into<String>) -> ClientError {
    ClientError::InvalidArgument { argument, reason: reason.into() }
}
