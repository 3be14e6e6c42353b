//! Collections in memory, the write path, search, snapshots and recovery.
//!
//! PLACEHOLDER while the engine is being written: every call answers `Unavailable`. This file only
//! fixes the public signatures so the server can be built against them (see `docs/dev/CONTRACTS.md`).

use std::path::PathBuf;
use std::sync::Arc;

use vectorizer_sdk_types as wire;

use crate::error::{CoreError, Result};
use crate::model::Limits;
use crate::storage::{FsyncPolicy, Retention};

/// Everything the engine needs to open a data directory.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    pub fsync: FsyncPolicy,
    /// Size at which a log segment is closed and a new one started.
    pub segment_bytes: u64,
    pub limits: Limits,
    /// Take a snapshot after this many operations since the last one (0 = never by count).
    pub snapshot_every_ops: u64,
    /// Take a snapshot after this many seconds if anything changed (0 = never by time).
    pub snapshot_every_secs: u64,
    /// Snapshots kept on disk (the newest first); at least 1.
    pub snapshots_to_keep: usize,
    pub retention: Retention,
    /// Background threads linking new vectors into HNSW graphs (at least 1).
    pub index_threads: usize,
}

impl EngineConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            fsync: FsyncPolicy::Always,
            segment_bytes: 64 * 1024 * 1024,
            limits: Limits::default(),
            snapshot_every_ops: 100_000,
            snapshot_every_secs: 300,
            snapshots_to_keep: 2,
            retention: Retention {
                max_bytes: 256 * 1024 * 1024,
                max_age: std::time::Duration::from_secs(3600),
            },
            index_threads: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// Summary of a snapshot written by [`Engine::snapshot_now`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSummary {
    pub offset: u64,
    pub bytes: u64,
    pub collections: u64,
    pub points: u64,
}

/// The database engine of one node.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
}

fn not_ready() -> CoreError {
    CoreError::Unavailable { reason: "the engine is under construction".into() }
}

impl Engine {
    pub fn open(config: EngineConfig) -> Result<Arc<Engine>> {
        Ok(Arc::new(Engine { config }))
    }
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }
    pub fn create_collection(&self, _req: &wire::CreateCollectionRequest) -> Result<wire::WriteResponse> {
        Err(not_ready())
    }
    pub fn delete_collection(&self, _name: &str) -> Result<wire::WriteResponse> {
        Err(not_ready())
    }
    pub fn upsert(&self, _collection: &str, _req: wire::UpsertRequest) -> Result<wire::WriteResponse> {
        Err(not_ready())
    }
    pub fn delete_points(&self, _collection: &str, _req: &wire::DeletePointsRequest) -> Result<wire::WriteResponse> {
        Err(not_ready())
    }
    pub fn get_point(&self, _collection: &str, _id: &str) -> Result<wire::PointRecord> {
        Err(not_ready())
    }
    pub fn list_collections(&self) -> wire::ListCollectionsResponse {
        wire::ListCollectionsResponse { collections: Vec::new() }
    }
    pub fn collection_info(&self, _name: &str) -> Result<wire::CollectionInfo> {
        Err(not_ready())
    }
    pub fn search(&self, _collection: &str, _req: &wire::SearchRequest) -> Result<wire::SearchResponse> {
        Err(not_ready())
    }
    pub fn snapshot_now(&self) -> Result<SnapshotSummary> {
        Err(not_ready())
    }
    pub fn replication_status(&self) -> wire::ReplicationStatus {
        wire::ReplicationStatus { role: wire::ReplicationRole::Master, enabled: false, stats: None, replicas: None }
    }
    pub fn shutdown(&self) -> Result<()> {
        Ok(())
    }
}
