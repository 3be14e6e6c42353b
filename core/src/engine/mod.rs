//! The database engine of one node: collections in memory, the write path, search, snapshots and
//! recovery.
//!
//! Write path (the only way state changes; `write_path.rs`):
//! 1. validate the request against limits and the collection's config and encode the op (outside
//!    any lock);
//! 2. take the writer lock, re-check the collection still exists, append the encoded op to the log
//!    (the log assigns the offset under its own append lock), apply it in memory, release;
//! 3. wait until the log says the offset is durable (group commit), then acknowledge.
//!
//! Invariants: apply order == log order (both happen under the writer lock); a write is
//! acknowledged only after step 3; a write becomes visible to readers at step 2 (before it is
//! durable, like Redis and MongoDB's "local" read concern). If an fsync fails the engine stops
//! accepting writes (it cannot know what reached the disk) and reports itself failed.

mod collection;
mod dirlock;
mod recovery;
mod replication_hooks;
mod rollback;
mod snapshot_body;
mod state;
mod workers;
mod write_path;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use vectorizer_sdk_types as wire;

use crate::error::{CoreError, Result};
use crate::model::{self, EF_SEARCH_RANGE, Limits};
use crate::storage::log::OpLog;
use crate::storage::snapshot::{self, SnapshotWriter};
use crate::storage::{FsyncPolicy, Retention};

use dirlock::DirLock;
use state::StateCell;
use workers::Workers;

pub use replication_hooks::NodeRole;
pub use rollback::RollbackReport;
pub use write_path::{AppliedWrite, NowaitCommit, PreparedWrite};

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
    /// Log kept after snapshots cover it (replication backlog).
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
            retention: Retention { max_bytes: 256 * 1024 * 1024, max_age: Duration::from_secs(3600) },
            index_threads: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// Summary of a snapshot written by [`Engine::snapshot_now`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSummary {
    pub offset: u64,
    pub epoch: u64,
    /// Size of the snapshot file in bytes.
    pub bytes: u64,
    pub collections: u64,
    pub points: u64,
    /// Milliseconds since the Unix epoch when it was written.
    pub created_at_ms: u64,
    /// Time spent writing it (zero for a snapshot loaded at start-up).
    pub duration: Duration,
}

impl SnapshotSummary {
    /// The summary of the snapshot `m` describes, which took `duration` to write or install.
    pub(crate) fn from_manifest(m: &snapshot::SnapshotManifest, duration: Duration) -> Self {
        Self {
            offset: m.offset,
            epoch: m.epoch,
            bytes: m.file_bytes,
            collections: m.collections,
            points: m.points,
            created_at_ms: m.created_at_ms,
            duration,
        }
    }

    /// The wire form of this summary.
    pub fn to_wire(&self) -> wire::SnapshotInfo {
        wire::SnapshotInfo {
            offset: self.offset,
            epoch: self.epoch,
            bytes: self.bytes,
            collections: self.collections,
            points: self.points,
            created_at: rfc3339_ms(self.created_at_ms),
        }
    }
}

/// What recovery did at start-up (for logs and the ready line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupReport {
    pub snapshot_offset: u64,
    pub replayed_ops: u64,
    pub last_offset: u64,
    /// Bytes dropped from a torn log tail, if one was found.
    pub torn_tail_bytes: Option<u64>,
    pub duration: Duration,
}

/// Writer-side state guarded by the writer lock.
#[derive(Debug)]
struct WriteGate {
    /// Set by [`Engine::shutdown`]: no new writes.
    closed: bool,
    /// Set when an fsync or apply failed: the node must be restarted.
    failed: Option<String>,
}

/// The database engine of one node.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    state: Arc<StateCell>,
    log: OpLog,
    gate: Mutex<WriteGate>,
    /// Changed only under `gate`; a replica refuses client writes.
    role: RwLock<NodeRole>,
    epoch: AtomicU64,
    /// Replicas need the log after this offset (`u64::MAX` = no pin).
    retention_floor: AtomicU64,
    ops_since_snapshot: AtomicU64,
    last_snapshot_at: Mutex<Instant>,
    last_snapshot: Mutex<Option<SnapshotSummary>>,
    /// One snapshot at a time.
    snapshot_lock: Mutex<()>,
    workers: Mutex<Option<Workers>>,
    startup: StartupReport,
    _dir_lock: DirLock,
}

/// Milliseconds since the Unix epoch, wall clock.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Formats milliseconds since the Unix epoch as RFC 3339 UTC (`2024-10-24T12:00:00.123Z`).
pub fn rfc3339_ms(ms: u64) -> String {
    let dt = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms as i64).unwrap_or_default();
    dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Engine {
    /// Opens (or creates) the data directory, recovers, and starts the background workers.
    pub fn open(config: EngineConfig) -> Result<Arc<Engine>> {
        if config.snapshots_to_keep == 0 {
            return Err(CoreError::invalid("storage.snapshots_to_keep", "must be at least 1"));
        }
        let started = Instant::now();
        let dir_lock = DirLock::acquire(&config.data_dir)?;
        let rec = recovery::recover(&config)?;
        let startup = StartupReport {
            snapshot_offset: rec.snapshot_offset,
            replayed_ops: rec.replayed,
            last_offset: rec.log.last_offset(),
            torn_tail_bytes: rec.log_report.truncated_tail.as_ref().map(|t| t.bytes_dropped),
            duration: started.elapsed(),
        };
        let last_snapshot = rec.snapshot.as_ref().map(|m| SnapshotSummary::from_manifest(m, Duration::ZERO));
        let engine = Arc::new(Engine {
            state: Arc::new(StateCell::new(rec.state)),
            log: rec.log,
            gate: Mutex::new(WriteGate { closed: false, failed: None }),
            role: RwLock::new(NodeRole::Master),
            epoch: AtomicU64::new(rec.epoch),
            retention_floor: AtomicU64::new(u64::MAX),
            ops_since_snapshot: AtomicU64::new(rec.replayed),
            last_snapshot_at: Mutex::new(Instant::now()),
            last_snapshot: Mutex::new(last_snapshot),
            snapshot_lock: Mutex::new(()),
            workers: Mutex::new(None),
            startup,
            config,
            _dir_lock: dir_lock,
        });
        let workers = Workers::start(engine.config.index_threads, engine.state.clone(), Arc::downgrade(&engine))
            .map_err(|e| CoreError::io(&engine.config.data_dir, e))?;
        workers.notify_linkers();
        *engine.workers.lock() = Some(workers);
        Ok(engine)
    }

    /// The configuration the engine was opened with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// What recovery did at start-up.
    pub fn startup_report(&self) -> &StartupReport {
        &self.startup
    }

    /// Offset of the newest operation in the log.
    pub fn last_offset(&self) -> u64 {
        self.log.last_offset()
    }

    /// Current replication epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Number of fsyncs the log has issued (group commit makes this far smaller than the writes).
    pub fn fsync_count(&self) -> u64 {
        self.log.fsync_count()
    }

    /// Creates a collection.
    pub fn create_collection(&self, req: &wire::CreateCollectionRequest) -> Result<wire::WriteResponse> {
        self.commit(self.prepare_create_collection(req)?)
    }

    /// Deletes a collection and all its points.
    pub fn delete_collection(&self, name: &str) -> Result<wire::WriteResponse> {
        self.commit(self.prepare_delete_collection(name)?)
    }

    /// Inserts or replaces points.
    pub fn upsert(&self, collection: &str, req: wire::UpsertRequest) -> Result<wire::WriteResponse> {
        self.commit(self.prepare_upsert(collection, req)?)
    }

    /// Removes points by id; unknown ids are ignored (`affected` counts the removed ones).
    pub fn delete_points(&self, collection: &str, req: &wire::DeletePointsRequest) -> Result<wire::WriteResponse> {
        self.commit(self.prepare_delete_points(collection, req)?)
    }

    /// Replaces the payload of one existing point.
    pub fn set_payload(
        &self,
        collection: &str,
        id: &str,
        payload: Option<&wire::Payload>,
    ) -> Result<wire::WriteResponse> {
        self.commit(self.prepare_set_payload(collection, id, payload)?)
    }

    /// Reads one point.
    pub fn get_point(&self, collection: &str, id: &str) -> Result<wire::PointRecord> {
        let coll = self.state.current().get(collection)?;
        let not_found = || CoreError::PointNotFound { collection: collection.to_owned(), id: id.to_owned() };
        // Read the slot and its vector under the table lock so a concurrent replace cannot pair
        // the old payload with the new vector.
        let table = coll.table.read();
        let slot = *table.by_id.get(id).ok_or_else(not_found)?;
        let meta = table.slots.get(slot as usize).cloned().flatten().ok_or_else(not_found)?;
        let vector = coll.index.vector(slot).ok_or_else(not_found)?;
        drop(table);
        let payload = meta.payload.as_deref().map(model::decode_payload).transpose()?;
        Ok(wire::PointRecord { id: meta.id.into(), vector, payload })
    }

    /// Every collection, ordered by name.
    pub fn list_collections(&self) -> wire::ListCollectionsResponse {
        wire::ListCollectionsResponse { collections: self.state.current().all().iter().map(|c| c.info()).collect() }
    }

    /// One collection's description.
    pub fn collection_info(&self, name: &str) -> Result<wire::CollectionInfo> {
        Ok(self.state.current().get(name)?.info())
    }

    /// Top-k search, best match first.
    pub fn search(&self, collection: &str, req: &wire::SearchRequest) -> Result<wire::SearchResponse> {
        let coll = self.state.current().get(collection)?;
        model::validate_vector(&coll.config, "vector", &req.vector)?;
        let limit = req.limit as usize;
        if limit == 0 || limit > self.config.limits.max_search_limit {
            return Err(CoreError::invalid(
                "limit",
                format!("must be between 1 and {}, got {limit}", self.config.limits.max_search_limit),
            ));
        }
        let ef = match req.ef_search {
            Some(ef) => {
                model::check_range("ef_search", ef, &EF_SEARCH_RANGE)?;
                ef
            }
            None => coll.config.hnsw.ef_search,
        } as usize;
        let hits = if req.exact {
            coll.index.search_exact(&req.vector, limit)
        } else {
            coll.index.search(&req.vector, limit, ef.max(limit))
        };
        let mut results = Vec::with_capacity(hits.len());
        for (slot, score) in hits {
            // A slot replaced or removed between the index search and this lookup is skipped.
            let Some(meta) = coll.slot_meta(slot) else { continue };
            let payload = match (&meta.payload, req.with_payload) {
                (Some(text), true) => Some(model::decode_payload(text)?),
                _ => None,
            };
            results.push(wire::ScoredPoint { id: meta.id.into(), score, payload });
        }
        Ok(wire::SearchResponse { results })
    }

    /// Content digest of every collection plus the applied offset, taken under the writer lock so
    /// the two agree. Used to check that replicas converged.
    pub fn digest(&self) -> wire::DigestResponse {
        let _gate = self.gate.lock();
        let applied_offset = self.log.last_offset();
        let collections = self
            .state
            .current()
            .all()
            .iter()
            .map(|c| {
                let (points, digest) = c.digest();
                wire::CollectionDigest { name: c.config.name.clone(), points, digest }
            })
            .collect();
        wire::DigestResponse { applied_offset, collections }
    }

    /// The replication status of this node (replication is not built into this engine yet).
    pub fn replication_status(&self) -> wire::ReplicationStatus {
        wire::ReplicationStatus { role: wire::ReplicationRole::Master, enabled: false, stats: None, replicas: None }
    }

    /// The last snapshot written or loaded, if any.
    pub fn last_snapshot(&self) -> Option<SnapshotSummary> {
        self.last_snapshot.lock().clone()
    }

    /// Writes a snapshot of the current state now, then prunes old snapshots and log segments.
    ///
    /// Writers are paused only while the state is serialised into memory; the file is written,
    /// fsynced and verified-by-construction afterwards while writes continue.
    pub fn snapshot_now(&self) -> Result<SnapshotSummary> {
        let _one_at_a_time = self.snapshot_lock.lock();
        let started = Instant::now();
        let (offset, epoch, ops_before, body, counts) = {
            let gate = self.gate.lock();
            if let Some(reason) = &gate.failed {
                return Err(CoreError::Unavailable { reason: reason.clone() });
            }
            // The log must be durable up to the snapshot's offset: a crash must never leave a
            // snapshot that is ahead of the log it continues.
            self.log.sync()?;
            let offset = self.log.last_offset();
            let mut body = Vec::new();
            let counts = snapshot_body::encode(&self.state.current(), &mut body)?;
            (offset, self.epoch(), self.ops_since_snapshot.load(Ordering::SeqCst), body, counts)
        };
        let dir = recovery::snapshot_dir(&self.config.data_dir);
        let mut writer = SnapshotWriter::create(&dir, epoch, offset)?;
        std::io::Write::write_all(&mut writer, &body).map_err(|e| CoreError::io(&dir, e))?;
        drop(body);
        let (path, manifest) = writer.finish(counts.collections, counts.points)?;
        let summary = SnapshotSummary {
            offset,
            epoch,
            bytes: manifest.file_bytes,
            collections: counts.collections,
            points: counts.points,
            created_at_ms: manifest.created_at_ms,
            duration: started.elapsed(),
        };
        // Only snapshots subtract (one at a time), so this never underflows.
        self.ops_since_snapshot.fetch_sub(ops_before, Ordering::SeqCst);
        *self.last_snapshot_at.lock() = Instant::now();
        *self.last_snapshot.lock() = Some(summary.clone());
        tracing::info!(path = %path.display(), offset, bytes = summary.bytes, points = summary.points,
            ms = summary.duration.as_millis() as u64, "snapshot written");

        snapshot::prune_snapshots(&dir, self.config.snapshots_to_keep)?;
        // Keep the log from the OLDEST kept snapshot on, so that if the newest snapshot is ever
        // found corrupt, recovery can still fall back to the older one plus the log.
        let oldest_kept = snapshot::list_snapshots(&dir)?.last().map_or(0, |(o, _)| *o);
        let covered = oldest_kept.min(self.retention_floor.load(Ordering::SeqCst));
        self.log.apply_retention(covered, &self.config.retention)?;
        Ok(summary)
    }

    /// Whether the periodic snapshot thresholds are reached.
    fn snapshot_due(&self, since_last_attempt: Duration) -> bool {
        let ops = self.ops_since_snapshot.load(Ordering::SeqCst);
        if ops == 0 || since_last_attempt < Duration::from_secs(1) {
            return false;
        }
        let by_ops = self.config.snapshot_every_ops > 0 && ops >= self.config.snapshot_every_ops;
        let by_time = self.config.snapshot_every_secs > 0
            && self.last_snapshot_at.lock().elapsed() >= Duration::from_secs(self.config.snapshot_every_secs);
        by_ops || by_time
    }

    /// Stops accepting writes, stops the workers, writes a final snapshot if anything changed, and
    /// fsyncs the log. Writes already past the gate complete normally. Idempotent.
    pub fn shutdown(&self) -> Result<()> {
        {
            let mut gate = self.gate.lock();
            if gate.closed {
                return Ok(());
            }
            gate.closed = true;
        }
        if let Some(workers) = self.workers.lock().take() {
            workers.stop();
        }
        let failed = self.gate.lock().failed.is_some();
        if !failed
            && self.ops_since_snapshot.load(Ordering::SeqCst) > 0
            && let Err(e) = self.snapshot_now()
        {
            tracing::error!(error = %e, "final snapshot failed; the log still holds every write");
        }
        self.log.sync()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(workers) = self.workers.get_mut().take() {
            workers.stop();
        }
    }
}

#[cfg(test)]
mod tests;
