//! The operation log (`OpLog`): the node's write-ahead log and replication backlog.
//!
//! A directory of segment files `<first offset, 20 digits>.seg` (see `segment.rs`, records in
//! `record.rs`). Invariants:
//! - Offsets are assigned under the append lock (`state`), are contiguous across segments,
//!   start at `start_offset` for a fresh log and are never reused (after `truncate_after`, the
//!   removed offsets are assigned again only to the records that replace them, as a replica
//!   realigns with its master).
//! - There is always at least one segment; the last one is the active segment, the only one
//!   written. The directory holds exactly the segments in `state.segments`.
//! - A record is durable once `durable_offset() >= its offset`; see `group_commit.rs` for how
//!   the fsync policies advance that watermark. Rotation fsyncs the full segment and creates the
//!   next one durably (file + directory entry) before writing into it.
//! - Readers (`read_from`) plan under the append lock and read with positional reads outside it;
//!   operations that shrink the log (truncate, reset, retention) take `structure` exclusively, so
//!   no reader ever sees a file shrink under it.
//!
//! Lock order: `structure` -> `state` -> the group-commit mutex.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex, RwLock};

use super::fsutil::{self, FsyncCounter, io_err, read_at_most};
use super::group_commit::{FlusherStop, GroupCommit, Turn};
use super::record::{self, Fixed};
pub use super::record::{MAX_PAYLOAD_BYTES, MAX_RECORD_BYTES, Record};
pub use super::segment::TruncatedTail;
use super::segment::{AppendError, MAX_SEGMENT_FILE_BYTES, Segment};
use super::{FsyncPolicy, Retention};
use crate::error::{CoreError, Result};

/// Lock file in the log directory (see `lock_dir`).
const LOCK_FILE: &str = "LOCK";
/// Smallest accepted `segment_bytes` (tests use small segments to exercise rotation).
pub const MIN_SEGMENT_BYTES: u64 = 256;
/// Largest accepted `segment_bytes`; keeps every segment addressable by the `u32` index.
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;
const _: () = assert!(MAX_SEGMENT_BYTES + MAX_RECORD_BYTES as u64 <= MAX_SEGMENT_FILE_BYTES);

/// Where and how the log is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Directory of the segment files (created if missing).
    pub dir: PathBuf,
    /// A segment is closed once the next record would take it past this size.
    pub segment_bytes: u64,
    pub fsync: FsyncPolicy,
}

/// What `OpLog::open` found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments: usize,
    pub records: u64,
    /// Oldest stored offset (0 if the log is empty).
    pub first_offset: u64,
    /// Newest offset (`start_offset - 1`, or the offset before the empty active segment, if empty).
    pub last_offset: u64,
    /// Set when a torn tail was cut off the last segment.
    pub truncated_tail: Option<TruncatedTail>,
}

/// What `OpLog::apply_retention` deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionReport {
    pub segments_removed: usize,
    pub bytes_removed: u64,
    /// Oldest stored offset afterwards (0 if the log is empty).
    pub first_offset: u64,
}

/// The durable, segmented operation log. `Send + Sync`; share it by reference or `Arc`.
pub struct OpLog {
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    dir: PathBuf,
    segment_bytes: u64,
    policy: FsyncPolicy,
    /// Held shared by readers, exclusively by operations that remove bytes.
    structure: RwLock<()>,
    /// The append lock.
    state: Mutex<State>,
    /// Signalled (with `state`) whenever the last offset changes.
    appended: Condvar,
    /// The same signal for async waiters ([`OpLog::appended_after`]).
    appended_async: tokio::sync::Notify,
    /// Oldest stored offset, 0 when empty (mirrors `state` for lock-free reads).
    first: AtomicU64,
    /// Newest written offset (mirrors `state`).
    last: AtomicU64,
    commit: GroupCommit,
    fsyncs: FsyncCounter,
    stop: FlusherStop,
    /// Holds the exclusive lock on `dir/LOCK` for the life of the log.
    _lock: std::fs::File,
}

struct State {
    /// Never empty; the last one is active.
    segments: Vec<Segment>,
    /// Reused encoding buffer.
    encode_buf: Vec<u8>,
}

impl State {
    fn active(&self) -> &Segment {
        &self.segments[self.segments.len() - 1]
    }

    fn next_offset(&self) -> u64 {
        self.active().next_offset()
    }

    fn base(&self) -> u64 {
        self.segments[0].first_offset
    }
}

impl OpLog {
    /// Opens or creates the log, verifying every record's length, CRC32C and offset.
    ///
    /// A torn tail in the last segment is cut off (reported and logged with `tracing::warn!`);
    /// corruption anywhere before it is `CoreError::Corruption` naming the file and byte offset.
    /// `start_offset` (>= 1) is the first offset of a log that has no segment file yet; an
    /// existing log keeps its own offsets.
    pub fn open(cfg: LogConfig, start_offset: u64) -> Result<(OpLog, RecoveryReport)> {
        validate(&cfg, start_offset)?;
        fsutil::create_dir_durable(&cfg.dir)?;
        let lock = lock_dir(&cfg.dir)?;
        let fsyncs = FsyncCounter::default();
        let found = list_segment_files(&cfg.dir)?;
        let mut segments: Vec<Segment> = Vec::with_capacity(found.len().max(1));
        let mut truncated_tail = None;
        for (i, (first, path)) in found.iter().enumerate() {
            if *first == 0 {
                return Err(corruption(path, 0, "segment named for offset 0; log offsets start at 1"));
            }
            if let Some(prev) = segments.last() {
                if prev.count() == 0 {
                    return Err(corruption(&prev.path, 0, "empty segment before the last one"));
                }
                if *first != prev.next_offset() {
                    return Err(corruption(
                        path,
                        0,
                        &format!(
                            "segment starts at offset {first} but the previous segment ends at offset {}",
                            prev.next_offset() - 1
                        ),
                    ));
                }
            }
            let (segment, tail) = Segment::open_scan(path, *first, i + 1 == found.len(), &fsyncs)?;
            segments.push(segment);
            truncated_tail = tail;
        }
        if segments.is_empty() {
            segments.push(Segment::create(&cfg.dir, start_offset, &fsyncs)?);
        } else {
            // What recovery read may still sit only in the page cache (the previous process died,
            // the machine did not): make it durable before calling it durable.
            let active = &segments[segments.len() - 1];
            fsyncs.sync_data(&active.file, &active.path)?;
        }
        let state = State { segments, encode_buf: Vec::new() };
        let last = state.next_offset() - 1;
        let report = RecoveryReport {
            segments: state.segments.len(),
            records: state.segments.iter().map(Segment::count).sum(),
            first_offset: if state.next_offset() > state.base() { state.base() } else { 0 },
            last_offset: last,
            truncated_tail,
        };
        let shared = Arc::new(Shared {
            dir: cfg.dir,
            segment_bytes: cfg.segment_bytes,
            policy: cfg.fsync,
            structure: RwLock::new(()),
            state: Mutex::new(state),
            appended: Condvar::new(),
            appended_async: tokio::sync::Notify::new(),
            first: AtomicU64::new(report.first_offset),
            last: AtomicU64::new(last),
            commit: GroupCommit::new(last),
            fsyncs,
            stop: FlusherStop::default(),
            _lock: lock,
        });
        let flusher = match cfg.fsync {
            FsyncPolicy::EveryMs(ms) => Some(spawn_flusher(Arc::clone(&shared), Duration::from_millis(ms))?),
            FsyncPolicy::Always | FsyncPolicy::Os => None,
        };
        Ok((OpLog { shared, flusher: Mutex::new(flusher) }, report))
    }

    /// Assigns the next offset under the append lock and writes the record; returns the offset.
    /// Not durable until `wait_durable(offset)` returns.
    pub fn append(&self, epoch: u64, timestamp_ms: u64, payload: &[u8]) -> Result<u64> {
        check_payload(payload.len())?;
        self.shared.commit.check()?;
        let mut st = self.shared.state.lock();
        let offset = st.next_offset();
        self.shared.write_locked(&mut st, Fixed { epoch, offset, timestamp_ms }, payload)?;
        Ok(offset)
    }

    /// Appends a record produced elsewhere (replica side); its offset must be `last_offset() + 1`.
    pub fn append_record(&self, record: &Record) -> Result<()> {
        check_payload(record.payload.len())?;
        self.shared.commit.check()?;
        let mut st = self.shared.state.lock();
        let expected = st.next_offset();
        if record.offset != expected {
            return Err(CoreError::OffsetMismatch { expected, actual: record.offset });
        }
        let fixed = Fixed { epoch: record.epoch, offset: record.offset, timestamp_ms: record.timestamp_ms };
        self.shared.write_locked(&mut st, fixed, &record.payload)
    }

    /// Whether a record with a `payload_len`-byte payload goes into the active segment without
    /// closing it first (closing a segment fsyncs it). Holds only while nothing else appends.
    pub fn fits_active_segment(&self, payload_len: usize) -> bool {
        let st = self.shared.state.lock();
        let active = st.active();
        active.len == 0 || active.len + record::encoded_len(payload_len) as u64 <= self.shared.segment_bytes
    }

    /// Blocks until `offset` is durable per the policy. `Always`: group commit (one fsync serves
    /// every writer waiting at that moment). `EveryMs`/`Os`: returns at once. Fails if `offset`
    /// was never appended or the log is poisoned by a failed fsync.
    pub fn wait_durable(&self, offset: u64) -> Result<()> {
        match self.shared.policy {
            FsyncPolicy::Always => self.shared.wait_durable(offset),
            FsyncPolicy::EveryMs(_) | FsyncPolicy::Os => {
                self.shared.commit.check()?;
                let last = self.last_offset();
                if offset > last {
                    return Err(CoreError::invalid(
                        "offset",
                        format!("offset {offset} is not in the log (last written offset is {last})"),
                    ));
                }
                Ok(())
            }
        }
    }

    /// The async twin of [`OpLog::wait_durable`]: the same group commit, but a task that waits for
    /// another writer's fsync holds no thread. Only the task that leads an fsync runs it on the
    /// blocking pool; the fsync completes (and releases its waiters) even if that task is dropped.
    pub async fn wait_durable_async(&self, offset: u64) -> Result<()> {
        if self.shared.policy != FsyncPolicy::Always {
            return self.wait_durable(offset);
        }
        let commit = &self.shared.commit;
        loop {
            // Registered before the state is read, so a change in between still wakes it.
            let changed = commit.changed();
            match commit.turn(offset, &|| self.shared.last.load(Ordering::Acquire))? {
                Turn::Durable => return Ok(()),
                Turn::Wait => changed.await,
                Turn::Lead { generation } => {
                    let shared = Arc::clone(&self.shared);
                    let led = tokio::task::spawn_blocking(move || {
                        let result = shared.sync_written();
                        shared.commit.finish_lead(generation, result)
                    });
                    match led.await {
                        Ok(result) => result?,
                        // The runtime is shutting down and dropped the closure unrun: lead here.
                        Err(join) if join.is_cancelled() => {
                            commit.finish_lead(generation, self.shared.sync_written())?
                        }
                        // It panicked: the fsync's outcome is unknown, so the log is unusable.
                        Err(join) => {
                            let reason = format!("the fsync of the operation log did not complete: {join}");
                            commit.poison(reason.clone());
                            return Err(CoreError::Unavailable { reason });
                        }
                    }
                }
            }
        }
    }

    /// Whether [`OpLog::wait_durable`] would return `Ok` for `offset` without blocking: the
    /// offset is written, the log is not poisoned, and (`Always`) an fsync already covered it.
    pub fn is_durable(&self, offset: u64) -> bool {
        if self.shared.commit.check().is_err() || offset > self.last_offset() {
            return false;
        }
        match self.shared.policy {
            FsyncPolicy::Always => self.shared.commit.durable() >= offset,
            FsyncPolicy::EveryMs(_) | FsyncPolicy::Os => true,
        }
    }

    /// fsyncs everything appended so far, whatever the policy (shutdown, snapshot).
    pub fn sync(&self) -> Result<()> {
        self.shared.wait_durable(self.last_offset())
    }

    /// Oldest offset still stored (0 if the log is empty).
    pub fn first_offset(&self) -> u64 {
        self.shared.first.load(Ordering::Acquire)
    }

    /// Newest offset (`start_offset - 1` if nothing was ever appended).
    pub fn last_offset(&self) -> u64 {
        self.shared.last.load(Ordering::Acquire)
    }

    /// Newest offset known to be on stable storage.
    pub fn durable_offset(&self) -> u64 {
        self.shared.commit.durable()
    }

    /// fsync/fdatasync calls issued on segment files and the log directory since `open`.
    pub fn fsync_count(&self) -> u64 {
        self.shared.fsyncs.get()
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Records with offset >= `from`, in order, up to about `max_bytes` of encoded records
    /// (always at least one if any exists). `from` older than the oldest stored offset ->
    /// `CoreError::OffsetCompacted`; `from` past the end -> empty.
    pub fn read_from(&self, from: u64, max_bytes: usize) -> Result<Vec<Record>> {
        self.shared.commit.check()?;
        let _readers = self.shared.structure.read();
        let plan = {
            let st = self.shared.state.lock();
            let first = st.base();
            if from < first {
                return Err(CoreError::OffsetCompacted { requested: from, first });
            }
            if from >= st.next_offset() {
                return Ok(Vec::new());
            }
            let start = st.segments.partition_point(|s| s.first_offset <= from) - 1;
            let mut budget = max_bytes as u64;
            let mut cursor = from;
            let mut plan = Vec::new();
            for seg in &st.segments[start..] {
                let Some(span) = seg.span_from(cursor, budget, plan.is_empty()) else {
                    break;
                };
                budget = budget.saturating_sub(span.end - span.start);
                cursor += span.count;
                plan.push((Arc::clone(&seg.file), seg.path.clone(), span));
                if cursor < seg.next_offset() {
                    break;
                }
            }
            plan
        };
        let mut records = Vec::new();
        for (file, path, span) in plan {
            // Bounded by max_bytes, or by one record (MAX_RECORD_BYTES) when a single record is larger.
            let mut buf = vec![0u8; (span.end - span.start) as usize];
            let got = read_at_most(&file, &path, &mut buf, span.start)?;
            if got < buf.len() {
                return Err(corruption(&path, span.start + got as u64, "segment file shorter than its index"));
            }
            let buf = Bytes::from(buf);
            let mut pos = 0;
            for i in 0..span.count {
                let at = span.start + pos as u64;
                let (rec, end) = record::decode_at(&buf, pos).map_err(|bad| corruption(&path, at, &bad.to_string()))?;
                if rec.offset != span.first_offset + i {
                    return Err(corruption(
                        &path,
                        at,
                        &format!("expected record {}, found {}", span.first_offset + i, rec.offset),
                    ));
                }
                records.push(rec);
                pos = end;
            }
        }
        Ok(records)
    }

    /// Bytes on disk of the stored records with offset > `offset` (every stored record when
    /// `offset` precedes the oldest one, 0 when it is at or past the last one). Computed from the
    /// segments' in-memory indexes under the append lock: no I/O, cost proportional to the number
    /// of segments after `offset` (the master checks each replica's backlog with it every tick).
    pub fn bytes_after(&self, offset: u64) -> u64 {
        let st = self.shared.state.lock();
        let mut total = 0;
        for seg in st.segments.iter().rev() {
            total += seg.bytes_after(offset);
            if seg.first_offset <= offset {
                break;
            }
        }
        total
    }

    /// Removes every record with offset > `offset`; returns how many were removed (divergence
    /// handling on a replica). `offset` may be `first_offset - 1` (removes everything); older
    /// offsets are `CoreError::OffsetCompacted`. The cut is durable on return.
    pub fn truncate_after(&self, offset: u64) -> Result<u64> {
        let shared = &self.shared;
        shared.commit.check()?;
        let _exclusive = shared.structure.write();
        let mut st = shared.state.lock();
        let last = st.next_offset() - 1;
        if offset >= last {
            return Ok(0);
        }
        let first = st.base();
        if offset + 1 < first {
            return Err(CoreError::OffsetCompacted { requested: offset + 1, first });
        }
        shared.commit.rewind(offset);
        let result = shared.truncate_locked(&mut st, offset);
        shared.publish(&st);
        shared.signal_appended();
        result.map(|()| last - offset)
    }

    /// Drops the whole log and restarts it empty so the next append gets `next_offset` (a replica
    /// after a full sync). Durable on return. After a crash during a reset the directory holds a
    /// prefix of the old log or nothing; callers re-derive the position from their snapshot.
    pub fn reset(&self, next_offset: u64) -> Result<()> {
        if next_offset == 0 {
            return Err(CoreError::invalid("next_offset", "log offsets start at 1"));
        }
        let shared = &self.shared;
        shared.commit.check()?;
        let _exclusive = shared.structure.write();
        let mut st = shared.state.lock();
        shared.commit.restart_at(next_offset - 1);
        // The in-memory segments are replaced only once the new one exists, so the state is never
        // without a segment even when this fails (the log is then poisoned).
        let created = st
            .segments
            .iter()
            .rev()
            .try_for_each(|seg| fsutil::remove_file_if_exists(&seg.path))
            .and_then(|()| shared.fsyncs.sync_dir(&shared.dir))
            .and_then(|()| Segment::create(&shared.dir, next_offset, &shared.fsyncs));
        match created {
            Ok(seg) => st.segments = vec![seg],
            Err(e) => {
                shared.commit.poison(format!("reset of the operation log failed: {e}"));
                return Err(e);
            }
        }
        shared.publish(&st);
        shared.signal_appended();
        Ok(())
    }

    /// Deletes whole segments all of whose records have offset <= `covered` and that fall outside
    /// `retention`: walking the covered segments from the newest, they are kept while their total
    /// size <= `max_bytes` and the age of their newest record <= `max_age`; the first one that
    /// breaks a rule and every older one are deleted. The active segment is never deleted.
    pub fn apply_retention(&self, covered: u64, retention: &Retention) -> Result<RetentionReport> {
        self.apply_retention_at(covered, retention, now_ms())
    }

    /// [`apply_retention`](Self::apply_retention) with an explicit clock (ms since the Unix epoch).
    pub fn apply_retention_at(&self, covered: u64, retention: &Retention, now_ms: u64) -> Result<RetentionReport> {
        let shared = &self.shared;
        shared.commit.check()?;
        let _exclusive = shared.structure.write();
        let mut st = shared.state.lock();
        let closed = st.segments.len() - 1;
        let covered_count =
            st.segments[..closed].iter().take_while(|s| s.last_offset().is_some_and(|last| last <= covered)).count();
        let max_age_ms = u64::try_from(retention.max_age.as_millis()).unwrap_or(u64::MAX);
        let mut delete = covered_count;
        let mut kept_bytes = 0u64;
        for seg in st.segments[..covered_count].iter().rev() {
            kept_bytes += seg.len;
            if kept_bytes > retention.max_bytes || now_ms.saturating_sub(seg.last_timestamp_ms) > max_age_ms {
                break;
            }
            delete -= 1;
        }
        let mut report = RetentionReport { segments_removed: 0, bytes_removed: 0, first_offset: 0 };
        let mut result = Ok(());
        // Oldest first, so a crash part-way leaves a contiguous log.
        for _ in 0..delete {
            let seg = &st.segments[0];
            if let Err(e) = std::fs::remove_file(&seg.path) {
                result = Err(CoreError::io(&seg.path, e));
                break;
            }
            report.segments_removed += 1;
            report.bytes_removed += seg.len;
            st.segments.remove(0);
        }
        if report.segments_removed > 0 {
            result = result.and(shared.fsyncs.sync_dir(&shared.dir));
        }
        shared.publish(&st);
        report.first_offset = shared.first.load(Ordering::Acquire);
        result.map(|()| report)
    }

    /// Blocks until `last_offset() > after` or `timeout` passes; returns `last_offset()`.
    /// For replication senders.
    pub fn wait_for_append(&self, after: u64, timeout: Duration) -> u64 {
        let shared = &self.shared;
        let deadline = Instant::now().checked_add(timeout);
        let mut st = shared.state.lock();
        while shared.last.load(Ordering::Acquire) <= after {
            match deadline {
                Some(deadline) => {
                    if shared.appended.wait_until(&mut st, deadline).timed_out() {
                        break;
                    }
                }
                None => shared.appended.wait(&mut st),
            }
        }
        shared.last.load(Ordering::Acquire)
    }

    /// Resolves once `last_offset() > after` (at once if it already is) and returns it: the async
    /// twin of [`OpLog::wait_for_append`], woken by the same appends. Cancel-safe; wrap it in a
    /// timeout to bound the wait.
    pub async fn appended_after(&self, after: u64) -> u64 {
        loop {
            let mut notified = std::pin::pin!(self.shared.appended_async.notified());
            // Registered before the check, so an append between the check and the await wakes it.
            notified.as_mut().enable();
            let last = self.last_offset();
            if last > after {
                return last;
            }
            notified.await;
        }
    }
}

impl Shared {
    /// Wakes every waiter for a change of the last offset, blocking and async.
    fn signal_appended(&self) {
        self.appended.notify_all();
        self.appended_async.notify_waiters();
    }

    /// Encodes and writes one record into the active segment (rotating first if it is full).
    fn write_locked(&self, st: &mut State, fixed: Fixed, payload: &[u8]) -> Result<()> {
        let record_len = record::encoded_len(payload.len()) as u64;
        let active = st.active();
        if active.len > 0 && active.len + record_len > self.segment_bytes {
            self.rotate_locked(st)?;
        }
        let State { segments, encode_buf } = st;
        encode_buf.clear();
        record::encode_into(encode_buf, fixed.epoch, fixed.offset, fixed.timestamp_ms, payload);
        let last = segments.len() - 1;
        match segments[last].append(encode_buf, fixed) {
            Ok(()) => {}
            Err(AppendError::NotWritten(e)) => return Err(e),
            Err(AppendError::TailUnknown { write, cut }) => {
                self.commit.poison(format!("append failed ({write}) and the file could not be cut back ({cut})"));
                return Err(write);
            }
        }
        // Shrink a buffer that grew for one huge record, so an idle log does not pin 64 MiB.
        if encode_buf.capacity() > 4 << 20 {
            *encode_buf = Vec::new();
        }
        if self.first.load(Ordering::Relaxed) == 0 {
            self.first.store(st.base(), Ordering::Release);
        }
        self.last.store(fixed.offset, Ordering::Release);
        self.signal_appended();
        Ok(())
    }

    /// Closes the active segment (fsynced) and starts the next one (file and directory entry
    /// fsynced) before anything is written to it. Any failure poisons the log.
    fn rotate_locked(&self, st: &mut State) -> Result<()> {
        let active = st.active();
        let last = active.next_offset() - 1;
        let next = active.next_offset();
        let result = self
            .fsyncs
            .sync_data(&active.file, &active.path)
            .inspect(|()| self.commit.advance(last))
            .and_then(|()| Segment::create(&self.dir, next, &self.fsyncs));
        match result {
            Ok(segment) => {
                st.segments.push(segment);
                Ok(())
            }
            Err(e) => {
                self.commit.poison(format!("segment rotation failed: {e}"));
                Err(e)
            }
        }
    }

    /// Body of `truncate_after` once the arguments are checked (both locks held).
    fn truncate_locked(&self, st: &mut State, offset: u64) -> Result<()> {
        let mut removed_files = false;
        // Newest first, so a crash part-way leaves a contiguous log.
        while st.segments.len() > 1 && st.active().first_offset > offset {
            let path = st.active().path.clone();
            if let Err(e) = fsutil::remove_file_if_exists(&path) {
                self.commit.poison(format!("truncate of the operation log failed: {e}"));
                return Err(e);
            }
            st.segments.pop();
            removed_files = true;
        }
        let last = st.segments.len() - 1;
        let active = &mut st.segments[last];
        let keep = offset + 1 - active.first_offset;
        let result = active
            .truncate_records(keep, &self.fsyncs)
            .and_then(|()| if removed_files { self.fsyncs.sync_dir(&self.dir) } else { Ok(()) });
        if let Err(e) = &result {
            self.commit.poison(format!("truncate of the operation log failed: {e}"));
        }
        result
    }

    /// Group-commit wait (used by `Always` and by `sync`).
    fn wait_durable(&self, offset: u64) -> Result<()> {
        self.commit.wait_durable(offset, &|| self.last.load(Ordering::Acquire), &|| self.sync_written())
    }

    /// fdatasyncs the active segment; returns the newest offset written before the sync started.
    /// Older segments were fsynced when they were closed.
    fn sync_written(&self) -> Result<u64> {
        let (target, file, path) = {
            let st = self.state.lock();
            let active = st.active();
            (st.next_offset() - 1, Arc::clone(&active.file), active.path.clone())
        };
        self.fsyncs.sync_data(&file, &path)?;
        Ok(target)
    }

    /// Mirrors the state's first/last offsets into the atomics.
    fn publish(&self, st: &State) {
        let next = st.next_offset();
        let first = if next > st.base() { st.base() } else { 0 };
        self.first.store(first, Ordering::Release);
        self.last.store(next - 1, Ordering::Release);
    }
}

impl Drop for OpLog {
    /// Stops the flusher and fsyncs what was appended (best effort; failures are logged).
    fn drop(&mut self) {
        self.shared.stop.stop();
        if let Some(handle) = self.flusher.lock().take()
            && handle.join().is_err()
        {
            tracing::error!(dir = %self.shared.dir.display(), "operation log flusher thread panicked");
        }
        if self.shared.commit.check().is_ok()
            && let Err(e) = self.sync()
        {
            tracing::error!(dir = %self.shared.dir.display(), error = %e, "operation log: final sync failed");
        }
    }
}

impl std::fmt::Debug for OpLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpLog")
            .field("dir", &self.shared.dir)
            .field("policy", &self.shared.policy)
            .field("first_offset", &self.first_offset())
            .field("last_offset", &self.last_offset())
            .field("durable_offset", &self.durable_offset())
            .finish()
    }
}

/// The `EveryMs` flusher: every period, fsyncs if anything was appended since the last fsync.
fn spawn_flusher(shared: Arc<Shared>, period: Duration) -> Result<JoinHandle<()>> {
    let dir = shared.dir.clone();
    std::thread::Builder::new()
        .name("oplog-flusher".to_owned())
        .spawn(move || {
            while shared.stop.sleep(period) {
                let last = shared.last.load(Ordering::Acquire);
                if last <= shared.commit.durable() {
                    continue;
                }
                if let Err(e) = shared.wait_durable(last) {
                    if shared.commit.check().is_err() {
                        return; // poisoned: logged by GroupCommit::poison
                    }
                    // A truncate raced with us (offset no longer in the log); retry next period.
                    tracing::debug!(error = %e, "operation log flusher: sync skipped");
                }
            }
        })
        .map_err(io_err(&dir))
}

fn validate(cfg: &LogConfig, start_offset: u64) -> Result<()> {
    if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&cfg.segment_bytes) {
        return Err(CoreError::invalid(
            "segment_bytes",
            format!("{} is outside [{MIN_SEGMENT_BYTES}, {MAX_SEGMENT_BYTES}]", cfg.segment_bytes),
        ));
    }
    if cfg.fsync == FsyncPolicy::EveryMs(0) {
        return Err(CoreError::invalid("fsync", "every_ms needs a period of at least 1 ms"));
    }
    if start_offset == 0 {
        return Err(CoreError::invalid("start_offset", "log offsets start at 1"));
    }
    Ok(())
}

fn check_payload(len: usize) -> Result<()> {
    if len > MAX_PAYLOAD_BYTES {
        return Err(CoreError::TooLarge { field: "payload".to_owned(), actual: len, limit: MAX_PAYLOAD_BYTES });
    }
    Ok(())
}

/// Takes an exclusive advisory lock on `dir/LOCK` so two logs (in this process or another) never
/// write the same directory.
fn lock_dir(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join(LOCK_FILE);
    let file =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io_err(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(CoreError::Unavailable { reason: format!("the operation log in {} is already open", dir.display()) })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(CoreError::io(&path, e)),
    }
}

/// Segment files of `dir`, sorted by first offset. Other files are ignored.
fn list_segment_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        if let Some(first) = name.to_str().and_then(Segment::parse_file_name) {
            found.push((first, entry.path()));
        }
    }
    found.sort_unstable_by_key(|(first, _)| *first);
    Ok(found)
}

fn corruption(path: &Path, offset: u64, detail: &str) -> CoreError {
    CoreError::Corruption { path: path.to_path_buf(), offset, detail: detail.to_owned() }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
