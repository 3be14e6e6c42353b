//! The segmented operation log and snapshot files.
//!
//! (Being built: see the contract in `docs/dev/CONTRACTS.md`, section "storage".)

use std::time::Duration;

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
