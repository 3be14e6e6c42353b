//! `Client`: the Promise-based JavaScript face of [`vectorizer_client::Client`].
//!
//! Invariants: each method converts its arguments, awaits the inner client on napi's tokio
//! runtime and converts the result; nothing else. Results keep the wire's snake_case fields.
//! Every write takes a trailing `{ w, timeoutMs }` (see [`WriteOptions`]).

use napi::bindgen_prelude::*;
use napi_derive::napi;
use vectorizer_client::{ClientConfig, ClientError, ReadPreference, VectorEncoding, WriteConcern, invalid_argument};
use vectorizer_sdk_types as wire;

use crate::types::{Reply, from_js};

/// Options of `new Client(url, options)`.
#[napi(object)]
pub struct ClientOptions {
    /// Sent as `Authorization: Bearer <apiKey>`.
    pub api_key: Option<String>,
    /// Per-request timeout in milliseconds (default 30000).
    pub timeout_ms: Option<u32>,
    /// `"master"` (default) or `"prefer_replica"`.
    #[napi(ts_type = "'master' | 'prefer_replica'")]
    pub read_preference: Option<String>,
    /// How vectors are sent: `"array"` (default, JSON number arrays, any server) or `"base64"`
    /// (little-endian float32 bytes as base64 strings: far less server CPU per vector; needs a server that accepts them).
    #[napi(ts_type = "'array' | 'base64'")]
    pub vector_encoding: Option<String>,
}

/// Options of one write: `{ w, timeoutMs }` -> `?w=...&timeout_ms=...` (only what is set).
#[napi(object)]
pub struct WriteOptions {
    /// How many voting nodes (the master included) must hold the write durable before it is
    /// acknowledged: `1`, `'majority'` or `'all'`. Absent: the server's default.
    #[napi(ts_type = "1 | '1' | 'majority' | 'all'")]
    pub w: Option<Either<f64, String>>,
    /// How long the server waits for `w` (1..=300000 ms) before answering `write_concern_timeout`.
    pub timeout_ms: Option<f64>,
}

/// JS write options -> client write options; bad values are `invalid_argument` naming the field.
fn write_options(options: Option<WriteOptions>) -> std::result::Result<vectorizer_client::WriteOptions, ClientError> {
    let mut out = vectorizer_client::WriteOptions::default();
    let Some(options) = options else { return Ok(out) };
    out.w = match options.w {
        None => None,
        Some(Either::A(1.0)) => Some(WriteConcern::One),
        Some(Either::A(n)) => {
            return Err(invalid_argument("w", format!("expected 1, \"majority\" or \"all\", got {n}")));
        }
        Some(Either::B(text)) => Some(WriteConcern::parse(&text)?),
    };
    out.timeout_ms = match options.timeout_ms {
        None => None,
        // Integral and non-negative, so the cast is exact; the range is checked by the client.
        Some(ms) if ms.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&ms) => Some(ms as u64),
        Some(ms) => {
            let range = vectorizer_client::MAX_WRITE_TIMEOUT_MS;
            return Err(invalid_argument("timeout_ms", format!("expected an integer in 1..={range}, got {ms}")));
        }
    };
    Ok(out)
}

/// Client of a Vectorizer cluster (one or several endpoints). Writes go to the discovered master.
#[napi]
pub struct Client {
    inner: vectorizer_client::Client,
}

fn build(
    urls: Either<String, Vec<String>>,
    options: Option<ClientOptions>,
) -> std::result::Result<vectorizer_client::Client, ClientError> {
    let urls = match urls {
        Either::A(one) => vec![one],
        Either::B(many) => many,
    };
    let mut config = ClientConfig::new(urls)?;
    if let Some(options) = options {
        config = config.api_key(options.api_key);
        if let Some(ms) = options.timeout_ms {
            config = config.timeout(std::time::Duration::from_millis(u64::from(ms)))?;
        }
        if let Some(pref) = options.read_preference {
            config = config.read_preference(ReadPreference::parse(&pref)?);
        }
        if let Some(encoding) = options.vector_encoding {
            config = config.vector_encoding(VectorEncoding::parse(&encoding)?);
        }
    }
    vectorizer_client::Client::new(config)
}

/// Throws a client-side error (bad constructor arguments) as a JS `Error` with `code`.
fn throw(env: &Env, err: &ClientError) -> Error {
    // SAFETY: constructor runs on the JS thread with this live env.
    unsafe { crate::error::js_error(env.raw(), err) }
}

#[napi]
impl Client {
    /// Connects lazily to `url` (one endpoint or a list of endpoints of one cluster).
    #[napi(constructor)]
    pub fn new(env: Env, url: Either<String, Vec<String>>, options: Option<ClientOptions>) -> Result<Self> {
        build(url, options).map(|inner| Self { inner }).map_err(|e| throw(&env, &e))
    }

    /// The configured endpoints, normalised.
    #[napi(getter)]
    pub fn endpoints(&self) -> Vec<String> {
        self.inner.endpoints()
    }

    /// The endpoint currently believed to be master.
    #[napi(ts_return_type = "Promise<string>")]
    pub async fn master_endpoint(&self) -> Result<Reply<String>> {
        Ok(Reply(self.inner.master_endpoint().await))
    }

    /// `GET /health` of `endpoint`, or of the master.
    #[napi(ts_return_type = "Promise<HealthResponse>")]
    pub async fn health(&self, endpoint: Option<String>) -> Result<Reply<wire::HealthResponse>> {
        Ok(Reply(self.inner.health(endpoint.as_deref()).await))
    }

    /// Creates a collection.
    #[napi(ts_return_type = "Promise<WriteResponse>")]
    pub async fn create_collection(
        &self,
        #[napi(ts_arg_type = "CreateCollectionRequest")] request: serde_json::Value,
        options: Option<WriteOptions>,
    ) -> Result<Reply<wire::WriteResponse>> {
        let request: std::result::Result<wire::CreateCollectionRequest, _> = from_js("request", request);
        Ok(Reply(match (request, write_options(options)) {
            (Ok(request), Ok(options)) => self.inner.create_collection_with(&request, options).await,
            (Err(e), _) | (_, Err(e)) => Err(e),
        }))
    }

    /// Lists every collection.
    #[napi(ts_return_type = "Promise<CollectionInfo[]>")]
    pub async fn list_collections(&self) -> Result<Reply<Vec<wire::CollectionInfo>>> {
        Ok(Reply(self.inner.list_collections().await))
    }

    /// One collection's info.
    #[napi(ts_return_type = "Promise<CollectionInfo>")]
    pub async fn get_collection(&self, name: String) -> Result<Reply<wire::CollectionInfo>> {
        Ok(Reply(self.inner.get_collection(&name).await))
    }

    /// Deletes a collection and its points.
    #[napi(ts_return_type = "Promise<WriteResponse>")]
    pub async fn delete_collection(
        &self,
        name: String,
        options: Option<WriteOptions>,
    ) -> Result<Reply<wire::WriteResponse>> {
        Ok(Reply(match write_options(options) {
            Ok(options) => self.inner.delete_collection_with(&name, options).await,
            Err(e) => Err(e),
        }))
    }

    /// Inserts or replaces points.
    #[napi(ts_return_type = "Promise<WriteResponse>")]
    pub async fn upsert(
        &self,
        collection: String,
        #[napi(ts_arg_type = "PointInput[]")] points: serde_json::Value,
        options: Option<WriteOptions>,
    ) -> Result<Reply<wire::WriteResponse>> {
        let points: std::result::Result<Vec<wire::PointInput>, _> = from_js("points", points);
        Ok(Reply(match (points, write_options(options)) {
            (Ok(points), Ok(options)) => self.inner.upsert_with(&collection, points, options).await,
            (Err(e), _) | (_, Err(e)) => Err(e),
        }))
    }

    /// One point by id.
    #[napi(ts_return_type = "Promise<PointRecord>")]
    pub async fn get(&self, collection: String, id: String) -> Result<Reply<wire::PointRecord>> {
        Ok(Reply(self.inner.get(&collection, &id).await))
    }

    /// Deletes points by id.
    #[napi(ts_return_type = "Promise<WriteResponse>")]
    pub async fn delete(
        &self,
        collection: String,
        ids: Vec<String>,
        options: Option<WriteOptions>,
    ) -> Result<Reply<wire::WriteResponse>> {
        Ok(Reply(match write_options(options) {
            Ok(options) => self.inner.delete_with(&collection, ids, options).await,
            Err(e) => Err(e),
        }))
    }

    /// Nearest neighbours, best first.
    #[napi(ts_return_type = "Promise<ScoredPoint[]>")]
    pub async fn search(
        &self,
        collection: String,
        #[napi(ts_arg_type = "SearchRequest")] request: serde_json::Value,
    ) -> Result<Reply<Vec<wire::ScoredPoint>>> {
        let request: std::result::Result<wire::SearchRequest, _> = from_js("request", request);
        Ok(Reply(match request {
            Ok(request) => self.inner.search(&collection, &request).await,
            Err(e) => Err(e),
        }))
    }

    /// Writes and verifies a snapshot on the master.
    #[napi(ts_return_type = "Promise<SnapshotInfo>")]
    pub async fn create_snapshot(&self) -> Result<Reply<wire::SnapshotInfo>> {
        Ok(Reply(self.inner.create_snapshot().await))
    }

    /// Replication status of `endpoint`, or of the master.
    #[napi(ts_return_type = "Promise<ReplicationStatus>")]
    pub async fn get_replication_status(&self, endpoint: Option<String>) -> Result<Reply<wire::ReplicationStatus>> {
        Ok(Reply(self.inner.get_replication_status(endpoint.as_deref()).await))
    }

    /// Every replica the master knows.
    #[napi(ts_return_type = "Promise<ReplicaInfo[]>")]
    pub async fn list_replicas(&self) -> Result<Reply<Vec<wire::ReplicaInfo>>> {
        Ok(Reply(self.inner.list_replicas().await))
    }

    /// Promotes the replica at `endpoint` to master.
    #[napi(ts_return_type = "Promise<ReplicationStatus>")]
    pub async fn promote(&self, endpoint: String) -> Result<Reply<wire::ReplicationStatus>> {
        Ok(Reply(self.inner.promote(&endpoint).await))
    }

    /// Makes `endpoint` follow `master` (`host:port` of its replication port), or detaches it with null.
    #[napi(ts_return_type = "Promise<ReplicationStatus>")]
    pub async fn replica_of(
        &self,
        endpoint: String,
        #[napi(ts_arg_type = "string | null")] master: Option<String>,
    ) -> Result<Reply<wire::ReplicationStatus>> {
        Ok(Reply(self.inner.replica_of(&endpoint, master.as_deref()).await))
    }

    /// Content digest of every collection of `endpoint`, or of the master.
    #[napi(ts_return_type = "Promise<DigestResponse>")]
    pub async fn get_digest(&self, endpoint: Option<String>) -> Result<Reply<wire::DigestResponse>> {
        Ok(Reply(self.inner.get_digest(endpoint.as_deref()).await))
    }

    /// The cluster controller as `endpoint` (or the master) sees it; outside cluster mode the node
    /// rejects with `replication_conflict`.
    #[napi(ts_return_type = "Promise<ClusterView>")]
    pub async fn get_cluster(&self, endpoint: Option<String>) -> Result<Reply<wire::ClusterView>> {
        Ok(Reply(self.inner.get_cluster(endpoint.as_deref()).await))
    }
}
