//! The replication state file `<data_dir>/replication/state.json`: node id, role, epoch history
//! and the counters that must survive restarts.
//!
//! Invariant: the file is replaced atomically (write to a temp file, fsync, rename, fsync the
//! directory), so after any crash it holds either the previous or the new content, never a mix.
//! Counters are saved every second when they changed and at shutdown; a `kill -9` can therefore
//! lose at most the last second of counter increments (never data: data lives in the log).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vectorizer_sdk_types::{ReplicaStatus, ReplicationRole};

use crate::error::{CoreError, Result};
use crate::replication::history::EpochHistory;

/// Format version of the state file.
pub const STATE_VERSION: u32 = 1;
/// Largest state file read (a registry of thousands of replicas is far below this).
const MAX_STATE_BYTES: u64 = 16 * 1024 * 1024;

/// Everything persisted about replication on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistedState {
    pub version: u32,
    /// Stable id of this node (used as the replica id), generated once.
    pub node_id: String,
    /// Role chosen at runtime (promote / replicaof); wins over the config at restart.
    pub role: Option<ReplicationRole>,
    /// Master replication address when the role is replica.
    pub master: Option<String>,
    pub history: EpochHistory,
    pub counters: NodeCounters,
    /// Master side: every replica ever seen, with its last known state.
    pub replicas: Vec<PersistedReplica>,
}

/// Node-level counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCounters {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub full_syncs: u64,
    pub partial_syncs: u64,
    pub last_sync_ms: Option<u64>,
    /// Replica: last instant it was known caught up with its master.
    pub caught_up_at_ms: Option<u64>,
    /// Replica: last master offset it heard of.
    pub master_offset_seen: u64,
    /// Master: links dropped because a replica's backlog exceeded the buffer cap.
    pub buffer_overflows: u64,
    /// Operations this node discarded when it rejoined a newer master after a failover (its log
    /// held operations beyond the fork point). Absent in state files written before 1.2.
    #[serde(default)]
    pub ops_discarded_on_rejoin: u64,
}

/// A replica as the master last knew it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistedReplica {
    pub id: String,
    pub host: String,
    pub port: u16,
    pub repl_addr: String,
    pub acked_offset: u64,
    pub operations_synced: u64,
    pub bytes_sent: u64,
    pub full_syncs: u64,
    pub partial_syncs: u64,
    pub last_heartbeat_ms: u64,
    pub last_status: ReplicaStatus,
}

impl PersistedState {
    /// A fresh state for a new node.
    pub fn fresh(node_id: String, history: EpochHistory) -> Self {
        Self {
            version: STATE_VERSION,
            node_id,
            role: None,
            master: None,
            history,
            counters: NodeCounters::default(),
            replicas: Vec::new(),
        }
    }
}

/// Path of the state file inside a data dir.
pub fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join("replication").join("state.json")
}

/// Loads the state file, or `None` if it does not exist yet.
pub fn load(data_dir: &Path) -> Result<Option<PersistedState>> {
    let path = state_path(data_dir);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CoreError::io(&path, e)),
    };
    let len = file.metadata().map_err(|e| CoreError::io(&path, e))?.len();
    if len > MAX_STATE_BYTES {
        return Err(CoreError::Corruption {
            path,
            offset: 0,
            detail: format!("{len} bytes exceeds {MAX_STATE_BYTES}"),
        });
    }
    let state: PersistedState = serde_json::from_reader(std::io::BufReader::new(file))
        .map_err(|e| CoreError::Corruption { path: path.clone(), offset: 0, detail: e.to_string() })?;
    if state.version != STATE_VERSION {
        return Err(CoreError::Corruption {
            path,
            offset: 0,
            detail: format!("state version {} is not supported (expected {STATE_VERSION})", state.version),
        });
    }
    Ok(Some(state))
}

/// Replaces the state file atomically and durably.
pub fn save(data_dir: &Path, state: &PersistedState) -> Result<()> {
    let path = state_path(data_dir);
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| data_dir.to_path_buf());
    std::fs::create_dir_all(&dir).map_err(|e| CoreError::io(&dir, e))?;
    let tmp = dir.join("state.json.tmp");
    let bytes =
        serde_json::to_vec_pretty(state).map_err(|e| CoreError::io(&tmp, std::io::Error::other(e.to_string())))?;
    {
        let mut f = std::fs::File::create(&tmp).map_err(|e| CoreError::io(&tmp, e))?;
        f.write_all(&bytes).map_err(|e| CoreError::io(&tmp, e))?;
        f.sync_all().map_err(|e| CoreError::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| CoreError::io(&path, e))?;
    let d = std::fs::File::open(&dir).map_err(|e| CoreError::io(&dir, e))?;
    d.sync_all().map_err(|e| CoreError::io(&dir, e))
}

/// A new random node id (`node-` + 16 hex digits).
pub fn new_node_id() -> String {
    format!("node-{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_then_load_round_trips_and_missing_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(load(dir.path()).expect("load"), None);
        let mut state = PersistedState::fresh(new_node_id(), EpochHistory::new(1, 1));
        state.counters.bytes_sent = 42;
        state.replicas.push(PersistedReplica {
            id: "r".into(),
            host: "127.0.0.1".into(),
            port: 1,
            repl_addr: "127.0.0.1:2".into(),
            acked_offset: 3,
            operations_synced: 3,
            bytes_sent: 42,
            full_syncs: 1,
            partial_syncs: 0,
            last_heartbeat_ms: 5,
            last_status: ReplicaStatus::Connected,
        });
        save(dir.path(), &state).expect("save");
        assert_eq!(load(dir.path()).expect("load"), Some(state.clone()));
        state.counters.bytes_sent = 43;
        save(dir.path(), &state).expect("save again");
        assert_eq!(load(dir.path()).expect("load").map(|s| s.counters.bytes_sent), Some(43));
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("replication")).expect("mkdir");
        std::fs::write(state_path(dir.path()), b"{not json").expect("write");
        let err = load(dir.path()).expect_err("garbage");
        assert!(err.to_string().contains("state.json"), "{err}");
    }
}
