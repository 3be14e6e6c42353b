//! What the controller needs from the local node ([`NodeHooks`]).
//!
//! Invariant the implementor keeps: the hooks are idempotent and never move the node backwards —
//! `become_master(e)` / `follow(.., e)` with an epoch lower than the node's current epoch is
//! refused with an error (a node whose controller state is momentarily stale after a restart must
//! not regress), and repeating the call the node already obeys is a cheap no-op.

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Where the local node stands in the replicated data path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NodePosition {
    /// Replication epoch the node is at (master: the epoch it serves; replica: its master's).
    pub epoch: u64,
    /// Log offset of the last operation applied locally (durable).
    pub applied_offset: u64,
    /// Whether the node currently acts as master.
    pub is_master: bool,
}

/// What the controller needs from the local node. The replication runtime implements it; tests
/// use fakes.
pub trait NodeHooks: Send + Sync + 'static {
    /// Current position; must be cheap and must not block (it is called from async tasks and from
    /// the controller's RPC handler).
    fn position(&self) -> NodePosition;

    /// Promote this node to master with exactly this epoch. No-op if it already is master at this
    /// epoch; error if `epoch` is below its current epoch.
    fn become_master(&self, epoch: u64) -> BoxFuture<'static, Result<()>>;

    /// Become (or stay) a replica of the master at `master_repl_addr` (`master_http` is for
    /// redirects) serving `epoch`: re-point, truncate what diverged, partially resync. No-op if
    /// already following that master at that epoch; error if `epoch` is below the current one.
    fn follow(&self, master_repl_addr: String, master_http: String, epoch: u64) -> BoxFuture<'static, Result<()>>;
}
