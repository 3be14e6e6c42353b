//! The segmented operation log and snapshot files (contract: `docs/dev/CONTRACTS.md`, "storage").
//!
//! - [`log`]: [`OpLog`], the write-ahead log and replication backlog (segments of CRC32C records,
//!   group commit, recovery that truncates a torn tail and refuses corruption before it).
//! - [`snapshot`]: chunked, checksummed, digested snapshot files, verified before use, and the
//!   chunk-by-chunk receiver used by full sync.
//! - Internals: `record` (record layout), `segment` (one segment file), `group_commit`
//!   (durability waiting, the `EveryMs` flusher), `fsutil` (fsync and atomic rename helpers).

use std::time::Duration;

pub(crate) mod fsutil;
mod group_commit;
pub mod log;
mod record;
mod segment;
pub mod snapshot;

pub use log::{LogConfig, OpLog, Record, RecoveryReport, RetentionReport, TruncatedTail};
pub use snapshot::{SnapshotChunk, SnapshotChunks, SnapshotManifest, SnapshotReceiver, SnapshotWriter};

/// When appended records are fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Before each write is acknowledged; concurrent writers share one fsync (group commit).
    Always,
    /// By a background flusher every N milliseconds; a crash may lose up to N ms of acknowledged writes.
    EveryMs(u64),
    /// Left to the operating system (fsync only on rotation, snapshot and shutdown).
    Os,
}

/// How much of the log is kept after a snapshot covers it (the replication backlog).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Covered segments are kept while their total size stays within this many bytes.
    pub max_bytes: u64,
    /// Covered segments older than this are deleted regardless of size.
    pub max_age: Duration,
}
