//! What replication needs from the engine: the node's role, applying a master's records,
//! installing a full-sync snapshot, and pinning the log for replicas.
//!
//! Invariants:
//! - A replica applies records exactly as the master wrote them (same epoch, offset, timestamp)
//!   through the same `State::apply` as local writes, in offset order; a record at or below the
//!   applied offset is skipped (idempotent), a gap is refused.
//! - Installing a snapshot is crash-safe: an `INSTALLING` marker in the data dir names the
//!   snapshot being installed; until the marker is removed, start-up finishes the installation
//!   (drops every other snapshot, restarts the log after the snapshot) before recovering. So a
//!   crash can never combine the new snapshot with records of the old history.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crate::codec;
use crate::engine::{Engine, SnapshotSummary, WriteGate, recovery};
use crate::error::{CoreError, Result};
use crate::storage::fsutil;
use crate::storage::log::{OpLog, Record};
use crate::storage::snapshot::{self, SnapshotManifest};

/// Role of the node as the engine enforces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRole {
    /// Accepts writes.
    Master,
    /// Read-only; `master_http` is the master's HTTP address once known (for error messages).
    Replica { master_http: Option<String> },
}

/// Name of the installation marker inside the data dir.
const INSTALL_MARKER: &str = "INSTALLING";

impl Engine {
    /// The role the engine currently enforces.
    pub fn role(&self) -> NodeRole {
        self.role.read().clone()
    }

    /// Changes the enforced role. Taken under the writer lock, so no write straddles the change.
    pub fn set_role(&self, role: NodeRole) {
        let _gate = self.gate.lock();
        *self.role.write() = role;
    }

    /// Sets the epoch stamped on locally written records (after a promotion).
    pub fn set_epoch(&self, epoch: u64) {
        let _gate = self.gate.lock();
        self.epoch.store(epoch, Ordering::SeqCst);
    }

    /// The operation log (read access for replication senders: `read_from`, `wait_for_append`,
    /// offsets). Never append to it directly: use the engine's write paths.
    pub fn log(&self) -> &OpLog {
        &self.log
    }

    /// Pins the log from `offset + 1` on for replicas (`u64::MAX` = no pin): retention never
    /// deletes a record above it.
    pub fn set_retention_floor(&self, offset: u64) {
        self.retention_floor.store(offset, Ordering::SeqCst);
    }

    /// Applies consecutive records received from the master and waits until they are durable.
    /// Returns the durable applied offset (what the replica acknowledges).
    /// Equivalent to [`Engine::apply_replicated_nowait`] then [`Engine::wait_replicated_durable`].
    pub fn apply_replicated(&self, records: &[Record]) -> Result<u64> {
        let last = self.apply_replicated_nowait(records)?;
        self.wait_replicated_durable(last)?;
        Ok(last)
    }

    /// Appends consecutive records received from the master to the log and applies them, without
    /// waiting for durability: they are visible to readers when this returns. Returns the applied
    /// offset (the log's last offset). Records at or below it are skipped; a gap is refused with
    /// `OffsetMismatch`. A replica acknowledges an offset only after
    /// [`Engine::wait_replicated_durable`] returned for it, so the next frame can be applied while
    /// the previous one is being fsynced.
    pub fn apply_replicated_nowait(&self, records: &[Record]) -> Result<u64> {
        let mut gate = self.gate.lock();
        let last = self.apply_replicated_gated(&mut gate, records);
        drop(gate);
        self.after_replicated_apply(last)
    }

    /// [`Engine::apply_replicated_nowait`] only if the writer lock is free right now: `None` when a
    /// snapshot, install or digest holds it, so the caller can hand the apply to a blocking thread
    /// instead of waiting on an async worker.
    pub fn try_apply_replicated_nowait(&self, records: &[Record]) -> Option<Result<u64>> {
        let mut gate = self.gate.try_lock()?;
        let last = self.apply_replicated_gated(&mut gate, records);
        drop(gate);
        Some(self.after_replicated_apply(last))
    }

    /// The apply itself, under the writer lock.
    fn apply_replicated_gated(&self, gate: &mut WriteGate, records: &[Record]) -> Result<u64> {
        if gate.closed {
            return Err(CoreError::Unavailable { reason: "the node is shutting down".into() });
        }
        if let Some(reason) = &gate.failed {
            return Err(CoreError::Unavailable { reason: reason.clone() });
        }
        let state = self.state.current();
        for record in records {
            let expected = self.log.last_offset() + 1;
            if record.offset < expected {
                continue;
            }
            if record.offset > expected {
                return Err(CoreError::OffsetMismatch { expected, actual: record.offset });
            }
            let op = codec::decode_op(&record.payload)
                .map_err(|e| CoreError::InconsistentLog { offset: record.offset, detail: e.to_string() })?;
            self.log.append_record(record)?;
            if let Err(e) = state.apply(record.offset, op) {
                gate.failed = Some(format!("applying replicated op {} failed: {e}; restart the node", record.offset));
                tracing::error!(offset = record.offset, error = %e, "replicated apply failed after append");
                return Err(e);
            }
            self.epoch.fetch_max(record.epoch, Ordering::SeqCst);
            self.ops_since_snapshot.fetch_add(1, Ordering::SeqCst);
        }
        Ok(self.log.last_offset())
    }

    /// Wakes the linkers after an apply (outside the writer lock).
    fn after_replicated_apply(&self, last: Result<u64>) -> Result<u64> {
        let last = last?;
        if let Some(workers) = self.workers.lock().as_ref() {
            workers.notify_linkers();
        }
        Ok(last)
    }

    /// Blocks until the replicated records up to `offset` are durable per the fsync policy (group
    /// commit: one fsync serves every waiter). A failed fsync stops the engine (it cannot know
    /// what reached the disk); an offset that is not (or no longer) in the log is only reported.
    pub fn wait_replicated_durable(&self, offset: u64) -> Result<()> {
        let durable = self.log.wait_durable(offset);
        self.replicated_durability(offset, durable)
    }

    /// [`Engine::wait_replicated_durable`] for async callers: no thread waits for another
    /// waiter's fsync (`OpLog::wait_durable_async`).
    pub async fn wait_replicated_durable_async(&self, offset: u64) -> Result<()> {
        let durable = self.log.wait_durable_async(offset).await;
        self.replicated_durability(offset, durable)
    }

    fn replicated_durability(&self, offset: u64, durable: Result<()>) -> Result<()> {
        match durable {
            Ok(()) => Ok(()),
            Err(e @ CoreError::InvalidArgument { .. }) => Err(e),
            Err(e) => {
                self.gate.lock().failed = Some(format!("fsync failed at offset {offset}: {e}; restart the node"));
                tracing::error!(offset, error = %e, "fsync of replicated records failed; refusing further writes");
                Err(e)
            }
        }
    }

    /// Directory where a replica stages snapshots while receiving them.
    pub fn staging_dir(&self) -> PathBuf {
        self.config.data_dir.join("staging")
    }

    /// Replaces the whole state with a verified snapshot file received from the master, and
    /// restarts the log right after the snapshot's offset. `staged` must be a finished snapshot file
    /// (from `SnapshotReceiver::finish`); it is verified again while decoding.
    pub fn install_snapshot(&self, staged: &Path) -> Result<SnapshotSummary> {
        let started = std::time::Instant::now();
        let _one_snapshot_at_a_time = self.snapshot_lock.lock();
        let (state, manifest) = recovery::load_snapshot(staged)?;
        self.install_state(staged, state, manifest, started)
    }

    /// A decoder for the body of the snapshot `manifest` announces, fed chunk by chunk while the
    /// body is received (see [`recovery::SnapshotDecoder`]).
    pub(crate) fn snapshot_decoder(&self, manifest: &SnapshotManifest) -> Result<recovery::SnapshotDecoder> {
        recovery::SnapshotDecoder::start(manifest)
    }

    /// Like [`Engine::install_snapshot`], with the state `decoder` decoded while the body of
    /// `staged` was received and verified (`SnapshotReceiver::finish` succeeded on exactly the
    /// chunks the decoder was fed), instead of reading the file again.
    pub(crate) fn install_decoded(&self, staged: &Path, decoder: recovery::SnapshotDecoder) -> Result<SnapshotSummary> {
        let started = std::time::Instant::now();
        let _one_snapshot_at_a_time = self.snapshot_lock.lock();
        let (state, manifest) = decoder.finish(staged)?;
        self.install_state(staged, state, manifest, started)
    }

    /// The part of an installation after the state is decoded: marker, file, swap, log restart.
    /// The caller holds the snapshot lock.
    fn install_state(
        &self,
        staged: &Path,
        state: super::state::State,
        manifest: SnapshotManifest,
        started: std::time::Instant,
    ) -> Result<SnapshotSummary> {
        let mut gate = self.gate.lock();
        if gate.closed {
            return Err(CoreError::Unavailable { reason: "the node is shutting down".into() });
        }
        let snap_dir = recovery::snapshot_dir(&self.config.data_dir);
        let marker = self.config.data_dir.join(INSTALL_MARKER);
        write_marker(&marker, manifest.offset)?;
        let target = snap_dir.join(snapshot::snapshot_file_name(manifest.offset));
        fsutil::rename_durable(staged, &target)?;
        // The new state is visible to readers from here on; writes are held by the gate.
        self.state.replace(state);
        if let Err(e) = finish_install(&snap_dir, &target, &self.log, manifest.offset) {
            gate.failed = Some(format!("installing snapshot {} failed: {e}; restart the node", target.display()));
            return Err(e);
        }
        fsutil::remove_file_if_exists(&marker)?;
        fsutil::sync_dir(&self.config.data_dir)?;
        self.epoch.store(manifest.epoch.max(1), Ordering::SeqCst);
        self.ops_since_snapshot.store(0, Ordering::SeqCst);
        drop(gate);
        let summary = SnapshotSummary::from_manifest(&manifest, started.elapsed());
        *self.last_snapshot.lock() = Some(summary.clone());
        *self.last_snapshot_at.lock() = std::time::Instant::now();
        if let Some(workers) = self.workers.lock().as_ref() {
            workers.notify_linkers();
        }
        tracing::info!(
            offset = manifest.offset,
            points = manifest.points,
            bytes = manifest.file_bytes,
            ms = summary.duration.as_millis() as u64,
            "installed snapshot from master"
        );
        Ok(summary)
    }

    /// A snapshot a master can stream to a replica: the newest one if the log still continues
    /// right after it, else a fresh one.
    pub fn snapshot_for_sync(&self) -> Result<(PathBuf, SnapshotManifest)> {
        let dir = recovery::snapshot_dir(&self.config.data_dir);
        if let Some((offset, path)) = snapshot::list_snapshots(&dir)?.into_iter().next() {
            let first = self.log.first_offset();
            if (first == 0 || first <= offset + 1) && offset <= self.log.last_offset() {
                match snapshot::read_manifest(&path) {
                    Ok(manifest) => return Ok((path, manifest)),
                    Err(e) => tracing::warn!(path = %path.display(), error = %e, "newest snapshot unusable for sync"),
                }
            }
        }
        let summary = self.snapshot_now()?;
        let path = dir.join(snapshot::snapshot_file_name(summary.offset));
        let manifest = snapshot::read_manifest(&path)?;
        Ok((path, manifest))
    }
}

fn write_marker(marker: &Path, offset: u64) -> Result<()> {
    let tmp = marker.with_extension("tmp");
    std::fs::write(&tmp, offset.to_string()).map_err(|e| CoreError::io(&tmp, e))?;
    let f = std::fs::File::open(&tmp).map_err(|e| CoreError::io(&tmp, e))?;
    f.sync_all().map_err(|e| CoreError::io(&tmp, e))?;
    fsutil::rename_durable(&tmp, marker)
}

/// Steps after the snapshot file is in place: drop every other snapshot, restart the log.
fn finish_install(snap_dir: &Path, keep: &Path, log: &OpLog, offset: u64) -> Result<()> {
    for (_, path) in snapshot::list_snapshots(snap_dir)? {
        if path != keep {
            fsutil::remove_file_if_exists(&path)?;
        }
    }
    fsutil::sync_dir(snap_dir)?;
    log.reset(offset + 1)
}

/// Start-up: completes an installation interrupted by a crash. Returns true if one was completed.
pub(crate) fn complete_interrupted_install(data_dir: &Path, log: &OpLog) -> Result<bool> {
    let marker = data_dir.join(INSTALL_MARKER);
    let text = match std::fs::read_to_string(&marker) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(CoreError::io(&marker, e)),
    };
    let offset: u64 = text.trim().parse().map_err(|_| CoreError::Corruption {
        path: marker.clone(),
        offset: 0,
        detail: format!("expected a snapshot offset, found {text:?}"),
    })?;
    let snap_dir = recovery::snapshot_dir(data_dir);
    let target = snap_dir.join(snapshot::snapshot_file_name(offset));
    if target.exists() {
        tracing::warn!(offset, "completing a snapshot installation interrupted by a crash");
        finish_install(&snap_dir, &target, log, offset)?;
    } else {
        // The crash came before the snapshot was moved in: nothing of the old state was touched.
        tracing::warn!(offset, "discarding a snapshot installation interrupted before it began");
    }
    fsutil::remove_file_if_exists(&marker)?;
    fsutil::sync_dir(data_dir)?;
    Ok(target.exists())
}
