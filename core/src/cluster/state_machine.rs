//! The controller's state machine (openraft storage-v2 `RaftStateMachine`) and the view of it the
//! rest of the controller reads ([`Applied`]).
//!
//! The state is tiny, so it lives in memory and is persisted only as snapshots:
//! `<data_dir>/cluster/snapshot.json` (replaced atomically: tmp + fsync + rename + dir fsync).
//! After a restart the state is the last snapshot plus the committed log entries openraft re-applies.
//!
//! Invariants: `apply` is the only writer of the committed [`ClusterState`] and applies entries in
//! log order; [`Applied::master_signal_at`] is the local monotonic instant of the last accepted
//! lease renewal or appointment applied here — always *after* the master sent that renewal, which
//! is what makes the leader's lease wait safe.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::cluster::files;
use crate::cluster::raft_types::{Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig};
use crate::cluster::state::{ClusterState, Effect, Outcome};
use crate::error::{CoreError, Result};

const SNAPSHOT_FILE: &str = "snapshot.json";
/// Largest snapshot accepted from disk or from a peer.
const MAX_SNAPSHOT_BYTES: u64 = 1024 * 1024;

/// The committed controller state as the rest of the controller sees it.
#[derive(Debug)]
pub struct Applied {
    state: watch::Sender<ClusterState>,
    master_signal_at: Mutex<Instant>,
}

impl Applied {
    fn new(state: ClusterState) -> Self {
        Self { state: watch::channel(state).0, master_signal_at: Mutex::new(Instant::now()) }
    }

    /// A copy of the committed state.
    pub fn current(&self) -> ClusterState {
        self.state.borrow().clone()
    }

    /// (master, epoch, fenced) without copying the rest of the state (the write-path check).
    pub fn master(&self) -> (Option<u64>, u64, bool) {
        let s = self.state.borrow();
        (s.master_id, s.epoch, s.fenced)
    }

    /// A receiver woken whenever the committed state changes.
    pub fn subscribe(&self) -> watch::Receiver<ClusterState> {
        self.state.subscribe()
    }

    /// Last local instant at which a lease renewal was accepted or a master appointed.
    pub fn master_signal_at(&self) -> Instant {
        *self.master_signal_at.lock()
    }

    fn signal(&self) {
        *self.master_signal_at.lock() = Instant::now();
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta,
    state: ClusterState,
}

#[derive(Debug, Default)]
struct Inner {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    current: Option<(SnapshotMeta, Vec<u8>)>,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    inner: Mutex<Inner>,
    applied: Arc<Applied>,
    snapshot_seq: AtomicU64,
}

/// The state machine; clones share state (the snapshot builder is a clone).
#[derive(Debug, Clone)]
pub struct StateMachine {
    shared: Arc<Shared>,
}

impl StateMachine {
    /// Opens the state machine in `dir`, restoring the last snapshot if any. Blocking.
    pub fn open(dir: &Path) -> Result<StateMachine> {
        std::fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
        let mut inner = Inner::default();
        let mut state = ClusterState::default();
        if let Some(bytes) = files::read_bounded(dir, SNAPSHOT_FILE, MAX_SNAPSHOT_BYTES)? {
            let file: SnapshotFile = files::parse_json(dir, SNAPSHOT_FILE, &bytes)?;
            let data = files::to_json(dir, SNAPSHOT_FILE, &file.state)?;
            inner.last_applied = file.meta.last_log_id;
            inner.membership = file.meta.last_membership.clone();
            inner.current = Some((file.meta, data));
            state = file.state;
        }
        Ok(StateMachine {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                inner: Mutex::new(inner),
                applied: Arc::new(Applied::new(state)),
                snapshot_seq: AtomicU64::new(0),
            }),
        })
    }

    /// The committed state, shared with the controller.
    pub fn applied(&self) -> Arc<Applied> {
        self.shared.applied.clone()
    }

    /// Persists a snapshot file off the async runtime.
    async fn persist(&self, meta: SnapshotMeta, state: ClusterState) -> std::result::Result<(), std::io::Error> {
        let dir = self.shared.dir.clone();
        let work = move || -> Result<()> {
            let bytes = files::to_json(&dir, SNAPSHOT_FILE, &SnapshotFile { meta, state })?;
            files::write_atomic(&dir, SNAPSHOT_FILE, &bytes)
        };
        match tokio::task::spawn_blocking(work).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(std::io::Error::other(e.to_string())),
            Err(join) => Err(std::io::Error::other(format!("snapshot I/O task failed: {join}"))),
        }
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> std::result::Result<Snapshot, StorageError> {
        let state = self.shared.applied.current();
        let (last_applied, membership) = {
            let inner = self.shared.inner.lock();
            (inner.last_applied, inner.membership.clone())
        };
        let seq = self.shared.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match last_applied {
            Some(l) => format!("{}-{}-{seq}", l.leader_id.term, l.index),
            None => format!("none-{seq}"),
        };
        let meta = SnapshotMeta { last_log_id: last_applied, last_membership: membership, snapshot_id };
        let data =
            serde_json::to_vec(&state).map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        self.persist(meta.clone(), state)
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        self.shared.inner.lock().current = Some((meta.clone(), data.clone()));
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> std::result::Result<(Option<LogId>, StoredMembership), StorageError> {
        let inner = self.shared.inner.lock();
        Ok((inner.last_applied, inner.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> std::result::Result<Vec<Outcome>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut outcomes = Vec::new();
        let mut inner = self.shared.inner.lock();
        for entry in entries {
            inner.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => outcomes.push(Outcome::Applied),
                EntryPayload::Membership(m) => {
                    inner.membership = StoredMembership::new(Some(entry.log_id), m);
                    outcomes.push(Outcome::Applied);
                }
                EntryPayload::Normal(cmd) => {
                    let mut effect = Effect::None;
                    let mut outcome = Outcome::Applied;
                    self.shared.applied.state.send_if_modified(|s| {
                        let before = s.clone();
                        (outcome, effect) = s.apply(&cmd);
                        *s != before
                    });
                    if effect != Effect::None {
                        self.shared.applied.signal();
                    }
                    outcomes.push(outcome);
                }
            }
        }
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> std::result::Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> std::result::Result<(), StorageError> {
        let data = snapshot.into_inner();
        let sig = || Some(meta.signature());
        if data.len() as u64 > MAX_SNAPSHOT_BYTES {
            let err = std::io::Error::other(format!("snapshot of {} bytes exceeds {MAX_SNAPSHOT_BYTES}", data.len()));
            return Err(StorageIOError::read_snapshot(sig(), &err).into());
        }
        let state: ClusterState =
            serde_json::from_slice(&data).map_err(|e| StorageIOError::read_snapshot(sig(), &e))?;
        self.persist(meta.clone(), state.clone()).await.map_err(|e| StorageIOError::write_snapshot(sig(), &e))?;
        {
            let mut inner = self.shared.inner.lock();
            inner.last_applied = meta.last_log_id;
            inner.membership = meta.last_membership.clone();
            inner.current = Some((meta.clone(), data));
        }
        self.shared.applied.state.send_if_modified(|s| {
            let changed = *s != state;
            *s = state;
            changed
        });
        self.shared.applied.signal();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> std::result::Result<Option<Snapshot>, StorageError> {
        let inner = self.shared.inner.lock();
        Ok(inner
            .current
            .as_ref()
            .map(|(meta, data)| Snapshot { meta: meta.clone(), snapshot: Box::new(Cursor::new(data.clone())) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::log_store::LogStore;
    use crate::cluster::state::{AppointKind, Command};

    struct Builder;

    impl openraft::testing::StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
        async fn build(&self) -> std::result::Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
            let dir = tempfile::tempdir().map_err(|e| StorageIOError::write(&e))?;
            let log = LogStore::open(dir.path()).map_err(|e| StorageIOError::write(&e))?;
            let sm = StateMachine::open(dir.path()).map_err(|e| StorageIOError::write(&e))?;
            Ok((dir, log, sm))
        }
    }

    #[test]
    fn openraft_storage_suite_passes() {
        openraft::testing::Suite::test_all(Builder).expect("openraft storage suite");
    }

    #[tokio::test]
    async fn snapshot_restores_the_state_after_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sm = StateMachine::open(dir.path()).expect("open");
        let entry = Entry {
            log_id: openraft::testing::log_id(1, 1, 1),
            payload: EntryPayload::Normal(Command::Appoint {
                expected_epoch: 0,
                new_epoch: 4,
                master_id: 2,
                kind: AppointKind::Bootstrap,
                reason: "test".into(),
                at_ms: 5,
                new_master_applied_offset: None,
            }),
        };
        let before = sm.applied().master_signal_at();
        assert_eq!(sm.apply(vec![entry]).await.expect("apply"), vec![Outcome::Applied]);
        assert!(sm.applied().master_signal_at() >= before);
        let snap = sm.build_snapshot().await.expect("snapshot");
        drop(sm);
        let mut sm = StateMachine::open(dir.path()).expect("reopen");
        assert_eq!((sm.applied().current().epoch, sm.applied().current().master_id), (4, Some(2)));
        let (applied, _) = sm.applied_state().await.expect("state");
        assert_eq!(applied.map(|l| l.index), Some(1));
        let current = sm.get_current_snapshot().await.expect("current").expect("some");
        assert_eq!(current.meta, snap.meta);
    }
}
