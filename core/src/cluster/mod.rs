//! Cluster controller: automatic failover on an embedded Raft group (openraft 0.9), with fencing
//! by master leases.
//!
//! The configured nodes form the controller's voter set. Its replicated state is tiny — epoch,
//! master id, a "fenced" flag and the last failover — and every command is a compare-and-set on the
//! epoch ([`state`]). The controller leader watches the master's lease renewals; after
//! `failover_timeout` without one (automatic mode) it fences the master, waits until the master's
//! lease has run out, and appoints the reachable replica with priority > 0 and the highest
//! (epoch, applied offset), ties by priority. Every node obeys the committed state through
//! [`NodeHooks`]. A master accepts writes only while [`Controller::may_accept_writes`].
//!
//! # Contract (the server codes against this)
//!
//! ```ignore
//! pub struct ClusterConfig { node_id, failover: FailoverMode /* Auto | Manual */, failover_timeout,
//!     nodes: Vec<ClusterNode { id, http, repl, raft, priority /* 0 = never promoted */ }>,
//!     auth_secret: Option<String>, lease /* 3 s */, max_clock_drift /* 0.1 */,
//!     raft_heartbeat /* 150 ms */, election_min /* 1 s */, election_max /* 2 s */ }
//! impl ClusterConfig { pub fn new(node_id, nodes) -> Self /* defaults */; pub fn validate(&self) -> Result<()>; }
//!
//! pub trait NodeHooks: Send + Sync + 'static {
//!     fn position(&self) -> NodePosition;                                   // {epoch, applied_offset, is_master}; cheap, non-blocking
//!     fn become_master(&self, epoch: u64) -> BoxFuture<'static, Result<()>>; // promote with exactly this epoch
//!     fn follow(&self, master_repl_addr: String, master_http: String, epoch: u64) -> BoxFuture<'static, Result<()>>;
//! }
//!
//! impl Controller {   // Send + Sync
//!     pub async fn start(config: ClusterConfig, data_dir: &Path, hooks: Arc<dyn NodeHooks>) -> Result<Arc<Controller>>;
//!     pub fn view(&self) -> vectorizer_sdk_types::ClusterView;
//!     pub fn may_accept_writes(&self) -> bool;
//!     pub async fn propose_master(&self, node_id: u64) -> Result<()>;      // operator promote path (both modes)
//!     pub async fn report_discarded(&self, epoch: u64, ops: u64) -> Result<()>; // rejoined old master
//!     pub fn initialized_here(&self) -> bool;
//!     pub async fn shutdown(&self);
//! }
//! ```
//!
//! Semantics the integrator relies on:
//! - `start` validates the config (errors name the key, e.g. `cluster.nodes: failover = "auto"
//!   needs at least 3 nodes (a majority must survive one failure), got 2`), opens
//!   `<data_dir>/cluster/` (vote, log, snapshot), binds this node's `raft` address and returns;
//!   forming the group, electing a leader and recording the first master happen in the background.
//! - Bootstrapping ([`bootstrap`]): only the lowest id initializes, only if its Raft state is
//!   pristine, no reachable member is initialized and a majority answered pristine. Never on
//!   restart; a node with a wiped data dir rejoins and catches up.
//! - The first master recorded is the node that reports `is_master` (at its own epoch: no second
//!   promotion); with none, automatic mode picks the best node by the rule above at epoch + 1, and
//!   manual mode waits for `propose_master`.
//! - Hooks: called when the committed (epoch, master) changes and a controller leader is known;
//!   retried every 500 ms on error; each call bounded by `failover_timeout`. They must be
//!   idempotent and must refuse an epoch below the node's current one ([`hooks`]).
//! - `may_accept_writes()` is true only on the committed master, for the committed epoch, while the
//!   lease (renewed every `lease / 3`, counted from the renewal's send time on the monotonic clock)
//!   is valid. A master cut off from a controller majority turns false within `lease`.
//! - An appointment (automatic or `propose_master`) fences the current master and waits
//!   `lease * (1 + max_clock_drift) + 2 * raft_heartbeat` after the last renewal it saw applied (or
//!   after becoming leader) before committing the new master. A planned switchover therefore
//!   pauses writes for about that long.
//! - `view()` never blocks on the network: member health and positions come from probes every
//!   `max(3 * raft_heartbeat, 200 ms)`.
//! - Failure detection counts from when the current leader was elected at the earliest, so when
//!   the master and the controller leader fail together the failover takes election time +
//!   `failover_timeout`.
//!
//! Limits:
//! - The voter set is `cluster.nodes` at bootstrap; adding or removing nodes later is not supported
//!   (it needs a Raft membership change).
//! - openraft 0.9 followers wait `election_max` (its leader lease) plus a random election timeout
//!   before campaigning, so electing a new controller leader takes 1.5-2x the election timeout.
//!   While no leader exists the master cannot renew; with `lease` shorter than that, a crash of the
//!   controller leader pauses the master's writes briefly (measured: ~1.3 s with 0.5-1 s elections
//!   and a 0.6 s lease). A lease of at least `3 * election_max` (renewals every `lease / 3` leave
//!   `2/3 * lease` to cover the `2 * election_max` without a leader) avoids the pause.
//! - An appointment interrupted by a leader change leaves the state fenced (no writes): automatic
//!   mode completes it; in manual mode the operator repeats `propose_master`.
//!
//! | file | job |
//! |---|---|
//! | `config` | [`ClusterConfig`] and its validation |
//! | `hooks` | [`NodeHooks`], [`NodePosition`] |
//! | `state` | replicated state and commands (pure CAS logic) |
//! | `raft_types` | openraft type configuration |
//! | `files` | atomic, fsynced small files |
//! | `log_store` | Raft log + vote on disk |
//! | `state_machine` | Raft state machine + snapshots, the applied state |
//! | `auth`, `wire`, `transport` | authenticated framed RPC between nodes |
//! | `network`, `server` | openraft's network client and our listener |
//! | `probe` | member health and positions |
//! | `bootstrap` | forming the group exactly once |
//! | `leader` | first master, failure detection, appointment |
//! | `lease` | master lease renewal and check |
//! | `reconcile` | calling the hooks for the committed state |
//! | `view` | the `GET /api/v1/cluster` document |
//! | `controller` | [`Controller`]: start, tasks, RPC handler, shutdown |

pub mod auth;
mod bootstrap;
pub mod config;
mod controller;
pub mod files;
pub mod hooks;
mod leader;
mod lease;
pub mod log_store;
pub mod network;
mod probe;
pub mod raft_types;
mod reconcile;
mod server;
pub mod state;
pub mod state_machine;
pub mod transport;
mod view;
pub mod wire;

#[cfg(test)]
mod tests;

pub use config::{ClusterConfig, ClusterNode, FailoverMode};
pub use controller::Controller;
pub use futures::future::BoxFuture;
pub use hooks::{NodeHooks, NodePosition};
