//! Start-up recovery: newest valid snapshot + replay of the log after it.
//!
//! Algorithm:
//! 1. Try snapshots newest first. Each is fully verified (chunk CRCs, digest, manifest) and decoded
//!    before it is used; a rejected snapshot is logged and the next older one is tried.
//! 2. Open the log (a torn tail is truncated by the log itself; corruption before the tail refuses
//!    start-up with the file and byte offset).
//! 3. The log must cover every offset after the chosen snapshot; a gap refuses start-up with a
//!    message naming the missing range and any snapshot that was rejected.
//! 4. Replay every record after the snapshot through the same [`State::apply`] used by live writes.
//!
//! Invariant: recovery either produces exactly the state of (snapshot + log), or fails with an
//! error; it never serves a partially applied snapshot or silently skips a record.

use std::path::Path;

use crate::codec;
use crate::engine::EngineConfig;
use crate::engine::state::State;
use crate::engine::{replication_hooks, snapshot_body};
use crate::error::{CoreError, Result};
use crate::storage::log::{LogConfig, OpLog, RecoveryReport};
use crate::storage::snapshot;

/// Bytes read from the log per replay batch.
const REPLAY_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// What recovery produced.
pub(crate) struct Recovered {
    pub(crate) state: State,
    pub(crate) log: OpLog,
    /// Offset covered by the snapshot that was loaded (0 if none).
    pub(crate) snapshot_offset: u64,
    /// Manifest of that snapshot, if one was loaded.
    pub(crate) snapshot: Option<snapshot::SnapshotManifest>,
    /// Highest epoch seen in the snapshot or the log (at least 1).
    pub(crate) epoch: u64,
    pub(crate) replayed: u64,
    pub(crate) log_report: RecoveryReport,
}

/// Directory of log segments inside a data dir.
pub(crate) fn log_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("log")
}

/// Directory of snapshot files inside a data dir.
pub(crate) fn snapshot_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("snapshots")
}

/// Runs recovery on `config.data_dir`.
pub(crate) fn recover(config: &EngineConfig) -> Result<Recovered> {
    let snap_dir = snapshot_dir(&config.data_dir);
    std::fs::create_dir_all(&snap_dir).map_err(|e| CoreError::io(&snap_dir, e))?;
    let stale = snapshot::remove_temp_files(&snap_dir)?;
    if stale > 0 {
        tracing::info!(count = stale, "removed unfinished snapshot files left by a crash");
    }

    let log_cfg =
        LogConfig { dir: log_dir(&config.data_dir), segment_bytes: config.segment_bytes, fsync: config.fsync };
    if std::fs::metadata(config.data_dir.join("INSTALLING")).is_ok() {
        // A full-sync installation was interrupted: finish it before looking at snapshots.
        let (log, _) = OpLog::open(log_cfg.clone(), 1)?;
        replication_hooks::complete_interrupted_install(&config.data_dir, &log)?;
    }

    let mut rejected: Vec<String> = Vec::new();
    let mut loaded = None;
    for (offset, path) in snapshot::list_snapshots(&snap_dir)? {
        match load_snapshot(&path) {
            Ok((state, manifest)) => {
                tracing::info!(path = %path.display(), offset, points = manifest.points, "loaded snapshot");
                loaded = Some((state, manifest));
                break;
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "snapshot rejected; trying an older one");
                rejected.push(e.to_string());
            }
        }
    }
    let (state, snapshot_offset, mut epoch, manifest) = match loaded {
        Some((state, m)) => (state, m.offset, m.epoch, Some(m)),
        None => (State::default(), 0, 1, None),
    };

    let log_cfg =
        LogConfig { dir: log_dir(&config.data_dir), segment_bytes: config.segment_bytes, fsync: config.fsync };
    let (log, log_report) = OpLog::open(log_cfg, snapshot_offset + 1)?;
    if let Some(tail) = &log_report.truncated_tail {
        tracing::warn!(
            path = %tail.path.display(),
            at_byte = tail.at_byte,
            bytes_dropped = tail.bytes_dropped,
            "truncated a torn log tail (crash during an append); no acknowledged write is lost"
        );
    }

    let first = log.first_offset();
    let last = log.last_offset();
    if last < snapshot_offset {
        // The snapshot already contains everything the log held (e.g. the log directory was
        // emptied); restart the log right after the snapshot.
        tracing::warn!(last, snapshot_offset, "log ends before the snapshot; restarting the log after it");
        log.reset(snapshot_offset + 1)?;
    } else if first != 0 && first > snapshot_offset + 1 {
        let why =
            if rejected.is_empty() { String::new() } else { format!("; rejected snapshots: {}", rejected.join("; ")) };
        return Err(CoreError::Corruption {
            path: log_dir(&config.data_dir),
            offset: 0,
            detail: format!(
                "operations {}..{} are neither in a usable snapshot nor in the log (log starts at {first}){why}",
                snapshot_offset + 1,
                first - 1
            ),
        });
    }

    let mut replayed = 0u64;
    let mut next = snapshot_offset + 1;
    while next <= log.last_offset() {
        let records = log.read_from(next, REPLAY_BATCH_BYTES)?;
        if records.is_empty() {
            break;
        }
        for record in records {
            if record.offset != next {
                return Err(CoreError::InconsistentLog {
                    offset: record.offset,
                    detail: format!("expected offset {next} during replay"),
                });
            }
            let op = codec::decode_op(&record.payload)
                .map_err(|e| CoreError::InconsistentLog { offset: record.offset, detail: e.to_string() })?;
            state.apply(record.offset, op)?;
            epoch = epoch.max(record.epoch);
            next += 1;
            replayed += 1;
        }
    }
    if !rejected.is_empty() {
        tracing::warn!(
            rejected = rejected.len(),
            snapshot_offset,
            replayed,
            "recovered from an older snapshot plus the log after rejecting newer snapshot(s)"
        );
    }
    Ok(Recovered { state, log, snapshot_offset, snapshot: manifest, epoch: epoch.max(1), replayed, log_report })
}

pub(crate) fn load_snapshot(path: &Path) -> Result<(State, snapshot::SnapshotManifest)> {
    // One pass: decode while verifying; nothing decoded is used unless the whole body verified.
    let (manifest, mut body) = snapshot::open_verifying(path)?;
    let decoded = snapshot_body::decode(&mut body, manifest.points, manifest.body_bytes);
    body.finish()?;
    let (collections, counts) =
        decoded.map_err(|e| CoreError::SnapshotRejected { path: path.to_owned(), reason: e.to_string() })?;
    if counts.collections != manifest.collections || counts.points != manifest.points {
        return Err(CoreError::SnapshotRejected {
            path: path.to_owned(),
            reason: format!(
                "manifest says {} collections / {} points, body holds {} / {}",
                manifest.collections, manifest.points, counts.collections, counts.points
            ),
        });
    }
    Ok((State::from_collections(collections), manifest))
}
