//! In-process cluster tests: 3-5 controllers on loopback TCP with real files, fake [`NodeHooks`]
//! that record every call, partitions injected at the transport. Everything is awaited by polling
//! with deadlines; the only sleeps are the lease bounds being checked.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::net::TcpStream;
use vectorizer_sdk_types::{ClusterView, ControllerRole, MemberHealth};

use super::*;
use crate::cluster::transport::Transport;
use crate::cluster::wire::{
    Admission, ClientProof, Conn, HANDSHAKE_MAX_BYTES, Hello, PROTOCOL_VERSION, Refusal, ServerHello,
};
use crate::error::{CoreError, Result};

// ---------------------------------------------------------------------------------------------
// Fake node

#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    BecomeMaster { epoch: u64 },
    Follow { repl: String, epoch: u64 },
}

#[derive(Debug, Clone)]
struct Recorded {
    call: Call,
    at: Instant,
    /// On `BecomeMaster`: whether any other controller answered `may_accept_writes() == true`
    /// at that moment.
    others_writable: Option<bool>,
}

#[derive(Default)]
struct FakeNode {
    position: Mutex<NodePosition>,
    calls: Mutex<Vec<Recorded>>,
    /// Other nodes' controllers, to ask the old master about its lease when promoted.
    peers: Mutex<BTreeMap<u64, Weak<Controller>>>,
}

impl FakeNode {
    fn new(epoch: u64, applied: u64, is_master: bool) -> Arc<Self> {
        let node = FakeNode::default();
        *node.position.lock() = NodePosition { epoch, applied_offset: applied, is_master };
        Arc::new(node)
    }

    fn calls(&self) -> Vec<Recorded> {
        self.calls.lock().clone()
    }

    fn last_call(&self) -> Option<Call> {
        self.calls.lock().last().map(|r| r.call.clone())
    }
}

impl NodeHooks for FakeNode {
    fn position(&self) -> NodePosition {
        *self.position.lock()
    }

    fn become_master(&self, epoch: u64) -> BoxFuture<'static, Result<()>> {
        // Whether any other controller accepts writes at the moment this node is told to promote.
        let peers: Vec<Arc<Controller>> = self.peers.lock().values().filter_map(Weak::upgrade).collect();
        let others_writable = peers.iter().any(|c| c.may_accept_writes());
        let result = {
            let mut pos = self.position.lock();
            if epoch < pos.epoch {
                Err(CoreError::ReplicationConflict { detail: format!("epoch {epoch} < {}", pos.epoch) })
            } else {
                pos.epoch = epoch;
                pos.is_master = true;
                self.calls.lock().push(Recorded {
                    call: Call::BecomeMaster { epoch },
                    at: Instant::now(),
                    others_writable: Some(others_writable),
                });
                Ok(())
            }
        };
        Box::pin(async move { result })
    }

    fn follow(&self, master_repl_addr: String, _master_http: String, epoch: u64) -> BoxFuture<'static, Result<()>> {
        let result = {
            let mut pos = self.position.lock();
            if epoch < pos.epoch {
                Err(CoreError::ReplicationConflict { detail: format!("epoch {epoch} < {}", pos.epoch) })
            } else {
                pos.epoch = epoch;
                pos.is_master = false;
                self.calls.lock().push(Recorded {
                    call: Call::Follow { repl: master_repl_addr, epoch },
                    at: Instant::now(),
                    others_writable: None,
                });
                Ok(())
            }
        };
        Box::pin(async move { result })
    }
}

// ---------------------------------------------------------------------------------------------
// Harness

const HEARTBEAT: Duration = Duration::from_millis(100);
const ELECTION_MIN: Duration = Duration::from_millis(500);
const ELECTION_MAX: Duration = Duration::from_millis(1000);
const LEASE: Duration = Duration::from_millis(600);
const FAILOVER_TIMEOUT: Duration = Duration::from_millis(1500);
/// Generous bound for anything that should happen "soon" on a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(30);

/// A loopback port that was free a moment ago and that no other test of this process was given:
/// the kernel may hand a just-released ephemeral port out again, and one cluster must never get the
/// same port twice (its config is refused) nor another test's.
fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let mut handed_out = HANDED_OUT.lock().expect("port registry");
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

fn nodes(priorities: &[u32]) -> Vec<ClusterNode> {
    priorities
        .iter()
        .enumerate()
        .map(|(i, p)| ClusterNode {
            id: i as u64 + 1,
            http: format!("127.0.0.1:{}", free_port()),
            repl: format!("127.0.0.1:{}", free_port()),
            raft: format!("127.0.0.1:{}", free_port()),
            priority: *p,
        })
        .collect()
}

struct Cluster {
    _root: tempfile::TempDir,
    dirs: Vec<PathBuf>,
    configs: Vec<ClusterConfig>,
    fakes: Vec<Arc<FakeNode>>,
    ctrls: Vec<Option<Arc<Controller>>>,
}

impl Cluster {
    /// `fakes[i]` is node `i + 1`.
    fn new(mode: FailoverMode, priorities: &[u32], fakes: Vec<Arc<FakeNode>>) -> Cluster {
        let root = tempfile::tempdir().expect("tempdir");
        let nodes = nodes(priorities);
        let configs: Vec<ClusterConfig> = nodes
            .iter()
            .map(|n| {
                let mut c = ClusterConfig::new(n.id, nodes.clone());
                c.failover = mode;
                c.failover_timeout = FAILOVER_TIMEOUT;
                c.lease = LEASE;
                c.max_clock_drift = 0.1;
                c.raft_heartbeat = HEARTBEAT;
                c.election_min = ELECTION_MIN;
                c.election_max = ELECTION_MAX;
                c.auth_secret = Some("s3cret".into());
                c
            })
            .collect();
        let dirs = nodes.iter().map(|n| root.path().join(format!("node-{}", n.id))).collect();
        let n = configs.len();
        Cluster { _root: root, dirs, configs, fakes, ctrls: vec![None; n] }
    }

    async fn start(&mut self, id: u64) {
        let i = id as usize - 1;
        let hooks: Arc<dyn NodeHooks> = self.fakes[i].clone();
        let ctrl = Controller::start(self.configs[i].clone(), &self.dirs[i], hooks).await.expect("start");
        self.ctrls[i] = Some(ctrl);
        self.link_fakes();
    }

    async fn start_all(&mut self) {
        let starts = (0..self.configs.len()).map(|i| {
            let hooks: Arc<dyn NodeHooks> = self.fakes[i].clone();
            Controller::start(self.configs[i].clone(), &self.dirs[i], hooks)
        });
        // Started concurrently: bootstrapping races with every node coming up.
        let started = futures::future::join_all(starts).await;
        for (i, c) in started.into_iter().enumerate() {
            self.ctrls[i] = Some(c.expect("start"));
        }
        self.link_fakes();
    }

    fn link_fakes(&self) {
        for (i, fake) in self.fakes.iter().enumerate() {
            let mut peers = fake.peers.lock();
            peers.clear();
            for (j, c) in self.ctrls.iter().enumerate() {
                if let (true, Some(c)) = (i != j, c) {
                    peers.insert(j as u64 + 1, Arc::downgrade(c));
                }
            }
        }
    }

    async fn stop(&mut self, id: u64) {
        if let Some(c) = self.ctrls[id as usize - 1].take() {
            c.shutdown().await;
        }
        self.link_fakes();
    }

    async fn stop_all(&mut self) {
        for id in 1..=self.configs.len() as u64 {
            self.stop(id).await;
        }
    }

    fn ctrl(&self, id: u64) -> &Arc<Controller> {
        self.ctrls[id as usize - 1].as_ref().expect("running")
    }

    fn fake(&self, id: u64) -> &Arc<FakeNode> {
        &self.fakes[id as usize - 1]
    }

    fn running(&self) -> Vec<u64> {
        (1..=self.ctrls.len() as u64).filter(|id| self.ctrls[*id as usize - 1].is_some()).collect()
    }

    fn views(&self, ids: &[u64]) -> Vec<ClusterView> {
        ids.iter().map(|id| self.ctrl(*id).view()).collect()
    }

    fn repl(&self, id: u64) -> String {
        self.configs[0].nodes[id as usize - 1].repl.clone()
    }

    /// Waits until every node of `ids` reports the same committed master (Some) and epoch, and
    /// a leader; returns (master, epoch).
    async fn converged(&self, ids: &[u64]) -> (u64, u64) {
        let mut result = None;
        wait_for("all nodes agree on the master", || {
            let views = self.views(ids);
            let first = &views[0];
            let same = views.iter().all(|v| {
                v.master_id == first.master_id && v.epoch == first.epoch && v.leader_id.is_some() && !v.fenced
            });
            if same && let Some(m) = first.master_id {
                result = Some((m, first.epoch));
                return true;
            }
            false
        })
        .await;
        result.expect("converged")
    }

    /// Waits until each of `ids` has obeyed (master, epoch) through its hooks.
    async fn obeyed(&self, ids: &[u64], master: u64, epoch: u64) {
        let repl = self.repl(master);
        wait_for("every node obeys the committed master", || {
            ids.iter().all(|id| {
                let expected = if *id == master {
                    Call::BecomeMaster { epoch }
                } else {
                    Call::Follow { repl: repl.clone(), epoch }
                };
                self.fake(*id).last_call() == Some(expected)
            })
        })
        .await;
    }

    async fn writable(&self, id: u64) {
        wait_for("the master holds a lease", || self.ctrl(id).may_accept_writes()).await;
    }

    fn leader(&self, ids: &[u64]) -> Option<u64> {
        ids.iter().find(|id| self.ctrl(**id).view().controller_role == ControllerRole::Leader).copied()
    }
}

/// Polls `check` every 5 ms until it holds; panics after [`PATIENCE`].
async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_happens_once_and_records_the_existing_master() {
    // Node 2 is already master at epoch 3 (the cluster existed before cluster mode was enabled).
    let fakes = vec![FakeNode::new(3, 40, false), FakeNode::new(3, 42, true), FakeNode::new(3, 41, false)];
    let mut c = Cluster::new(FailoverMode::Auto, &[1, 1, 1], fakes);
    let t0 = Instant::now();
    c.start_all().await;
    let (master, epoch) = c.converged(&[1, 2, 3]).await;
    eprintln!("bootstrap: group formed and first master recorded in {} ms", t0.elapsed().as_millis());
    assert_eq!((master, epoch), (2, 3), "the existing master is recorded at its own epoch");
    c.obeyed(&[1, 2, 3], 2, 3).await;
    c.writable(2).await;
    assert!(!c.ctrl(1).may_accept_writes() && !c.ctrl(3).may_accept_writes(), "only the master holds a lease");
    let initialized: Vec<u64> = (1..=3).filter(|id| c.ctrl(*id).initialized_here()).collect();
    assert_eq!(initialized, vec![1], "only the lowest id initializes, once");
    let view = c.ctrl(3).view();
    let rec = view.last_failover.clone().expect("bootstrap record");
    assert_eq!((rec.old_master, rec.new_master, rec.epoch), (None, 2, 3));
    wait_for("every member is seen healthy", || {
        c.ctrl(3).view().members.iter().all(|m| m.health == MemberHealth::Healthy && m.applied_offset.is_some())
    })
    .await;
    assert_eq!(c.ctrl(3).view().members[1].applied_offset, Some(42), "positions come from the probes");

    // Restart node 1 (the initializer): persisted vote and log, no second initialization.
    let term_before = c.ctrl(1).view().term;
    c.stop(1).await;
    c.start(1).await;
    assert_eq!(c.converged(&[1, 2, 3]).await, (2, 3));
    assert!(!c.ctrl(1).initialized_here(), "a restart never re-initializes");
    assert!(c.ctrl(1).view().term >= term_before, "the vote survived the restart");

    // Node 1 loses its data dir: it must rejoin the existing group, not form a new one. The others
    // compacted their logs first, so it can only catch up through a snapshot.
    c.stop(1).await;
    c.ctrl(2).compact_log().await;
    c.ctrl(3).compact_log().await;
    std::fs::remove_dir_all(&c.dirs[0]).expect("wipe");
    c.start(1).await;
    assert_eq!(c.converged(&[1, 2, 3]).await, (2, 3));
    assert!(!c.ctrl(1).initialized_here(), "a wiped lowest id rejoins instead of initializing");
    assert_eq!(c.ctrl(1).view().last_failover, view.last_failover, "it caught up with the committed state");
    wait_for("the snapshot was installed on disk", || c.dirs[0].join("cluster/snapshot.json").exists()).await;

    // Vote and log survive a restart: node 1, restarted alone (nobody to learn from), comes back
    // with exactly the vote and log it had.
    c.stop(2).await;
    c.stop(3).await;
    let node1 = c.ctrls[0].take().expect("running");
    node1.shutdown().await;
    let before = node1.raft_state();
    drop(node1);
    c.start(1).await;
    wait_for("node 1 loaded its log", || c.ctrl(1).raft_state().1.is_some()).await;
    assert_eq!(c.ctrl(1).raft_state(), before, "vote term and last log index after restart");

    // After the whole-cluster restart nobody initialized and the master gets its lease again.
    c.start(2).await;
    c.start(3).await;
    assert_eq!(c.converged(&[1, 2, 3]).await, (2, 3));
    assert!((1..=3).all(|id| !c.ctrl(id).initialized_here()));
    c.writable(2).await;
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_mode_records_no_master_until_one_is_proposed() {
    let fakes = vec![FakeNode::new(1, 0, false), FakeNode::new(1, 0, false), FakeNode::new(1, 0, false)];
    let mut c = Cluster::new(FailoverMode::Manual, &[1, 1, 0], fakes);
    c.start_all().await;
    wait_for("a leader is elected", || c.leader(&[1, 2, 3]).is_some()).await;
    // Nobody is master and the mode is manual: the controller must not invent one. Wait for a
    // full round of probes by every node before checking.
    wait_for("every node probed its peers", || {
        c.views(&[1, 2, 3]).iter().all(|v| v.members.iter().all(|m| m.health == MemberHealth::Healthy))
    })
    .await;
    assert!(c.views(&[1, 2, 3]).iter().all(|v| v.master_id.is_none()));
    let err = c.ctrl(1).propose_master(3).await.expect_err("priority 0");
    assert!(err.to_string().contains("priority 0"), "{err}");
    // The operator promotes node 3... no: node 2, from a follower or the leader alike.
    c.ctrl(3).propose_master(2).await.expect("propose");
    assert_eq!(c.converged(&[1, 2, 3]).await, (2, 2));
    c.obeyed(&[1, 2, 3], 2, 2).await;
    c.writable(2).await;
    // A planned switchover: the old master stops accepting writes before the new one is told.
    c.ctrl(1).propose_master(1).await.expect("switchover");
    assert_eq!(c.converged(&[1, 2, 3]).await, (1, 3));
    c.obeyed(&[1, 2, 3], 1, 3).await;
    let promoted = c.fake(1).calls().into_iter().find(|r| r.call == Call::BecomeMaster { epoch: 3 }).expect("call");
    assert_eq!(promoted.others_writable, Some(false), "node 2 still accepted writes when node 1 was promoted");
    c.writable(1).await;
    assert!(!c.ctrl(2).may_accept_writes());
    // The rejoined old master reports what it discarded.
    c.ctrl(2).report_discarded(3, 7).await.expect("report");
    wait_for("the report is visible everywhere", || {
        c.views(&[1, 2, 3]).iter().all(|v| v.last_failover.as_ref().and_then(|f| f.ops_discarded) == Some(7))
    })
    .await;
    assert!(c.ctrl(3).report_discarded(3, 1).await.is_err(), "only the old master reports");
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolated_master_is_fenced_before_the_best_replica_is_appointed() {
    // 1 master; 2 behind; 3 and 4 equally ahead (3 has the higher priority); 5 furthest ahead but
    // priority 0.
    let fakes = vec![
        FakeNode::new(1, 100, true),
        FakeNode::new(1, 90, false),
        FakeNode::new(1, 95, false),
        FakeNode::new(1, 95, false),
        FakeNode::new(1, 99, false),
    ];
    let mut c = Cluster::new(FailoverMode::Auto, &[1, 1, 2, 1, 0], fakes);
    c.start_all().await;
    let all = [1, 2, 3, 4, 5];
    assert_eq!(c.converged(&all).await, (1, 1));
    c.obeyed(&all, 1, 1).await;
    c.writable(1).await;

    let isolated_at = Instant::now();
    c.ctrl(1).set_isolated(true);
    let others = [2, 3, 4, 5];
    let mut lost_lease_at = None;
    let mut appointed_at = None;
    wait_for("a new master is committed", || {
        if lost_lease_at.is_none() && !c.ctrl(1).may_accept_writes() {
            lost_lease_at = Some(Instant::now());
        }
        let committed = c.views(&others).iter().any(|v| v.epoch > 1 && v.master_id.is_some());
        if committed && appointed_at.is_none() {
            appointed_at = Some(Instant::now());
        }
        committed && lost_lease_at.is_some()
    })
    .await;
    let (lost, appointed) = (lost_lease_at.expect("lost"), appointed_at.expect("appointed"));
    assert!(lost < appointed, "the old master lost its lease before the appointment was observed");
    eprintln!(
        "failover: lease lost {} ms and new master committed {} ms after isolating the master",
        (lost - isolated_at).as_millis(),
        (appointed - isolated_at).as_millis()
    );
    // The lease bound itself: from isolation + lease on, the master refuses writes for good.
    tokio::time::sleep((isolated_at + LEASE).saturating_duration_since(Instant::now())).await;
    assert!(!c.ctrl(1).may_accept_writes());

    let (master, epoch) = c.converged(&others).await;
    assert_eq!(master, 3, "highest (epoch, applied) among priority > 0, tie broken by priority");
    assert_eq!(epoch, 2);
    c.obeyed(&others, 3, 2).await;
    let promoted = c.fake(3).calls().into_iter().find(|r| r.call == Call::BecomeMaster { epoch: 2 }).expect("promoted");
    assert_eq!(promoted.others_writable, Some(false), "the isolated master still accepted writes");
    assert!(promoted.at > lost);
    c.writable(3).await;
    let rec = c.ctrl(2).view().last_failover.expect("record");
    assert_eq!((rec.old_master, rec.new_master, rec.epoch), (Some(1), 3, 2));
    assert_eq!(rec.new_master_applied_offset, Some(95));
    assert!(rec.reason.contains("master 1 renewed no lease"), "{}", rec.reason);
    wait_for("the isolated node is reported unreachable", || {
        c.ctrl(2).view().members[0].health == MemberHealth::Unreachable
    })
    .await;

    // Heal: the old master learns the new state, follows, and never regains write permission.
    c.ctrl(1).set_isolated(false);
    assert_eq!(c.converged(&all).await, (3, 2));
    c.obeyed(&all, 3, 2).await;
    assert!(!c.ctrl(1).may_accept_writes());
    assert!(c.fake(5).calls().iter().all(|r| !matches!(r.call, Call::BecomeMaster { .. })), "priority 0 promoted");
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_keeps_the_master_and_killing_the_master_replaces_it() {
    let fakes = vec![FakeNode::new(1, 10, false), FakeNode::new(1, 10, false), FakeNode::new(1, 10, false)];
    let mut c = Cluster::new(FailoverMode::Auto, &[1, 1, 1], fakes);
    c.start_all().await;
    let all = [1, 2, 3];
    let (mut master, mut epoch) = c.converged(&all).await;
    let leader = c.leader(&all).expect("leader");
    if leader == master {
        // Put the master elsewhere so that leader and master are different nodes.
        let other = all.iter().copied().find(|id| *id != leader).expect("other");
        c.ctrl(leader).propose_master(other).await.expect("move master");
        (master, epoch) = c.converged(&all).await;
    }
    c.obeyed(&all, master, epoch).await;
    c.writable(master).await;
    let leader = c.leader(&all).expect("leader");
    assert_ne!(leader, master);

    // Kill the leader: a new leader is elected, the master keeps its role and epoch.
    let killed_at = Instant::now();
    c.stop(leader).await;
    let survivors: Vec<u64> = c.running();
    let mut paused: Option<Instant> = None;
    let mut resumed: Option<Instant> = None;
    let mut elected: Option<Instant> = None;
    // The master renews through the new leader (its lease may lapse while there is none).
    wait_for("a new leader is elected and the master renews through it", || {
        let writable = c.ctrl(master).may_accept_writes();
        if !writable && paused.is_none() {
            paused = Some(Instant::now());
        }
        if writable && paused.is_some() && resumed.is_none() {
            resumed = Some(Instant::now());
        }
        if elected.is_none() && c.views(&survivors).iter().all(|v| v.leader_id.is_some_and(|l| l != leader)) {
            elected = Some(Instant::now());
        }
        elected.is_some_and(|e| e.elapsed() > LEASE) && writable
    })
    .await;
    let elected = elected.expect("elected");
    let paused_ms = match (paused, resumed) {
        (Some(p), Some(r)) => (r - p).as_millis(),
        _ => 0,
    };
    eprintln!(
        "election: new controller leader known {} ms after the leader was killed; master writes paused {paused_ms} ms",
        (elected - killed_at).as_millis(),
    );
    assert_eq!(c.converged(&survivors).await, (master, epoch), "a leader change is not a failover");
    c.start(leader).await;
    assert_eq!(c.converged(&all).await, (master, epoch));

    // Kill the master: the controller appoints another node.
    let killed_at = Instant::now();
    c.stop(master).await;
    let survivors: Vec<u64> = c.running();
    let deadline = Instant::now() + PATIENCE;
    let (new_master, new_epoch) = loop {
        let (m, e) = c.converged(&survivors).await;
        if e > epoch {
            break (m, e);
        }
        assert!(Instant::now() < deadline, "timed out waiting for a new epoch after the master stopped");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    eprintln!("failover: new master committed {} ms after the master was killed", killed_at.elapsed().as_millis());
    assert_ne!(new_master, master);
    assert_eq!(new_epoch, epoch + 1);
    c.obeyed(&survivors, new_master, new_epoch).await;
    c.writable(new_master).await;
    // The old master comes back as a replica of the new one.
    c.start(master).await;
    assert_eq!(c.converged(&all).await, (new_master, new_epoch));
    c.obeyed(&all, new_master, new_epoch).await;
    assert!(!c.ctrl(master).may_accept_writes());
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failover_cycles_end_in_one_consistent_view() {
    let fakes = vec![FakeNode::new(1, 0, false), FakeNode::new(1, 0, false), FakeNode::new(1, 0, false)];
    let mut c = Cluster::new(FailoverMode::Auto, &[1, 1, 1], fakes);
    c.start_all().await;
    let all = [1, 2, 3];
    let (mut master, mut epoch) = c.converged(&all).await;
    let first_epoch = epoch;
    let mut durations = Vec::new();
    for cycle in 0..5 {
        c.obeyed(&all, master, epoch).await;
        c.writable(master).await;
        let started = Instant::now();
        c.ctrl(master).set_isolated(true);
        let others: Vec<u64> = all.iter().copied().filter(|id| *id != master).collect();
        let deadline = Instant::now() + PATIENCE;
        let (m, e) = loop {
            let (m, e) = c.converged(&others).await;
            if e > epoch {
                break (m, e);
            }
            assert!(Instant::now() < deadline, "timed out waiting for a new epoch after isolating the master");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        durations.push(started.elapsed().as_millis());
        assert_ne!(m, master, "cycle {cycle}");
        assert!(!c.ctrl(master).may_accept_writes(), "cycle {cycle}: isolated master still writable");
        c.ctrl(master).set_isolated(false);
        (master, epoch) = (m, e);
        assert_eq!(c.converged(&all).await, (master, epoch), "cycle {cycle}");
    }
    eprintln!("failover: 5 cycles took {durations:?} ms (isolation -> new master committed)");
    c.obeyed(&all, master, epoch).await;
    c.writable(master).await;
    assert_eq!(epoch, first_epoch + 5);
    let views = c.views(&all);
    for v in &views {
        assert_eq!(
            (v.epoch, v.master_id, &v.last_failover),
            (views[0].epoch, views[0].master_id, &views[0].last_failover)
        );
        assert!(!v.fenced);
    }
    assert_eq!(views.iter().filter(|v| v.writes_allowed).count(), 1, "exactly one writable master");
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_wrong_id_and_self_connections_are_refused() {
    let fakes = vec![FakeNode::new(1, 0, true), FakeNode::new(1, 0, false), FakeNode::new(1, 0, false)];
    let mut c = Cluster::new(FailoverMode::Auto, &[1, 1, 1], fakes);
    c.start_all().await;
    let addr1 = c.configs[0].nodes[0].raft.clone();
    let addrs = |pairs: &[(u64, &str)]| pairs.iter().map(|(id, a)| (*id, a.to_string())).collect::<BTreeMap<_, _>>();

    // A wrong secret: the dialer detects that node 1 cannot prove *its* secret...
    let t = Transport::new(2, addrs(&[(1, &addr1), (2, "127.0.0.1:1")]), Some("wrong"));
    let err = t.connect(1).await.expect_err("wrong secret");
    assert!(err.to_string().contains("did not prove the shared secret"), "{err}");
    // ...and node 1 refuses a dialer whose proof is wrong.
    let refusal =
        raw_handshake(&addr1, Hello { version: PROTOCOL_VERSION, from: 2, to: 1, nonce: [1; 32] }, true).await;
    assert_eq!(refusal, Some(Refusal::AuthFailed));

    // A dialer that meant node 3 but reached node 1 (wrong address in its config).
    let t = Transport::new(2, addrs(&[(3, &addr1), (2, "127.0.0.1:1")]), Some("s3cret"));
    let err = t.connect(3).await.expect_err("wrong node");
    assert!(matches!(&err, CoreError::PeerRefused { code, .. } if code == "wrong_node"), "{err}");
    // An id that is not a member, and a dialer claiming node 1's own id.
    let t = Transport::new(9, addrs(&[(1, &addr1), (9, "127.0.0.1:1")]), Some("s3cret"));
    let err = t.connect(1).await.expect_err("unknown");
    assert!(matches!(&err, CoreError::PeerRefused { code, .. } if code == "unknown_peer"), "{err}");
    let refusal =
        raw_handshake(&addr1, Hello { version: PROTOCOL_VERSION, from: 1, to: 1, nonce: [1; 32] }, false).await;
    assert_eq!(refusal, Some(Refusal::SelfConnection { id: 1 }));
    // A node never dials itself, whatever its config says.
    let t = Transport::new(1, addrs(&[(1, &addr1)]), Some("s3cret"));
    assert!(t.connect(1).await.is_err());
    // The right credentials work.
    let t = Transport::new(2, addrs(&[(1, &addr1), (2, "127.0.0.1:1")]), Some("s3cret"));
    t.connect(1).await.expect("right secret and ids");
    // Garbage before authentication is cut off without harm.
    let mut s = TcpStream::connect(&addr1).await.expect("connect");
    tokio::io::AsyncWriteExt::write_all(&mut s, &u32::MAX.to_le_bytes()).await.expect("write");

    // None of this disturbed the cluster.
    assert_eq!(c.converged(&[1, 2, 3]).await, (1, 1));
    c.writable(1).await;
    c.stop_all().await;
}

/// Runs the dialer side of the handshake by hand; returns the listener's refusal, if any.
/// `send_proof`: answer the challenge with a bogus proof.
async fn raw_handshake(addr: &str, hello: Hello, send_proof: bool) -> Option<Refusal> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let mut conn = Conn::new(stream, "test".into());
    conn.send(&hello).await.expect("hello");
    match conn.recv::<ServerHello>(HANDSHAKE_MAX_BYTES, Duration::from_secs(5)).await.expect("server hello") {
        ServerHello::Refused(r) => return Some(r),
        ServerHello::Challenge { .. } => assert!(send_proof, "expected a refusal"),
    }
    conn.send(&ClientProof { proof: [0; 32] }).await.expect("proof");
    match conn.recv::<Admission>(HANDSHAKE_MAX_BYTES, Duration::from_secs(5)).await.expect("admission") {
        Admission::Refused(r) => Some(r),
        Admission::Welcome => None,
    }
}

#[tokio::test]
async fn two_node_auto_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = ClusterConfig::new(1, nodes(&[1, 1]));
    cfg.failover = FailoverMode::Auto;
    let err = Controller::start(cfg, dir.path(), FakeNode::new(1, 0, true)).await.expect_err("refused");
    assert_eq!(
        err.to_string(),
        "cluster.nodes: failover = \"auto\" needs at least 3 nodes (a majority must survive one failure), got 2"
    );
}
