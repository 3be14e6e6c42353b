//! The replication runtime of one node: role, epoch history, counters, the listener, the client,
//! and the periodic health and persistence ticks.
//!
//! Invariants:
//! - Role changes (promote, replicaof) are serialised by one async mutex and applied in this order:
//!   stop the old activity, update the history, persist the state file, then tell the engine (epoch,
//!   role) — so after a crash the state file never claims less than the engine acted on.
//! - The listener runs on every node; sessions check the role when a replica says Hello.
//! - Counters are atomics updated where events happen; the state file is rewritten every second
//!   when anything changed, and at shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vectorizer_sdk_types as wire;
use vectorizer_sdk_types::ReplicationRole;

use crate::cluster::NodePosition;
use crate::engine::{Engine, NodeRole, now_ms};
use crate::error::{CoreError, Result};
use crate::replication::config::ReplicationConfig;
use crate::replication::conn::ByteCounters;
use crate::replication::history::EpochHistory;
use crate::replication::link::LinkState;
use crate::replication::persist::{self, NodeCounters, PersistedState};
use crate::replication::registry::Registry;
use crate::replication::write_concern::{self, WriteConcern};
use crate::replication::{master, replica, stats};

/// How often health is evaluated (timeouts, transitions, log pinning).
const HEALTH_TICK: Duration = Duration::from_millis(200);
/// How often changed counters are persisted.
const PERSIST_TICK: Duration = Duration::from_secs(1);

/// Role-related state, persisted.
#[derive(Debug, Clone)]
pub struct RoleState {
    pub role: ReplicationRole,
    /// Master's replication address when this node is a replica.
    pub master: Option<String>,
    pub history: EpochHistory,
}

/// Node-level counters (persisted).
#[derive(Debug, Default)]
pub struct Counters {
    /// Master: bytes written to replica sockets.
    pub bytes_sent: Arc<AtomicU64>,
    /// Replica: bytes read from master sockets.
    pub bytes_received: Arc<AtomicU64>,
    /// Completed full syncs (master: served, replica: performed).
    pub full_syncs: AtomicU64,
    pub partial_syncs: AtomicU64,
    /// Last completed sync, ms since the epoch (0 = never).
    pub last_sync_ms: AtomicU64,
    /// Links dropped because a replica's unacknowledged backlog exceeded the cap.
    pub buffer_overflows: AtomicU64,
    /// Operations discarded on rejoining a newer master (beyond the fork point).
    pub ops_discarded_on_rejoin: AtomicU64,
}

/// A rejoin after a failover that discarded operations beyond the fork point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Discarded {
    /// The newest epoch of the master this node rejoined.
    pub epoch: u64,
    /// Operations dropped (offsets `first..=last`).
    pub ops: u64,
    pub first: u64,
    pub last: u64,
}

/// State shared by the listener, the sessions, the client and the REST handlers.
#[derive(Debug)]
pub struct Shared {
    pub engine: Arc<Engine>,
    pub config: ReplicationConfig,
    pub node_id: String,
    /// Replication address announced to masters (`host:port`).
    pub announce_repl: String,
    pub role: Mutex<RoleState>,
    pub counters: Counters,
    /// Master side: every replica ever seen.
    pub registry: Registry,
    /// One state-file save at a time (the periodic tick and role changes share the temp file).
    pub save_lock: Mutex<()>,
    /// Replica side: the link to the master.
    pub link: LinkState,
    /// The last rejoin that discarded operations (the cluster controller reports it).
    pub discarded: tokio::sync::watch::Sender<Option<Discarded>>,
    /// Replica side: an in-place rollback failed, so the next handshake offers none (the master
    /// then sends a full sync). Cleared once a full sync is installed.
    pub rollback_failed: std::sync::atomic::AtomicBool,
    /// Master side: the newest epoch a replica's Hello showed above this master's own (0: none).
    /// A newer master exists, so this one steps down (see `Replication::demote_stale`).
    pub newer_epoch_seen: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    /// The node-wide byte counters a new connection counts into, as (read, written): both empty
    /// when `stats_enabled` is false, so a node without stats does no per-I/O bookkeeping.
    pub fn connection_counters(&self) -> (ByteCounters, ByteCounters) {
        if !self.config.stats_enabled {
            return (ByteCounters::default(), ByteCounters::default());
        }
        (
            ByteCounters::new(vec![self.counters.bytes_received.clone()]),
            ByteCounters::new(vec![self.counters.bytes_sent.clone()]),
        )
    }

    /// Current role.
    pub fn role(&self) -> ReplicationRole {
        self.role.lock().role
    }

    /// A copy of the epoch history.
    pub fn history(&self) -> EpochHistory {
        self.role.lock().history.clone()
    }

    /// Replica: adopts the master's history once this node's data is a prefix of the master's
    /// (after a partial-sync handshake, a rollback or an installed full sync), and makes it
    /// durable at once (blocking I/O: call from a blocking context). A node restarted with an
    /// older history would look diverged to the master and be rolled back or resynced for nothing.
    /// Never adopt before the data matches: a diverged node claiming the new history would be
    /// streamed to as if it held the master's prefix.
    pub fn adopt_history(&self, history: EpochHistory) -> Result<()> {
        self.role.lock().history = history;
        self.persist_now()
    }

    /// Counts a completed sync (full or partial) at `now_ms`.
    pub fn record_sync_complete(&self, full: bool, now_ms: u64) {
        if full {
            self.counters.full_syncs.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.partial_syncs.fetch_add(1, Ordering::Relaxed);
        }
        self.counters.last_sync_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// The secret as HMAC key bytes.
    pub fn secret(&self) -> &[u8] {
        self.config.auth_secret.as_deref().map_or(&[], str::as_bytes)
    }

    /// Everything to persist, as of now.
    pub fn to_persisted(&self) -> PersistedState {
        let role = self.role.lock().clone();
        let c = &self.counters;
        let last_sync = c.last_sync_ms.load(Ordering::Relaxed);
        let caught_up = self.link.caught_up_at_ms.load(Ordering::SeqCst);
        PersistedState {
            version: persist::STATE_VERSION,
            node_id: self.node_id.clone(),
            role: Some(role.role),
            master: role.master,
            history: role.history,
            counters: NodeCounters {
                bytes_sent: c.bytes_sent.load(Ordering::Relaxed),
                bytes_received: c.bytes_received.load(Ordering::Relaxed),
                full_syncs: c.full_syncs.load(Ordering::Relaxed),
                partial_syncs: c.partial_syncs.load(Ordering::Relaxed),
                last_sync_ms: (last_sync > 0).then_some(last_sync),
                caught_up_at_ms: (caught_up > 0).then_some(caught_up),
                master_offset_seen: self.link.master_offset_seen.load(Ordering::SeqCst),
                buffer_overflows: c.buffer_overflows.load(Ordering::Relaxed),
                ops_discarded_on_rejoin: c.ops_discarded_on_rejoin.load(Ordering::Relaxed),
            },
            replicas: self.registry.export(),
        }
    }

    /// Writes the state file (blocking I/O: call from a blocking context).
    pub fn persist_now(&self) -> Result<()> {
        // The persist tick and role changes save concurrently and share the state file's temporary
        // name: one save at a time, each taking the state under the lock, so the last file written
        // holds the newest state (never a tick's older copy written after a role change's save).
        let _one_save = self.save_lock.lock();
        persist::save(&self.engine.config().data_dir, &self.to_persisted())
    }

    /// Makes `new_role` durable, then (and only then) the role in memory. If the save fails
    /// nothing changes, so the node never acts on a role it could not persist.
    pub fn commit_role(&self, new_role: RoleState) -> Result<()> {
        let _one_save = self.save_lock.lock();
        let mut state = self.to_persisted();
        state.role = Some(new_role.role);
        state.master = new_role.master.clone();
        state.history = new_role.history.clone();
        persist::save(&self.engine.config().data_dir, &state)?;
        *self.role.lock() = new_role;
        Ok(())
    }
}

/// A running replication client (replica side).
#[derive(Debug)]
struct ClientHandle {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// The replication runtime of this node.
#[derive(Debug)]
pub struct Replication {
    shared: Arc<Shared>,
    bound: SocketAddr,
    cancel: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    client: tokio::sync::Mutex<Option<ClientHandle>>,
    /// Serialises role changes.
    control: tokio::sync::Mutex<()>,
}

impl Replication {
    /// Loads (or creates) the node's replication state, binds the listener, and starts the client
    /// when the node is a replica. Must run inside a tokio runtime.
    pub async fn start(engine: Arc<Engine>, config: ReplicationConfig) -> Result<Arc<Replication>> {
        let data_dir = engine.config().data_dir.clone();
        let loaded = {
            let dir = data_dir.clone();
            tokio::task::spawn_blocking(move || persist::load(&dir)).await.map_err(join_error)??
        };
        let listener = TcpListener::bind(&config.listen_addr).await.map_err(|e| {
            CoreError::invalid("replication.listen_addr", format!("cannot bind {}: {e}", config.listen_addr))
        })?;
        let bound = listener.local_addr().map_err(|e| CoreError::io(&data_dir, e))?;
        let announce_repl = config.announce_repl.clone().unwrap_or_else(|| bound.to_string());

        let engine_epoch = engine.epoch();
        let (node_id, role, counters, replicas) = match loaded {
            Some(p) => {
                let mut history = p.history.clone();
                if history.current_epoch() < engine_epoch {
                    tracing::warn!(
                        history = history.current_epoch(),
                        engine_epoch,
                        "state file is behind the log; extending the epoch history"
                    );
                    history.begin(engine_epoch, engine.last_offset() + 1)?;
                }
                let role = match p.role {
                    None if config.cluster_managed => {
                        RoleState { role: ReplicationRole::Replica, master: None, history }
                    }
                    Some(ReplicationRole::Replica) => {
                        RoleState { role: ReplicationRole::Replica, master: p.master.clone(), history }
                    }
                    Some(ReplicationRole::Master) | None => match &config.replica_of {
                        Some(m) if p.role.is_none() => {
                            RoleState { role: ReplicationRole::Replica, master: Some(m.clone()), history }
                        }
                        _ => RoleState { role: ReplicationRole::Master, master: None, history },
                    },
                };
                if p.role.is_some() && config.replica_of.as_deref() != role.master.as_deref() {
                    tracing::warn!(persisted_role = ?role.role, persisted_master = ?role.master, configured = ?config.replica_of,
                        "the role set at runtime (promote/replicaof) wins over the configuration");
                }
                (p.node_id, role, p.counters, p.replicas)
            }
            None => {
                let node_id = config.node_id.clone().unwrap_or_else(persist::new_node_id);
                let history = EpochHistory::new(engine_epoch.max(1), 1);
                let role = match &config.replica_of {
                    // The controller appoints the first master; until then the node is read-only.
                    _ if config.cluster_managed => RoleState { role: ReplicationRole::Replica, master: None, history },
                    Some(m) => RoleState { role: ReplicationRole::Replica, master: Some(m.clone()), history },
                    None => RoleState { role: ReplicationRole::Master, master: None, history },
                };
                (node_id, role, NodeCounters::default(), Vec::new())
            }
        };
        let node_id = config.node_id.clone().unwrap_or(node_id);
        let shared = Arc::new(Shared {
            counters: Counters {
                bytes_sent: Arc::new(AtomicU64::new(counters.bytes_sent)),
                bytes_received: Arc::new(AtomicU64::new(counters.bytes_received)),
                full_syncs: AtomicU64::new(counters.full_syncs),
                partial_syncs: AtomicU64::new(counters.partial_syncs),
                last_sync_ms: AtomicU64::new(counters.last_sync_ms.unwrap_or(0)),
                buffer_overflows: AtomicU64::new(counters.buffer_overflows),
                ops_discarded_on_rejoin: AtomicU64::new(counters.ops_discarded_on_rejoin),
            },
            discarded: tokio::sync::watch::Sender::new(None),
            rollback_failed: std::sync::atomic::AtomicBool::new(false),
            newer_epoch_seen: tokio::sync::watch::Sender::new(0),
            link: LinkState::default(),
            registry: Registry::restore(&replicas),
            save_lock: Mutex::new(()),
            role: Mutex::new(role.clone()),
            engine,
            config,
            node_id,
            announce_repl,
        });
        shared.link.caught_up_at_ms.store(counters.caught_up_at_ms.unwrap_or(0), Ordering::SeqCst);
        shared.link.master_offset_seen.store(counters.master_offset_seen, Ordering::SeqCst);
        shared.link.following_since_ms.store(now_ms(), Ordering::SeqCst);
        {
            let s = shared.clone();
            tokio::task::spawn_blocking(move || s.persist_now()).await.map_err(join_error)??;
        }
        apply_role_to_engine(&shared, &role);

        let cancel = CancellationToken::new();
        let tasks = vec![
            tokio::spawn(master::serve(shared.clone(), listener, cancel.child_token())),
            tokio::spawn(health_loop(shared.clone(), cancel.child_token())),
            tokio::spawn(persist_loop(shared.clone(), cancel.child_token())),
        ];
        let replication = Arc::new(Replication {
            shared: shared.clone(),
            bound,
            cancel,
            tasks: Mutex::new(tasks),
            client: tokio::sync::Mutex::new(None),
            control: tokio::sync::Mutex::new(()),
        });
        replication.tasks.lock().push(tokio::spawn(demote_on_newer_epoch(
            Arc::downgrade(&replication),
            shared.newer_epoch_seen.subscribe(),
            replication.cancel.child_token(),
        )));
        if let (ReplicationRole::Replica, Some(master)) = (role.role, role.master) {
            replication.start_client(master).await;
        }
        tracing::info!(node_id = %shared.node_id, role = ?shared.role(), repl_addr = %bound, "replication started");
        Ok(replication)
    }

    /// The address the replication listener is bound to.
    pub fn repl_addr(&self) -> SocketAddr {
        self.bound
    }

    /// This node's stable id.
    pub fn node_id(&self) -> &str {
        &self.shared.node_id
    }

    /// Shared runtime state (for tests and metrics).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// `GET /replication/status` in the v1.2.0 shape.
    pub fn status(&self) -> wire::ReplicationStatus {
        stats::status(&self.shared, now_ms())
    }

    /// `GET /replication/replicas`: every replica the master knows (empty on a replica).
    pub fn replicas(&self) -> Vec<wire::ReplicaInfo> {
        stats::replica_infos(&self.shared, now_ms())
    }

    /// Waits until `offset` is durable on the nodes `w` requires (see [`write_concern::wait`]).
    pub async fn wait_for_write_concern(&self, offset: u64, w: WriteConcern, timeout: Duration) -> Result<()> {
        if w == WriteConcern::One {
            return Ok(());
        }
        write_concern::wait(&self.shared, offset, w, timeout, None).await
    }

    /// Makes this replica the master of a new epoch. Other replicas are re-pointed with
    /// `replica_of` and continue by partial sync thanks to the epoch history.
    pub async fn promote(&self) -> Result<wire::ReplicationStatus> {
        let _control = self.control.lock().await;
        if self.shared.role() == ReplicationRole::Master {
            return Err(CoreError::ReplicationConflict { detail: "this node is already the master".into() });
        }
        let next = self.shared.history().current_epoch().max(self.shared.engine.epoch()) + 1;
        self.promote_locked(next).await
    }

    /// Cluster mode: becomes the master of exactly `epoch` (the controller's committed epoch).
    /// A no-op when this node already is the master at that epoch; refused when `epoch` is below
    /// the node's current epoch, so a stale controller state never moves the node backwards.
    pub async fn become_master_at(&self, epoch: u64) -> Result<()> {
        let _control = self.control.lock().await;
        let (role, current) = {
            let r = self.shared.role.lock();
            (r.role, r.history.current_epoch())
        };
        if role == ReplicationRole::Master && current == epoch {
            return Ok(());
        }
        if epoch <= current {
            return Err(CoreError::ReplicationConflict {
                detail: format!("cannot become master at epoch {epoch}: this node is already at epoch {current}"),
            });
        }
        self.promote_locked(epoch).await.map(|_| ())
    }

    /// Starts epoch `epoch` (above the current one) as master. Caller holds `control`.
    async fn promote_locked(&self, epoch: u64) -> Result<wire::ReplicationStatus> {
        let old_role = self.shared.role.lock().clone();
        self.stop_client().await;
        let mut new_role = old_role.clone();
        new_role.history.begin(epoch, self.shared.engine.last_offset() + 1)?;
        new_role.role = ReplicationRole::Master;
        new_role.master = None;
        if let Err(e) = self.commit_role(new_role.clone()).await {
            self.resume_following(&old_role).await;
            return Err(e);
        }
        apply_role_to_engine(&self.shared, &new_role);
        self.shared.link.down(None, now_ms());
        tracing::warn!(epoch = new_role.history.current_epoch(), "promoted to master");
        Ok(self.status())
    }

    /// Cluster mode: follows the master at `master_repl` that serves `epoch`. A no-op when this
    /// node already follows it; refused when `epoch` is below the node's current epoch. A node
    /// that was master stops accepting writes at once; operations it wrote beyond the fork point
    /// are discarded by the sync that follows (counted in `ops_discarded_on_rejoin`).
    pub async fn follow_at(&self, master_repl: String, epoch: u64) -> Result<()> {
        {
            let r = self.shared.role.lock();
            let current = r.history.current_epoch();
            if epoch < current {
                return Err(CoreError::ReplicationConflict {
                    detail: format!(
                        "cannot follow the master of epoch {epoch}: this node is already at epoch {current}"
                    ),
                });
            }
            if r.role == ReplicationRole::Replica && r.master.as_deref() == Some(master_repl.as_str()) {
                return Ok(());
            }
        }
        self.replica_of(Some(master_repl)).await.map(|_| ())
    }

    /// Steps down to a read-only replica with no master when a replica showed epoch `seen`, newer
    /// than this master's: a newer master exists (it was promoted while this node was cut off or
    /// stopped), so every write accepted here could only fork the data. The node keeps its data;
    /// the operator (`replicaof`) or the cluster controller points it at the new master, and the
    /// sync that follows truncates what it wrote beyond the fork point.
    async fn demote_stale(&self, seen: u64) -> Result<()> {
        let _control = self.control.lock().await;
        let old_role = self.shared.role.lock().clone();
        let ours = old_role.history.current_epoch();
        if old_role.role != ReplicationRole::Master || ours >= seen {
            return Ok(());
        }
        let mut new_role = old_role;
        new_role.role = ReplicationRole::Replica;
        new_role.master = None;
        self.commit_role(new_role.clone()).await?;
        apply_role_to_engine(&self.shared, &new_role);
        self.shared.registry.close_all();
        tracing::error!(
            epoch = ours,
            newer_epoch = seen,
            "a replica knows a newer epoch: a newer master exists; stepped down to a read-only replica \
             (point this node at the new master with replicaof, or let the cluster controller do it)"
        );
        Ok(())
    }

    /// Cluster mode: where this node stands (cheap; never blocks on I/O).
    pub fn position(&self) -> NodePosition {
        let (role, epoch) = {
            let r = self.shared.role.lock();
            (r.role, r.history.current_epoch())
        };
        NodePosition {
            epoch,
            applied_offset: self.shared.engine.last_offset(),
            is_master: role == ReplicationRole::Master,
        }
    }

    /// Waits for the next rejoin that discards operations (the cluster controller records it).
    pub fn discarded(&self) -> tokio::sync::watch::Receiver<Option<Discarded>> {
        self.shared.discarded.subscribe()
    }

    /// Follows `master` (a replication address), or stops following when `None` (= promote).
    pub async fn replica_of(&self, master: Option<String>) -> Result<wire::ReplicationStatus> {
        let Some(master) = master else {
            if self.shared.role() == ReplicationRole::Master {
                return Ok(self.status());
            }
            return self.promote().await;
        };
        validate_address("master", &master)?;
        if master == self.shared.announce_repl || master == self.bound.to_string() {
            return Err(CoreError::invalid("master", format!("{master} is this node's own replication address")));
        }
        let _control = self.control.lock().await;
        let old_role = self.shared.role.lock().clone();
        self.stop_client().await;
        let mut new_role = old_role.clone();
        new_role.role = ReplicationRole::Replica;
        new_role.master = Some(master.clone());
        if let Err(e) = self.commit_role(new_role.clone()).await {
            self.resume_following(&old_role).await;
            return Err(e);
        }
        apply_role_to_engine(&self.shared, &new_role);
        self.shared.registry.close_all();
        self.shared.link.following_since_ms.store(now_ms(), Ordering::SeqCst);
        self.start_client(master.clone()).await;
        tracing::warn!(%master, "now a replica");
        Ok(self.status())
    }

    /// Stops every task and persists the counters.
    pub async fn shutdown(&self) {
        self.stop_client().await;
        self.shared.registry.close_all();
        self.cancel.cancel();
        let tasks = std::mem::take(&mut *self.tasks.lock());
        for t in tasks {
            let _ = t.await;
        }
        if let Err(e) = self.persist().await {
            tracing::error!(error = %e, "could not persist replication state at shutdown");
        }
    }

    async fn start_client(&self, master: String) {
        let cancel = self.cancel.child_token();
        let task = tokio::spawn(replica::run(self.shared.clone(), master, cancel.clone()));
        *self.client.lock().await = Some(ClientHandle { cancel, task });
    }

    async fn stop_client(&self) {
        if let Some(client) = self.client.lock().await.take() {
            client.cancel.cancel();
            let _ = client.task.await;
        }
    }

    async fn commit_role(&self, new_role: RoleState) -> Result<()> {
        let s = self.shared.clone();
        tokio::task::spawn_blocking(move || s.commit_role(new_role)).await.map_err(join_error)?
    }

    /// After a failed role change: follow the old master again if the node was following one.
    async fn resume_following(&self, old_role: &RoleState) {
        if let (ReplicationRole::Replica, Some(master)) = (old_role.role, old_role.master.clone()) {
            self.start_client(master).await;
        }
    }

    async fn persist(&self) -> Result<()> {
        let s = self.shared.clone();
        tokio::task::spawn_blocking(move || s.persist_now()).await.map_err(join_error)?
    }
}

/// Demotes this node whenever a replica reports an epoch newer than its own (master side).
async fn demote_on_newer_epoch(
    replication: std::sync::Weak<Replication>,
    mut seen: tokio::sync::watch::Receiver<u64>,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            changed = seen.changed() => if changed.is_err() { return },
        }
        let epoch = *seen.borrow_and_update();
        let Some(replication) = replication.upgrade() else { return };
        if let Err(e) = replication.demote_stale(epoch).await {
            tracing::error!(error = %e, newer_epoch = epoch, "could not step down after seeing a newer epoch");
        }
    }
}

fn apply_role_to_engine(shared: &Shared, role: &RoleState) {
    shared.engine.set_epoch(role.history.current_epoch().max(shared.engine.epoch()));
    match role.role {
        ReplicationRole::Master => shared.engine.set_role(NodeRole::Master),
        ReplicationRole::Replica => {
            let master_http = shared.link.inner.lock().master_http.clone();
            shared.engine.set_role(NodeRole::Replica { master_http });
        }
    }
}

/// Checks a `host:port` address.
pub fn validate_address(field: &str, addr: &str) -> Result<()> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(CoreError::invalid(field, format!("expected host:port, got {addr:?}")));
    };
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(CoreError::invalid(field, format!("expected host:port with a port in 1..=65535, got {addr:?}")));
    }
    Ok(())
}

fn join_error(e: tokio::task::JoinError) -> CoreError {
    CoreError::Unavailable { reason: format!("a replication task failed: {e}") }
}

async fn health_loop(shared: Arc<Shared>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(HEALTH_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = now_ms();
        match shared.role() {
            ReplicationRole::Master => master::on_tick(&shared, now),
            ReplicationRole::Replica => replica::on_tick(&shared, now),
        }
    }
}

async fn persist_loop(shared: Arc<Shared>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(PERSIST_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_saved: Option<PersistedState> = None;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let current = shared.to_persisted();
        if last_saved.as_ref() == Some(&current) {
            continue;
        }
        let s = shared.clone();
        match tokio::task::spawn_blocking(move || s.persist_now()).await {
            Ok(Ok(())) => last_saved = Some(current),
            Ok(Err(e)) => tracing::error!(error = %e, "could not persist replication state"),
            Err(e) => tracing::error!(error = %e, "replication state writer failed"),
        }
    }
}
