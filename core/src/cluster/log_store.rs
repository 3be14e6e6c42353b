//! The controller's Raft log and vote on disk (openraft storage-v2 `RaftLogStorage`).
//!
//! Files in `<data_dir>/cluster/`:
//! - `meta.json`: the vote and the last purged log id, replaced atomically (tmp + fsync + rename +
//!   dir fsync) — the vote is durable before `save_vote` returns.
//! - `log.bin`: records `u32 len (LE) | u32 crc32c(body) | body (JSON entry)`, appended and
//!   fsynced before openraft's `LogFlushed` callback fires; truncated with `set_len` + fsync;
//!   rewritten atomically when a prefix is purged.
//!
//! Invariants: in memory and on disk the entries are in increasing index order (an append at an
//! index already stored first drops that entry and all later ones, in the same fsync; a gap is
//! legal, the entries before it having been superseded by a snapshot); a torn record at the tail (a
//! crash in the middle of an append) is cut off at open with a warning, while a bad record followed
//! by more data is reported as corruption. All disk I/O runs in `spawn_blocking`.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::ops::RangeBounds;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, OptionalSend, RaftLogReader, StorageIOError};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::cluster::files;
use crate::cluster::raft_types::{Entry, LogId, StorageError, TypeConfig, Vote};
use crate::error::{CoreError, Result};

const META_FILE: &str = "meta.json";
const LOG_FILE: &str = "log.bin";
const META_VERSION: u32 = 1;
/// Largest meta file accepted.
const MAX_META_BYTES: u64 = 64 * 1024;
/// Largest log entry accepted on disk (entries are tiny commands and membership changes).
pub const MAX_ENTRY_BYTES: usize = 1024 * 1024;
/// Largest log file read at open.
const MAX_LOG_BYTES: u64 = 1024 * 1024 * 1024;
const RECORD_HEADER: usize = 8;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Meta {
    version: u32,
    vote: Option<Vote>,
    last_purged: Option<LogId>,
}

#[derive(Debug, Default)]
struct Mem {
    entries: BTreeMap<u64, Entry>,
    vote: Option<Vote>,
    last_purged: Option<LogId>,
}

#[derive(Debug)]
struct LogFile {
    file: File,
    /// Byte position of each stored entry's record.
    offsets: BTreeMap<u64, u64>,
    len: u64,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    mem: Mutex<Mem>,
    /// Held only inside `spawn_blocking`; writes are serialised by openraft anyway.
    file: std::sync::Mutex<LogFile>,
}

/// The log store; cheap to clone (clones share the same files), and each clone is also a reader.
#[derive(Debug, Clone)]
pub struct LogStore {
    shared: Arc<Shared>,
}

impl LogStore {
    /// Opens (or creates) the log in `dir`. Blocking.
    pub fn open(dir: &Path) -> Result<LogStore> {
        std::fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
        let meta: Meta = match files::read_bounded(dir, META_FILE, MAX_META_BYTES)? {
            Some(bytes) => files::parse_json(dir, META_FILE, &bytes)?,
            None => Meta { version: META_VERSION, ..Meta::default() },
        };
        if meta.version != META_VERSION {
            return Err(CoreError::Corruption {
                path: dir.join(META_FILE),
                offset: 0,
                detail: format!("version {} is not supported (expected {META_VERSION})", meta.version),
            });
        }
        let path = dir.join(LOG_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| CoreError::io(&path, e))?;
        let Scanned { entries, offsets, len } = scan(&path, &file, meta.last_purged.map(|l| l.index))?;
        files::sync_dir(dir)?;
        Ok(LogStore {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                mem: Mutex::new(Mem { entries, vote: meta.vote, last_purged: meta.last_purged }),
                file: std::sync::Mutex::new(LogFile { file, offsets, len }),
            }),
        })
    }

    fn meta(&self) -> Meta {
        let mem = self.shared.mem.lock();
        Meta { version: META_VERSION, vote: mem.vote, last_purged: mem.last_purged }
    }

    /// Runs blocking file work off the async runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Shared) -> Result<T> + Send + 'static,
    ) -> std::result::Result<T, std::io::Error> {
        let shared = self.shared.clone();
        match tokio::task::spawn_blocking(move || f(&shared)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(std::io::Error::other(e.to_string())),
            Err(join) => Err(std::io::Error::other(format!("log I/O task failed: {join}"))),
        }
    }
}

/// Reads every record of the log file; see the module invariants for torn tails.
/// What [`scan`] found: the entries, each entry's byte position, and the valid length of the file.
struct Scanned {
    entries: BTreeMap<u64, Entry>,
    offsets: BTreeMap<u64, u64>,
    len: u64,
}

fn scan(path: &Path, file: &File, purged: Option<u64>) -> Result<Scanned> {
    let file_len = file.metadata().map_err(|e| CoreError::io(path, e))?.len();
    if file_len > MAX_LOG_BYTES {
        return Err(CoreError::Corruption {
            path: path.into(),
            offset: 0,
            detail: format!("{file_len} bytes exceeds {MAX_LOG_BYTES}"),
        });
    }
    let mut bytes = vec![0u8; file_len as usize];
    file.read_exact_at(&mut bytes, 0).map_err(|e| CoreError::io(path, e))?;
    let mut entries = BTreeMap::new();
    let mut offsets = BTreeMap::new();
    let mut pos = 0usize;
    let mut prev: Option<u64> = None;
    while pos < bytes.len() {
        match decode_record(&bytes[pos..]) {
            Ok((entry, used)) => {
                let index = entry.log_id.index;
                // Gaps are legal (entries before a gap were superseded by a snapshot); going back is not.
                if let Some(p) = prev
                    && index <= p
                {
                    return Err(CoreError::Corruption {
                        path: path.into(),
                        offset: pos as u64,
                        detail: format!("entry {index} follows entry {p}"),
                    });
                }
                prev = Some(index);
                if purged.is_none_or(|p| index > p) {
                    offsets.insert(index, pos as u64);
                    entries.insert(index, entry);
                }
                pos += used;
            }
            Err(detail) => {
                let rest = &bytes[pos..];
                let claimed = if rest.len() >= 4 {
                    u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize + RECORD_HEADER
                } else {
                    usize::MAX
                };
                let torn = claimed >= rest.len() || rest.iter().all(|b| *b == 0);
                if !torn {
                    return Err(CoreError::Corruption { path: path.into(), offset: pos as u64, detail });
                }
                tracing::warn!(
                    path = %path.display(),
                    at_byte = pos,
                    bytes_dropped = rest.len(),
                    "controller log: torn record at the tail cut off ({detail})"
                );
                file.set_len(pos as u64).map_err(|e| CoreError::io(path, e))?;
                file.sync_all().map_err(|e| CoreError::io(path, e))?;
                break;
            }
        }
    }
    Ok(Scanned { entries, offsets, len: pos as u64 })
}

fn decode_record(buf: &[u8]) -> std::result::Result<(Entry, usize), String> {
    if buf.len() < RECORD_HEADER {
        return Err(format!("{} bytes cannot hold a record header", buf.len()));
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if len == 0 || len > MAX_ENTRY_BYTES {
        return Err(format!("record length {len} outside 1..={MAX_ENTRY_BYTES}"));
    }
    let Some(body) = buf.get(RECORD_HEADER..RECORD_HEADER + len) else {
        return Err(format!("record of {len} bytes overruns the file"));
    };
    if crc32c::crc32c(body) != crc {
        return Err("record checksum mismatch".into());
    }
    let entry: Entry = serde_json::from_slice(body).map_err(|e| format!("record does not decode: {e}"))?;
    Ok((entry, RECORD_HEADER + len))
}

fn encode_record(out: &mut Vec<u8>, entry: &Entry) -> Result<()> {
    let body = serde_json::to_vec(entry).map_err(|e| CoreError::decode(format!("log entry: {e}")))?;
    if body.len() > MAX_ENTRY_BYTES {
        return Err(CoreError::TooLarge {
            field: "controller log entry".into(),
            actual: body.len(),
            limit: MAX_ENTRY_BYTES,
        });
    }
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(())
}

fn lock_file(shared: &Shared) -> std::sync::MutexGuard<'_, LogFile> {
    // A poisoned lock means a panic mid-write; the file state is re-derived from disk at the next
    // open, and the in-memory offsets are only advanced after a write succeeded, so reuse is safe.
    shared.file.lock().unwrap_or_else(|p| p.into_inner())
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> std::result::Result<Vec<Entry>, StorageError> {
        let mem = self.shared.mem.lock();
        Ok(mem.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> std::result::Result<LogState<TypeConfig>, StorageError> {
        let mem = self.shared.mem.lock();
        let last = mem.entries.values().next_back().map(|e| e.log_id).or(mem.last_purged);
        Ok(LogState { last_purged_log_id: mem.last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> std::result::Result<(), StorageError> {
        let mut meta = self.meta();
        meta.vote = Some(*vote);
        let result = self
            .blocking(move |s| {
                let bytes = files::to_json(&s.dir, META_FILE, &meta)?;
                files::write_atomic(&s.dir, META_FILE, &bytes)
            })
            .await;
        result.map_err(|e| StorageIOError::write_vote(&e))?;
        self.shared.mem.lock().vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> std::result::Result<Option<Vote>, StorageError> {
        Ok(self.shared.mem.lock().vote)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> std::result::Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let Some(first) = entries.first().map(|e| e.log_id.index) else {
            callback.log_io_completed(Ok(()));
            return Ok(());
        };
        let to_write = entries.clone();
        let result = self
            .blocking(move |s| {
                let mut buf = Vec::new();
                let mut starts = Vec::with_capacity(to_write.len());
                for e in &to_write {
                    starts.push((e.log_id.index, buf.len() as u64));
                    encode_record(&mut buf, e)?;
                }
                let path = s.dir.join(LOG_FILE);
                let mut lf = lock_file(s);
                // Entries at or after `first` are replaced (and so dropped first).
                if let Some(cut) = lf.offsets.range(first..).next().map(|(_, pos)| *pos) {
                    lf.file.set_len(cut).map_err(|e| CoreError::io(&path, e))?;
                    lf.offsets.split_off(&first);
                    lf.len = cut;
                }
                let base = lf.len;
                lf.file.write_all_at(&buf, base).map_err(|e| CoreError::io(&path, e))?;
                lf.file.sync_data().map_err(|e| CoreError::io(&path, e))?;
                for (index, start) in starts {
                    lf.offsets.insert(index, base + start);
                }
                lf.len = base + buf.len() as u64;
                Ok(())
            })
            .await;
        match result {
            Ok(()) => {
                {
                    let mut mem = self.shared.mem.lock();
                    mem.entries.split_off(&first);
                    for e in entries {
                        mem.entries.insert(e.log_id.index, e);
                    }
                }
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let storage = StorageIOError::write_logs(&e);
                callback.log_io_completed(Err(e));
                Err(storage.into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> std::result::Result<(), StorageError> {
        let index = log_id.index;
        self.blocking(move |s| {
            let path = s.dir.join(LOG_FILE);
            let mut lf = lock_file(s);
            let Some(&at) = lf.offsets.get(&index) else { return Ok(()) };
            lf.file.set_len(at).map_err(|e| CoreError::io(&path, e))?;
            lf.file.sync_data().map_err(|e| CoreError::io(&path, e))?;
            lf.offsets.split_off(&index);
            lf.len = at;
            Ok(())
        })
        .await
        .map_err(|e| StorageIOError::write_logs(&e))?;
        self.shared.mem.lock().entries.split_off(&index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> std::result::Result<(), StorageError> {
        // 1. Record the purge point durably (entries up to it are then ignored at open).
        let mut meta = self.meta();
        meta.last_purged = Some(log_id);
        let kept: Vec<Entry> = {
            let mem = self.shared.mem.lock();
            mem.entries.range(log_id.index + 1..).map(|(_, e)| e.clone()).collect()
        };
        self.blocking(move |s| {
            let bytes = files::to_json(&s.dir, META_FILE, &meta)?;
            files::write_atomic(&s.dir, META_FILE, &bytes)?;
            // 2. Rewrite the log without the purged prefix.
            let mut buf = Vec::new();
            let mut offsets = BTreeMap::new();
            for e in &kept {
                offsets.insert(e.log_id.index, buf.len() as u64);
                encode_record(&mut buf, e)?;
            }
            files::write_atomic(&s.dir, LOG_FILE, &buf)?;
            let path = s.dir.join(LOG_FILE);
            let file = OpenOptions::new().read(true).write(true).open(&path).map_err(|e| CoreError::io(&path, e))?;
            let mut lf = lock_file(s);
            *lf = LogFile { file, offsets, len: buf.len() as u64 };
            Ok(())
        })
        .await
        .map_err(|e| StorageIOError::write_logs(&e))?;
        let mut mem = self.shared.mem.lock();
        mem.last_purged = Some(log_id);
        let rest = mem.entries.split_off(&(log_id.index + 1));
        mem.entries = rest;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;
    use crate::cluster::state::Command;

    fn entry(term: u64, index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Normal(Command::LeaseRenewal { master_id: 1, epoch: index }),
        }
    }

    /// Appends through the storage API and waits for the flush callback.
    async fn append(store: &mut LogStore, entries: Vec<Entry>) {
        use openraft::storage::RaftLogStorageExt;
        store.blocking_append(entries).await.expect("append");
    }

    async fn indexes(store: &mut LogStore) -> Vec<u64> {
        store.try_get_log_entries(..).await.expect("read").iter().map(|e| e.log_id.index).collect()
    }

    #[tokio::test]
    async fn entries_vote_truncation_and_purge_survive_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = LogStore::open(dir.path()).expect("open");
        append(&mut store, (1..=5).map(|i| entry(1, i)).collect()).await;
        let vote = Vote::new_committed(2, 3);
        store.save_vote(&vote).await.expect("vote");
        store.truncate(LogId::new(CommittedLeaderId::new(1, 1), 4)).await.expect("truncate");
        append(&mut store, vec![entry(2, 4)]).await;
        drop(store);

        let mut store = LogStore::open(dir.path()).expect("reopen");
        assert_eq!(indexes(&mut store).await, vec![1, 2, 3, 4]);
        assert_eq!(store.read_vote().await.expect("vote"), Some(vote));
        let four = store.try_get_log_entries(4..5).await.expect("read");
        assert_eq!(four[0].log_id.leader_id.term, 2);

        store.purge(LogId::new(CommittedLeaderId::new(1, 1), 2)).await.expect("purge");
        assert_eq!(indexes(&mut store).await, vec![3, 4]);
        drop(store);
        let mut store = LogStore::open(dir.path()).expect("reopen");
        assert_eq!(indexes(&mut store).await, vec![3, 4]);
        let state = store.get_log_state().await.expect("state");
        assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(2));
        assert_eq!(state.last_log_id.map(|l| l.index), Some(4));
        append(&mut store, vec![entry(2, 5)]).await;
        assert_eq!(indexes(&mut store).await, vec![3, 4, 5]);
    }

    #[tokio::test]
    async fn torn_tail_is_cut_but_damage_before_the_tail_is_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = LogStore::open(dir.path()).expect("open");
        append(&mut store, (1..=3).map(|i| entry(1, i)).collect()).await;
        drop(store);
        let path = dir.path().join(LOG_FILE);
        let full = std::fs::read(&path).expect("read");
        // A crash in the middle of the last append: the last record is incomplete.
        std::fs::write(&path, &full[..full.len() - 5]).expect("write");
        let mut store = LogStore::open(dir.path()).expect("reopen");
        assert_eq!(indexes(&mut store).await, vec![1, 2]);
        drop(store);
        // A flipped byte inside the first record, with valid records after it: corruption.
        let mut bad = std::fs::read(&path).expect("read");
        bad[RECORD_HEADER + 2] ^= 0xff;
        std::fs::write(&path, &bad).expect("write");
        let err = LogStore::open(dir.path()).expect_err("corrupt");
        assert!(matches!(err, CoreError::Corruption { offset: 0, .. }), "{err}");
    }
}
