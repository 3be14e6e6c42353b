//! The [`Controller`]: starts the Raft group and the background duties, answers peers' RPCs, and
//! exposes the contract the server codes against (view, write permission, proposals).
//!
//! Invariant: every background task observes the shutdown signal or is aborted by
//! [`Controller::shutdown`], after which the listener is closed, Raft is stopped and
//! [`Controller::may_accept_writes`] is false for good.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use openraft::error::{ClientWriteError, RaftError};
use openraft::{ServerState, SnapshotPolicy};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use vectorizer_sdk_types::ClusterView;

use crate::cluster::config::{ClusterConfig, FailoverMode};
use crate::cluster::hooks::NodeHooks;
use crate::cluster::lease::Lease;
use crate::cluster::log_store::LogStore;
use crate::cluster::network::NetworkFactory;
use crate::cluster::probe::Observation;
use crate::cluster::raft_types::{NodeId, Raft};
use crate::cluster::server::Handler;
use crate::cluster::state::{AppointKind, Command, Outcome};
use crate::cluster::state_machine::{Applied, StateMachine};
use crate::cluster::transport::Transport;
use crate::cluster::wire::{ProbeReply, RemoteFailure, Request, Response};
use crate::cluster::{bootstrap, leader, lease, probe, reconcile, server, view};
use crate::error::{CoreError, Result};

/// What the node last learnt from its Raft metrics (copied out; no metrics borrow is ever held).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RaftFacts {
    pub term: u64,
    pub leader: Option<NodeId>,
    pub state: ServerState,
}

/// State shared by the controller's tasks.
pub(crate) struct Inner {
    pub config: ClusterConfig,
    pub me: NodeId,
    pub raft: Raft,
    pub hooks: Arc<dyn NodeHooks>,
    pub transport: Arc<Transport>,
    pub applied: Arc<Applied>,
    pub facts: Mutex<RaftFacts>,
    /// When this node last became controller leader (None while it is not leader).
    pub leader_since: Mutex<Option<Instant>>,
    pub observations: Mutex<BTreeMap<NodeId, Observation>>,
    pub lease: Mutex<Option<Lease>>,
    pub shutdown: watch::Sender<bool>,
    pub initialized_here: AtomicBool,
    /// Held for the whole of an appointment, so that an operator's promotion and an automatic
    /// failover never interleave.
    pub appointing: tokio::sync::Mutex<()>,
}

impl Inner {
    pub fn facts(&self) -> RaftFacts {
        *self.facts.lock()
    }

    pub fn is_shut_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Sleeps for `d`; false if shutdown was signalled meanwhile.
    pub async fn sleep(&self, d: Duration) -> bool {
        let mut rx = self.shutdown.subscribe();
        if *rx.borrow_and_update() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => !self.is_shut_down(),
            _ = rx.changed() => false,
        }
    }

    /// Commits `cmd` through the local Raft, which must be the leader.
    pub async fn propose_local(&self, cmd: Command, deadline: Duration) -> std::result::Result<Outcome, RemoteFailure> {
        match tokio::time::timeout(deadline, self.raft.client_write(cmd)).await {
            Err(_) => Err(RemoteFailure::Failed {
                message: format!("not committed within {} ms (no controller majority?)", deadline.as_millis()),
            }),
            Ok(Ok(resp)) => Ok(resp.data),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                Err(RemoteFailure::NotLeader { leader: f.leader_id })
            }
            Ok(Err(e)) => Err(RemoteFailure::Failed { message: e.to_string() }),
        }
    }

    /// Commits `cmd` through the controller leader, wherever it is.
    pub async fn propose(&self, cmd: Command, deadline: Duration) -> Result<Outcome> {
        self.route(Request::Propose(cmd), deadline).await
    }

    /// Sends a `Propose` or `Appoint` request to the controller leader (handled locally if this
    /// node is the leader), following redirects and waiting out leader changes until `deadline`.
    pub async fn route(&self, req: Request, deadline: Duration) -> Result<Outcome> {
        let started = Instant::now();
        let mut hint: Option<NodeId> = None;
        let mut last_problem = String::from("no controller leader is known (no majority reachable?)");
        loop {
            let left = deadline.saturating_sub(started.elapsed());
            if left.is_zero() || self.is_shut_down() {
                return Err(CoreError::Unavailable { reason: format!("controller: {last_problem}") });
            }
            let Some(target) = hint.take().or(self.facts().leader) else {
                self.sleep(self.config.raft_heartbeat.min(left)).await;
                continue;
            };
            let result = if target == self.me {
                self.handle_leader_request(req.clone(), left).await
            } else {
                match self.transport.call_once(target, &req, left).await {
                    Ok(Response::Propose(r) | Response::Appoint(r)) => r,
                    Ok(other) => {
                        return Err(CoreError::ProtocolViolation {
                            peer: format!("controller node {target}"),
                            detail: format!("unexpected answer to {}: {other:?}", req.name()),
                        });
                    }
                    Err(e) => {
                        // The leader may have just changed: look again after a heartbeat.
                        last_problem = e.to_string();
                        self.sleep(self.config.raft_heartbeat.min(left)).await;
                        continue;
                    }
                }
            };
            match result {
                Ok(outcome) => return Ok(outcome),
                Err(RemoteFailure::NotLeader { leader }) => {
                    last_problem = format!("node {target} is not the controller leader");
                    if leader.is_some() && leader != Some(target) {
                        hint = leader;
                    } else {
                        self.sleep(self.config.raft_heartbeat.min(left)).await;
                    }
                }
                Err(RemoteFailure::Failed { message }) => {
                    return Err(CoreError::Unavailable { reason: format!("controller: {message}") });
                }
            }
        }
    }

    /// Runs a proposal that must execute on the leader.
    async fn handle_leader_request(
        &self,
        req: Request,
        deadline: Duration,
    ) -> std::result::Result<Outcome, RemoteFailure> {
        match req {
            Request::Propose(cmd) => self.propose_local(cmd, deadline).await,
            Request::Appoint { master_id, reason } => {
                match tokio::time::timeout(
                    deadline,
                    leader::appoint(self, Some(master_id), AppointKind::Manual, reason),
                )
                .await
                {
                    Ok(r) => r,
                    Err(_) => Err(RemoteFailure::Failed {
                        message: format!("appointment not finished within {} ms", deadline.as_millis()),
                    }),
                }
            }
            other => Err(RemoteFailure::Failed { message: format!("{} is not a proposal", other.name()) }),
        }
    }

    /// This node's answer to a probe.
    pub async fn local_probe(&self) -> ProbeReply {
        let facts = self.facts();
        // An error means Raft stopped: claim "initialized" so that nobody bootstraps on our behalf.
        let initialized = self.raft.is_initialized().await.unwrap_or(true);
        ProbeReply {
            node_id: self.me,
            position: self.hooks.position(),
            initialized,
            term: facts.term,
            leader: facts.leader,
        }
    }

    /// Deadline for proposals that may include the lease wait of an appointment.
    pub fn appoint_deadline(&self) -> Duration {
        self.config.lease_wait() + self.config.failover_timeout
    }
}

impl Handler for Inner {
    fn handle(self: Arc<Self>, req: Request) -> BoxFuture<'static, Response> {
        Box::pin(async move {
            match req {
                Request::AppendEntries(rpc) => Response::AppendEntries(self.raft.append_entries(rpc).await),
                Request::Vote(rpc) => Response::Vote(self.raft.vote(rpc).await),
                Request::InstallSnapshot(rpc) => Response::InstallSnapshot(self.raft.install_snapshot(rpc).await),
                Request::Probe => Response::Probe(self.local_probe().await),
                Request::Propose(cmd) => {
                    let deadline = self.config.failover_timeout;
                    Response::Propose(self.propose_local(cmd, deadline).await)
                }
                req @ Request::Appoint { .. } => {
                    if self.facts().state != ServerState::Leader {
                        return Response::Appoint(Err(RemoteFailure::NotLeader { leader: self.facts().leader }));
                    }
                    let deadline = self.appoint_deadline();
                    Response::Appoint(self.handle_leader_request(req, deadline).await)
                }
            }
        })
    }

    fn transport(&self) -> &Transport {
        &self.transport
    }

    fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

/// The cluster controller of one node. `Send + Sync`; see the module docs of [`crate::cluster`].
pub struct Controller {
    inner: Arc<Inner>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller").field("node_id", &self.inner.me).finish_non_exhaustive()
    }
}

impl Controller {
    /// Validates the configuration, opens `<data_dir>/cluster/`, binds this node's Raft address and
    /// starts the controller. Bootstrapping happens in the background (see [`crate::cluster`]).
    pub async fn start(config: ClusterConfig, data_dir: &Path, hooks: Arc<dyn NodeHooks>) -> Result<Arc<Controller>> {
        config.validate()?;
        let me = config.node_id;
        let (index, my_node) =
            config
                .nodes
                .iter()
                .enumerate()
                .find(|(_, n)| n.id == me)
                .map(|(i, n)| (i, n.clone()))
                .ok_or_else(|| CoreError::invalid("cluster.node_id", format!("{me} is not in cluster.nodes")))?;
        let dir = data_dir.join("cluster");
        let open_dir = dir.clone();
        let (log, sm) = tokio::task::spawn_blocking(move || -> Result<(LogStore, StateMachine)> {
            Ok((LogStore::open(&open_dir)?, StateMachine::open(&open_dir)?))
        })
        .await
        .map_err(|e| CoreError::Unavailable { reason: format!("opening the controller store failed: {e}") })??;
        let applied = sm.applied();
        let listener = TcpListener::bind(&my_node.raft).await.map_err(|e| {
            CoreError::invalid(format!("cluster.nodes[{index}].raft"), format!("cannot bind {}: {e}", my_node.raft))
        })?;
        let transport = Arc::new(Transport::from_config(&config));
        let raft_config = raft_config(&config)?;
        let raft = Raft::new(me, Arc::new(raft_config), NetworkFactory::new(transport.clone()), log, sm)
            .await
            .map_err(|e| CoreError::Unavailable { reason: format!("the controller's Raft failed to start: {e}") })?;
        let inner = Arc::new(Inner {
            me,
            raft,
            hooks,
            transport,
            applied,
            facts: Mutex::new(RaftFacts { term: 0, leader: None, state: ServerState::Learner }),
            leader_since: Mutex::new(None),
            observations: Mutex::new(BTreeMap::new()),
            lease: Mutex::new(None),
            shutdown: watch::channel(false).0,
            initialized_here: AtomicBool::new(false),
            appointing: tokio::sync::Mutex::new(()),
            config,
        });
        let tasks = vec![
            tokio::spawn(server::serve(listener, inner.clone())),
            tokio::spawn(watch_metrics(inner.clone())),
            tokio::spawn(bootstrap::run(inner.clone())),
            tokio::spawn(leader::run(inner.clone())),
            tokio::spawn(lease::run(inner.clone())),
            tokio::spawn(reconcile::run(inner.clone())),
            tokio::spawn(probe::run(inner.clone())),
        ];
        tracing::info!(node_id = me, raft = %my_node.raft, dir = %dir.display(), "cluster controller started");
        Ok(Arc::new(Controller { inner, tasks: Mutex::new(tasks) }))
    }

    /// The controller as this node sees it (never blocks on the network).
    pub fn view(&self) -> ClusterView {
        view::build(&self.inner)
    }

    /// Master only: true while this node holds a valid lease (monotonic clock) for the committed
    /// epoch. Writes must be refused otherwise (503 `no_quorum`).
    pub fn may_accept_writes(&self) -> bool {
        lease::valid(&self.inner)
    }

    /// Asks the controller to make `node_id` the master (the operator's promote path; works in both
    /// modes). Fences the current master, waits until its lease has run out, then commits
    /// `{epoch + 1, node_id}`; returns once committed. No-op if `node_id` already is the master.
    pub async fn propose_master(&self, node_id: u64) -> Result<()> {
        let Some(node) = self.inner.config.node(node_id) else {
            return Err(CoreError::invalid("master", format!("node {node_id} is not in cluster.nodes")));
        };
        if node.priority == 0 {
            return Err(CoreError::invalid("master", format!("node {node_id} has priority 0 and is never promoted")));
        }
        let reason = format!("operator asked for node {node_id}");
        let req = Request::Appoint { master_id: node_id, reason };
        match self.inner.route(req, self.inner.appoint_deadline()).await? {
            Outcome::Applied => Ok(()),
            Outcome::Rejected { epoch, master_id, .. } => Err(CoreError::ReplicationConflict {
                detail: format!(
                    "the controller state changed meanwhile (epoch {epoch}, master {master_id:?}); retry the promotion"
                ),
            }),
        }
    }

    /// The old master of the failover that produced `epoch` reports how many operations it
    /// discarded when it rejoined (shown as `last_failover.ops_discarded`).
    pub async fn report_discarded(&self, epoch: u64, ops: u64) -> Result<()> {
        let cmd = Command::ReportDiscarded { epoch, node_id: self.inner.me, ops };
        match self.inner.propose(cmd, self.inner.config.failover_timeout).await? {
            Outcome::Applied => Ok(()),
            Outcome::Rejected { epoch: current, .. } => Err(CoreError::ReplicationConflict {
                detail: format!(
                    "node {} was not the old master of the failover to epoch {epoch} (current epoch {current})",
                    self.inner.me
                ),
            }),
        }
    }

    /// Whether this process initialized the controller group (only ever true on the lowest id, on
    /// first start, when a majority was pristine).
    pub fn initialized_here(&self) -> bool {
        self.inner.initialized_here.load(Ordering::SeqCst)
    }

    /// Stops every task, closes the listener and stops Raft. Idempotent.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        *self.inner.lease.lock() = None;
        let tasks = std::mem::take(&mut *self.tasks.lock());
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!(error = %e, "controller Raft did not stop cleanly");
        }
    }

    /// Tests: (vote term, last log index) as Raft last reported them.
    #[cfg(test)]
    pub(crate) fn raft_state(&self) -> (u64, Option<u64>) {
        let m = self.inner.raft.metrics();
        let m = m.borrow();
        (m.vote.leader_id().term, m.last_log_index)
    }

    /// Tests: builds a snapshot of everything applied and purges the log up to it, so that a node
    /// that lost its data must be sent the snapshot.
    #[cfg(test)]
    pub(crate) async fn compact_log(&self) {
        let applied = self.inner.raft.metrics().borrow().last_applied;
        self.inner.raft.trigger().snapshot().await.expect("trigger snapshot");
        let mut rx = self.inner.raft.metrics();
        let snapshot = loop {
            let snap = rx.borrow_and_update().snapshot;
            if let Some(snap) = snap
                && Some(snap) >= applied
            {
                break snap;
            }
            tokio::time::timeout(Duration::from_secs(30), rx.changed())
                .await
                .expect("snapshot built")
                .expect("metrics");
        };
        self.inner.raft.trigger().purge_log(snapshot.index).await.expect("purge");
        loop {
            if rx.borrow_and_update().purged.is_some_and(|p| p.index >= snapshot.index) {
                return;
            }
            tokio::time::timeout(Duration::from_secs(30), rx.changed()).await.expect("log purged").expect("metrics");
        }
    }

    /// Test fault injection: cut this node off the controller network (both directions) or heal it.
    #[cfg(test)]
    pub(crate) fn set_isolated(&self, isolated: bool) {
        self.inner.transport.set_isolated(isolated);
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.inner.shutdown.send_replace(true);
        for t in self.tasks.lock().iter() {
            t.abort();
        }
    }
}

fn raft_config(config: &ClusterConfig) -> Result<openraft::Config> {
    let ms = |d: Duration| d.as_millis() as u64;
    let c = openraft::Config {
        cluster_name: "vectorizer-controller".into(),
        heartbeat_interval: ms(config.raft_heartbeat),
        election_timeout_min: ms(config.election_min),
        election_timeout_max: ms(config.election_max),
        install_snapshot_timeout: ms(config.election_min),
        max_payload_entries: 64,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(500),
        max_in_snapshot_log_to_keep: 100,
        purge_batch_size: 64,
        snapshot_max_chunk_size: 256 * 1024,
        ..openraft::Config::default()
    };
    c.validate().map_err(|e| CoreError::invalid("cluster", format!("controller timings rejected by Raft: {e}")))
}

/// Copies the Raft metrics the controller needs into [`Inner::facts`] whenever they change.
async fn watch_metrics(inner: Arc<Inner>) {
    let mut rx = inner.raft.metrics();
    let mut shutdown = inner.shutdown.subscribe();
    loop {
        let facts = {
            let m = rx.borrow_and_update();
            RaftFacts { term: m.current_term, leader: m.current_leader, state: m.state }
        };
        let previous = std::mem::replace(&mut *inner.facts.lock(), facts);
        {
            let mut since = inner.leader_since.lock();
            if facts.state != ServerState::Leader {
                *since = None;
            } else if since.is_none() || previous.term != facts.term || previous.state != ServerState::Leader {
                // A (re-)election: renewals committed under another leader may not be applied here yet.
                *since = Some(Instant::now());
            }
        }
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { break },
            _ = shutdown.changed() => break,
        }
    }
    let mut f = inner.facts.lock();
    f.state = ServerState::Shutdown;
    f.leader = None;
}

/// Ids of every configured voter.
pub(crate) fn voter_ids(config: &ClusterConfig) -> BTreeSet<NodeId> {
    config.nodes.iter().map(|n| n.id).collect()
}

/// Whether the configured mode lets the controller appoint masters by itself.
pub(crate) fn auto(config: &ClusterConfig) -> bool {
    config.failover == FailoverMode::Auto
}
