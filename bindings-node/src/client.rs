//! `Client`: the Promise-based JavaScript face of [`vectorizer_client::Client`].
//!
//! Invariants: each method converts its arguments, awaits the inner client on napi's tokio
//! runtime and converts the result; nothing else. Results keep the wire's snake_case fields.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use vectorizer_client::{ClientConfig, ClientError, ReadPreference};
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
    ) -> Result<Reply<wire::WriteResponse>> {
        let request: std::result::Result<wire::CreateCollectionRequest, _> = from_js("request", request);
        Ok(Reply(match request {
            Ok(request) => self.inner.create_collection(&request).await,
            Err(e) => Err(e),
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
    pub async fn delete_collection(&self, name: String) -> Result<Reply<wire::WriteResponse>> {
        Ok(Reply(self.inner.delete_collection(&name).await))
    }

    /// Inserts or replaces points.
    #[napi(ts_return_type = "Promise<WriteResponse>")]
    pub async fn upsert(
        &self,
        collection: String,
        #[napi(ts_arg_type = "PointInput[]")] points: serde_json::Value,
    ) -> Result<Reply<wire::WriteResponse>> {
        let points: std::result::Result<Vec<wire::PointInput>, _> = from_js("points", points);
        Ok(Reply(match points {
            Ok(points) => self.inner.upsert(&collection, points).await,
            Err(e) => Err(e),
        }))
    }

    /// One point by id.
    #[napi(ts_return_type = "Promise<PointRecord>")]
    pub async fn get(&self, collection: String, id: String) -> Result<Reply<wire::PointRecord>> {
        Ok(Reply(self.inner.get(&collection, &id).await))
    }

    /// Deletes points by id.
    #[napi(ts_return_type = "Promise<WriteResponse>")]
    pub async fn delete(&self, collection: String, ids: Vec<String>) -> Result<Reply<wire::WriteResponse>> {
        Ok(Reply(self.inner.delete(&collection, ids).await))
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
}
