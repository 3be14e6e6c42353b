//! Replica client tests: real loopback sockets, real engines in temporary directories, and a
//! scripted master (`scripted_master`) feeding records read from a real master engine's log and a
//! real snapshot from `snapshot_for_sync()`. Waits poll with deadlines; nothing sleeps to
//! synchronise.

mod scripted_master;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vectorizer_sdk_types as wire;
use vectorizer_sdk_types::{ReplicaStatus, ReplicationRole};

use super::health;
use crate::engine::{Engine, EngineConfig, NodeRole};
use crate::error::CoreError;
use crate::replication::config::ReplicationConfig;
use crate::replication::frame::Frame;
use crate::replication::history::EpochHistory;
use crate::replication::link::LinkState;
use crate::replication::node::{Counters, RoleState, Shared};
use crate::replication::registry::Registry;
use crate::replication::{Replication, stats};
use crate::storage::log::Record;
use scripted_master::{DEADLINE, MASTER_HTTP, ScriptedMaster, records_from};

const SECRET: &str = "s3cret";

fn engine_config(dir: &std::path::Path) -> EngineConfig {
    let mut c = EngineConfig::new(dir);
    c.index_threads = 1;
    c.snapshot_every_ops = 0;
    c.snapshot_every_secs = 0;
    c
}

fn open_engine(dir: &std::path::Path) -> Arc<Engine> {
    Engine::open(engine_config(dir)).expect("open engine")
}

fn repl_config(secret: &str) -> ReplicationConfig {
    let mut c = ReplicationConfig::new("127.0.0.1:0", "127.0.0.1:15003");
    c.auth_secret = Some(secret.to_owned());
    c.heartbeat_interval = Duration::from_millis(500);
    c.health.disconnect_timeout = Duration::from_secs(10);
    c.reconnect_min = Duration::from_millis(10);
    c.reconnect_max = Duration::from_millis(200);
    c.node_id = Some("replica-1".into());
    c
}

/// A hand-built runtime state for a replica of `master`, as `Replication::start` would make it.
fn replica_shared(engine: Arc<Engine>, config: ReplicationConfig, master: &str) -> Arc<Shared> {
    engine.set_role(NodeRole::Replica { master_http: None });
    let history = EpochHistory::new(engine.epoch().max(1), 1);
    Arc::new(Shared {
        engine,
        node_id: config.node_id.clone().unwrap_or_else(|| "replica-1".into()),
        config,
        announce_repl: "127.0.0.1:7002".into(),
        role: Mutex::new(RoleState { role: ReplicationRole::Replica, master: Some(master.to_owned()), history }),
        counters: Counters::default(),
        registry: Registry::default(),
        link: LinkState::default(),
        save_lock: Mutex::new(()),
        discarded: tokio::sync::watch::Sender::new(None),
        rollback_failed: std::sync::atomic::AtomicBool::new(false),
        newer_epoch_seen: tokio::sync::watch::Sender::new(0),
    })
}

/// A running replica client.
struct Client {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Client {
    fn start(shared: Arc<Shared>, master: &str) -> Client {
        let cancel = CancellationToken::new();
        let task = tokio::spawn(super::run(shared.clone(), master.to_owned(), cancel.clone()));
        Client { shared, cancel, task }
    }

    async fn stop(self) -> Arc<Shared> {
        self.cancel.cancel();
        tokio::time::timeout(DEADLINE, self.task).await.expect("run stops promptly").expect("run task");
        self.shared
    }
}

/// Polls `cond` until it holds or the deadline passes.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn point(id: &str, vector: Vec<f32>) -> wire::PointInput {
    wire::PointInput { id: id.into(), vector, payload: None }
}

fn create(engine: &Engine, name: &str, dim: u32) {
    engine
        .create_collection(&wire::CreateCollectionRequest {
            name: name.into(),
            dimension: dim,
            metric: wire::Metric::Cosine,
            hnsw: None,
        })
        .expect("create collection");
}

/// Collection "c" (dimension 4) with `n` points, one upsert each.
fn populate(engine: &Engine, from: usize, n: usize) {
    if from == 0 {
        create(engine, "c", 4);
    }
    for i in from..from + n {
        engine
            .upsert("c", wire::UpsertRequest { vectors: vec![point(&format!("p{i}"), vec![i as f32, 1.0, 0.5, 2.0])] })
            .expect("upsert");
    }
}

fn counter(c: &AtomicU64) -> u64 {
    c.load(Ordering::SeqCst)
}

fn last_error(shared: &Shared) -> Option<String> {
    shared.link.inner.lock().last_error.clone()
}

fn link_up(shared: &Shared) -> bool {
    shared.link.inner.lock().link_up
}

#[tokio::test]
async fn continue_applies_records_acks_durable_offsets_and_counts_the_sync_once() {
    let (mdir, rdir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let master = open_engine(mdir.path());
    populate(&master, 0, 20);
    let replica = open_engine(rdir.path());
    let m = ScriptedMaster::bind(SECRET).await;
    let client = Client::start(replica_shared(replica.clone(), repl_config(SECRET), &m.addr), &m.addr);
    let shared = client.shared.clone();
    let history = EpochHistory::new(1, 1);

    let (mut conn, hello) = m.accept_authenticated().await;
    let hello = hello.expect("the right secret is accepted");
    assert_eq!((hello.replica_id.as_str(), hello.applied_offset), ("replica-1", 0));
    assert_eq!(hello.history, EpochHistory::new(1, 1));
    let last = master.last_offset();
    conn.continue_from(0, &history, last).await;
    assert_eq!(conn.acks_until(0).await, vec![0], "a caught-up position is acknowledged at once");
    let records = records_from(&master, 1);
    conn.send_records(&records[..10], last).await;
    conn.send_records(&records[10..], last).await;
    let acks = conn.acks_until(last).await;
    let durable = replica.log().durable_offset();
    assert!(acks.windows(2).all(|w| w[0] <= w[1]), "acks never go back: {acks:?}");
    assert!(acks.iter().all(|a| *a <= durable), "every ack was durable when sent: {acks:?} vs {durable}");
    assert_eq!(replica.digest(), master.digest());
    assert_eq!(records_from(&replica, 1), records, "records are stored exactly as the master wrote them");

    // The sync completed once, as a partial sync; the stats agree.
    eventually("sync counted", || counter(&shared.counters.partial_syncs) == 1).await;
    assert_eq!(counter(&shared.counters.full_syncs), 0);
    let last_sync = counter(&shared.counters.last_sync_ms);
    assert!(last_sync > 0);
    let s = stats::replica_stats(&shared, crate::engine::now_ms());
    assert_eq!(s.status, Some(ReplicaStatus::Connected));
    assert_eq!((s.operations_pending, s.master_offset, s.applied_offset), (0, Some(last), Some(last)));
    assert_eq!(shared.history(), history, "the master's history is adopted");

    // Client writes are refused and name the master's HTTP address.
    let err = replica
        .upsert("c", wire::UpsertRequest { vectors: vec![point("x", vec![1.0, 2.0, 3.0, 4.0])] })
        .expect_err("read only");
    assert!(matches!(err, CoreError::ReadOnlyReplica { master: Some(ref h) } if h == MASTER_HTTP), "{err}");

    // The master keeps writing: a heartbeat, then more records; still one sync.
    populate(&master, 20, 5);
    let last = master.last_offset();
    conn.send(&Frame::MasterHeartbeat { epoch: 1, master_last_offset: last, master_time_ms: 1 }).await;
    conn.send_records(&records_from(&master, 21), last).await;
    assert_eq!(conn.acks_until(last).await.last(), Some(&last));
    assert_eq!(replica.digest(), master.digest());
    assert_eq!(counter(&shared.counters.partial_syncs), 1, "a sync is counted once");

    // Byte counters equal what the scripted master counted on its side of the socket.
    let shared = client.stop().await;
    let frames = conn.frames_until_closed().await;
    assert!(frames.iter().all(|f| matches!(f, Frame::Ack { .. })), "{frames:?}");
    let (m_read, m_written) = m.bytes();
    assert_eq!(counter(&shared.counters.bytes_received), m_written);
    assert_eq!(counter(&shared.counters.bytes_sent), m_read);
    assert!(!link_up(&shared));
    replica.shutdown().expect("shutdown");
    master.shutdown().expect("shutdown");
}

#[tokio::test]
async fn wrong_secret_is_refused_the_link_is_down_and_reconnects_back_off() {
    let rdir = tempfile::tempdir().expect("tempdir");
    let replica = open_engine(rdir.path());
    let m = Arc::new(ScriptedMaster::bind("the-right-secret").await);
    let mut config = repl_config("a-wrong-secret");
    config.reconnect_min = Duration::from_millis(10);
    config.reconnect_max = Duration::from_secs(30);
    let client = Client::start(replica_shared(replica.clone(), config, &m.addr), &m.addr);
    let shared = client.shared.clone();

    let attempts = Arc::new(AtomicU64::new(0));
    let refuser = {
        let (m, attempts) = (m.clone(), attempts.clone());
        tokio::spawn(async move {
            loop {
                let (_conn, hello) = m.accept_authenticated().await;
                assert!(hello.is_none(), "a wrong proof must not verify");
                attempts.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    eventually("three refused attempts", || counter(&attempts) >= 3).await;
    assert!(!link_up(&shared));
    let error = last_error(&shared).expect("the link records why it is down");
    assert!(error.contains("AuthFailed"), "{error}");
    assert_eq!(replica.last_offset(), 0);

    // Without backoff a 10 ms retry would connect ~100 times a second; with it the delays double
    // (10, 20, 40, ... ms), so a one-second window holds only a handful of attempts.
    let before = counter(&attempts);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let in_window = counter(&attempts) - before;
    assert!(in_window <= 10, "{in_window} attempts in one second: the reconnects do not back off");

    client.stop().await;
    refuser.abort();
    replica.shutdown().expect("shutdown");
}

/// A master whose snapshot is followed by more writes, and a replica with unrelated state.
struct FullSyncSetup {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    master: Arc<Engine>,
    replica: Arc<Engine>,
    snapshot: std::path::PathBuf,
    manifest: crate::storage::snapshot::SnapshotManifest,
}

fn full_sync_setup(big: bool) -> FullSyncSetup {
    let (mdir, rdir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let master = open_engine(mdir.path());
    populate(&master, 0, 30);
    if big {
        // More than one snapshot chunk (1 MiB each).
        create(&master, "big", 256);
        for batch in 0..12 {
            let vectors = (0..100)
                .map(|i| point(&format!("b{batch}-{i}"), (0..256).map(|d| (batch * 100 + i + d) as f32).collect()))
                .collect();
            master.upsert("big", wire::UpsertRequest { vectors }).expect("upsert big");
        }
    }
    let (snapshot, manifest) = master.snapshot_for_sync().expect("snapshot for sync");
    populate(&master, 30, 5);
    let replica = open_engine(rdir.path());
    create(&replica, "stale", 2);
    for i in 0..40 {
        replica
            .upsert("stale", wire::UpsertRequest { vectors: vec![point(&format!("s{i}"), vec![1.0, 2.0])] })
            .expect("stale");
    }
    replica.snapshot_now().expect("stale snapshot");
    FullSyncSetup { _dirs: (mdir, rdir), master, replica, snapshot, manifest }
}

#[tokio::test]
async fn full_sync_installs_the_snapshot_then_streams_records() {
    let s = full_sync_setup(false);
    let staging = s.replica.staging_dir();
    std::fs::create_dir_all(&staging).expect("staging");
    std::fs::write(staging.join("snapshot-00000000000000000007.snap.1.2.tmp"), b"half a file").expect("stale tmp");
    std::fs::write(staging.join("snapshot-00000000000000000003.snap"), b"an old staged file").expect("stale");
    let m = ScriptedMaster::bind(SECRET).await;
    let client = Client::start(replica_shared(s.replica.clone(), repl_config(SECRET), &m.addr), &m.addr);
    let shared = client.shared.clone();

    let (mut conn, hello) = m.accept_authenticated().await;
    assert_eq!(hello.expect("authenticated").applied_offset, s.replica.last_offset());
    let history = EpochHistory::new(1, 1);
    conn.send(&Frame::FullSyncStart {
        manifest: s.manifest.clone(),
        history: history.clone(),
        master_http: MASTER_HTTP.into(),
    })
    .await;
    conn.send_snapshot(&s.snapshot, 0, &[], true).await;
    // Nothing before the installation: the first frame is the ack of the snapshot's offset.
    assert_eq!(conn.read().await, Frame::Ack { applied_offset: s.manifest.offset });
    assert_eq!(s.replica.last_offset(), s.manifest.offset);
    assert!(matches!(s.replica.collection_info("stale"), Err(CoreError::CollectionNotFound { .. })));
    assert!(shared.link.inner.lock().syncing, "the sync completes only once the stream caught up");
    assert_eq!(counter(&shared.counters.full_syncs), 0);
    let left: Vec<_> = std::fs::read_dir(&staging).expect("staging").collect();
    assert!(left.is_empty(), "stale staging files are removed: {left:?}");

    let last = s.master.last_offset();
    conn.send_records(&records_from(&s.master, s.manifest.offset + 1), last).await;
    conn.acks_until(last).await;
    assert_eq!(s.replica.digest(), s.master.digest());
    eventually("full sync counted", || counter(&shared.counters.full_syncs) == 1).await;
    assert_eq!(counter(&shared.counters.partial_syncs), 0);
    assert_eq!(shared.history(), history);
    let st = stats::replica_stats(&shared, crate::engine::now_ms());
    assert_eq!(st.status, Some(ReplicaStatus::Connected));
    assert_eq!(st.sync_progress, None);

    client.stop().await;
    s.replica.shutdown().expect("shutdown");
    s.master.shutdown().expect("shutdown");
}

#[tokio::test]
async fn a_corrupted_chunk_is_asked_for_again_and_the_sync_succeeds() {
    let s = full_sync_setup(true);
    assert!(s.manifest.chunks >= 2, "the test needs several chunks, got {}", s.manifest.chunks);
    let m = ScriptedMaster::bind(SECRET).await;
    let client = Client::start(replica_shared(s.replica.clone(), repl_config(SECRET), &m.addr), &m.addr);
    let shared = client.shared.clone();

    let (mut conn, _) = m.accept_authenticated().await;
    let history = EpochHistory::new(1, 1);
    conn.send(&Frame::FullSyncStart { manifest: s.manifest.clone(), history, master_http: MASTER_HTTP.into() }).await;
    conn.send_snapshot(&s.snapshot, 0, &[0], true).await;
    assert_eq!(conn.read().await, Frame::ChunkRetry { index: 0 });
    // Go-back-N: chunk 0 and everything after it again, then the end.
    conn.send_snapshot(&s.snapshot, 0, &[], true).await;
    assert_eq!(conn.read().await, Frame::Ack { applied_offset: s.manifest.offset });
    let last = s.master.last_offset();
    conn.send(&Frame::MasterHeartbeat { epoch: 1, master_last_offset: last, master_time_ms: 1 }).await;
    conn.send_records(&records_from(&s.master, s.manifest.offset + 1), last).await;
    conn.acks_until(last).await;
    assert_eq!(s.replica.digest(), s.master.digest());
    eventually("full sync counted", || counter(&shared.counters.full_syncs) == 1).await;

    client.stop().await;
    s.replica.shutdown().expect("shutdown");
    s.master.shutdown().expect("shutdown");
}

#[tokio::test]
async fn a_chunk_that_keeps_failing_ends_the_session_after_three_retries() {
    let s = full_sync_setup(false);
    let before = s.replica.digest();
    let m = ScriptedMaster::bind(SECRET).await;
    let client = Client::start(replica_shared(s.replica.clone(), repl_config(SECRET), &m.addr), &m.addr);
    let shared = client.shared.clone();

    let (mut conn, _) = m.accept_authenticated().await;
    let history = EpochHistory::new(1, 1);
    conn.send(&Frame::FullSyncStart { manifest: s.manifest.clone(), history, master_http: MASTER_HTTP.into() }).await;
    conn.send_snapshot(&s.snapshot, 0, &[0], true).await;
    for _ in 0..3 {
        assert_eq!(conn.read().await, Frame::ChunkRetry { index: 0 });
        conn.send_snapshot(&s.snapshot, 0, &[0], true).await;
    }
    assert_eq!(conn.frames_until_closed().await, vec![], "no fourth retry, no ack");
    eventually("link down", || !link_up(&shared) && last_error(&shared).is_some()).await;
    assert_eq!(s.replica.digest(), before, "the old state is untouched");
    assert_eq!(counter(&shared.counters.full_syncs), 0);

    client.stop().await;
    s.replica.shutdown().expect("shutdown");
    s.master.shutdown().expect("shutdown");
}

#[tokio::test]
async fn a_silent_master_is_disconnected_after_the_timeout_and_lag_keeps_growing() {
    let (mdir, rdir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let master = open_engine(mdir.path());
    populate(&master, 0, 5);
    let replica = open_engine(rdir.path());
    let m = ScriptedMaster::bind(SECRET).await;
    let mut config = repl_config(SECRET);
    config.heartbeat_interval = Duration::from_millis(100);
    config.health.disconnect_timeout = Duration::from_millis(500);
    let client = Client::start(replica_shared(replica.clone(), config, &m.addr), &m.addr);
    let shared = client.shared.clone();

    let (mut conn, _) = m.accept_authenticated().await;
    let last = master.last_offset();
    conn.continue_from(0, &EpochHistory::new(1, 1), last).await;
    conn.send_records(&records_from(&master, 1), last).await;
    conn.acks_until(last).await;
    eventually("synced", || counter(&shared.counters.partial_syncs) == 1).await;
    let last_sync = counter(&shared.counters.last_sync_ms);

    // The master now says nothing (the connection stays open).
    eventually("link down after the timeout", || !link_up(&shared)).await;
    health::on_tick(&shared, crate::engine::now_ms());
    assert_eq!(shared.link.inner.lock().last_status, Some(ReplicaStatus::Disconnected));
    let first = stats::replica_stats(&shared, crate::engine::now_ms());
    assert_eq!(first.status, Some(ReplicaStatus::Disconnected));
    assert!(first.link_down_since.is_some());
    eventually("lag grows", || stats::replica_stats(&shared, crate::engine::now_ms()).lag_ms > first.lag_ms).await;
    assert_eq!(counter(&shared.counters.last_sync_ms), last_sync, "last_sync does not move while disconnected");
    assert!(last_error(&shared).is_some());

    client.stop().await;
    drop(conn);
    replica.shutdown().expect("shutdown");
    master.shutdown().expect("shutdown");
}

#[tokio::test]
async fn a_stale_epoch_or_a_record_outside_the_epochs_drops_the_link() {
    let (mdir, rdir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let master = open_engine(mdir.path());
    populate(&master, 0, 5);
    let replica = open_engine(rdir.path());
    let m = ScriptedMaster::bind(SECRET).await;
    // Far longer than the test's deadline: only the fence can close the connection in time.
    let mut config = repl_config(SECRET);
    config.health.disconnect_timeout = Duration::from_secs(600);
    let client = Client::start(replica_shared(replica.clone(), config, &m.addr), &m.addr);
    let shared = client.shared.clone();
    let history = EpochHistory::new(2, 1);
    let last = master.last_offset();

    // A heartbeat from an epoch older than the one the replica adopted: stale master.
    let (mut conn, _) = m.accept_authenticated().await;
    conn.continue_from(0, &history, last).await;
    conn.send(&Frame::MasterHeartbeat { epoch: 1, master_last_offset: last, master_time_ms: 1 }).await;
    conn.frames_until_closed().await;
    eventually("link down", || !link_up(&shared)).await;

    // A record from an epoch newer than the master's: protocol violation, nothing applied.
    let (mut conn, _) = m.accept_authenticated().await;
    conn.continue_from(0, &history, last).await;
    let mut records = records_from(&master, 1);
    records[2].epoch = 3;
    conn.send_records(&records, last).await;
    conn.frames_until_closed().await;
    assert_eq!(replica.last_offset(), 0, "a frame that fails the fence is not applied at all");

    // A record older than the one before it: protocol violation.
    let (mut conn, _) = m.accept_authenticated().await;
    conn.continue_from(0, &history, last).await;
    let mut records = records_from(&master, 1);
    for r in &mut records {
        r.epoch = 2;
    }
    records[3].epoch = 1;
    conn.send_records(&records, last).await;
    conn.frames_until_closed().await;
    assert_eq!(replica.last_offset(), 0);

    client.stop().await;
    replica.shutdown().expect("shutdown");
    master.shutdown().expect("shutdown");
}

#[tokio::test]
async fn a_gap_drops_the_link_and_the_next_handshake_resumes_from_the_applied_offset() {
    let (mdir, rdir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let master = open_engine(mdir.path());
    populate(&master, 0, 10);
    let replica = open_engine(rdir.path());
    let m = ScriptedMaster::bind(SECRET).await;
    let client = Client::start(replica_shared(replica.clone(), repl_config(SECRET), &m.addr), &m.addr);
    let history = EpochHistory::new(1, 1);
    let last = master.last_offset();
    let records = records_from(&master, 1);

    let (mut conn, _) = m.accept_authenticated().await;
    conn.continue_from(0, &history, last).await;
    conn.send_records(&records[..4], last).await;
    conn.acks_until(4).await;
    let with_gap: Vec<Record> = records[6..].to_vec();
    conn.send_records(&with_gap, last).await;
    conn.frames_until_closed().await;
    assert_eq!(replica.last_offset(), 4);

    let (mut conn, hello) = m.accept_authenticated().await;
    assert_eq!(hello.expect("authenticated").applied_offset, 4);
    conn.continue_from(4, &history, last).await;
    conn.send_records(&records[4..], last).await;
    conn.acks_until(last).await;
    assert_eq!(replica.digest(), master.digest());

    client.stop().await;
    replica.shutdown().expect("shutdown");
    master.shutdown().expect("shutdown");
}

#[tokio::test]
async fn cancellation_stops_run_promptly_mid_handshake_and_during_backoff() {
    let rdir = tempfile::tempdir().expect("tempdir");
    let replica = open_engine(rdir.path());
    let mut config = repl_config(SECRET);
    config.health.disconnect_timeout = Duration::from_secs(600);
    config.reconnect_min = Duration::from_secs(600);
    config.reconnect_max = Duration::from_secs(600);

    // A master that accepts and never answers the Hello.
    let m = ScriptedMaster::bind(SECRET).await;
    let client = Client::start(replica_shared(replica.clone(), config.clone(), &m.addr), &m.addr);
    let mut conn = m.accept().await;
    assert!(matches!(conn.read().await, Frame::Hello { .. }));
    let started = Instant::now();
    let shared = client.stop().await;
    assert!(started.elapsed() < Duration::from_secs(60), "far below the 600 s read deadline");
    assert!(!link_up(&shared));

    // Nothing listens: the first attempt fails and the client sleeps the 600 s backoff.
    let unused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    let client = Client::start(replica_shared(replica.clone(), config, &unused), &unused);
    let shared = client.shared.clone();
    eventually("the connection failed", || last_error(&shared).is_some()).await;
    let started = Instant::now();
    client.stop().await;
    assert!(started.elapsed() < Duration::from_secs(60), "far below the 600 s backoff");
    replica.shutdown().expect("shutdown");
}

#[tokio::test]
async fn replication_start_follows_a_master_and_reports_replica_stats() {
    let (mdir, rdir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let master = open_engine(mdir.path());
    populate(&master, 0, 8);
    let replica = open_engine(rdir.path());
    let m = ScriptedMaster::bind(SECRET).await;
    let mut config = repl_config(SECRET);
    config.replica_of = Some(m.addr.clone());
    let node = Replication::start(replica.clone(), config).await.expect("start");

    let (mut conn, hello) = m.accept_authenticated().await;
    assert_eq!(hello.expect("authenticated").replica_id, node.node_id());
    let last = master.last_offset();
    conn.continue_from(0, &EpochHistory::new(1, 1), last).await;
    conn.send_records(&records_from(&master, 1), last).await;
    conn.acks_until(last).await;
    assert_eq!(replica.digest(), master.digest());
    eventually("connected", || {
        node.status().stats.is_some_and(|s| s.status == Some(ReplicaStatus::Connected) && s.partial_syncs == Some(1))
    })
    .await;
    let status = node.status();
    assert_eq!(status.role, ReplicationRole::Replica);
    let stats = status.stats.expect("stats");
    assert_eq!(stats.master.as_deref(), Some(m.addr.as_str()));
    assert_eq!(stats.applied_offset, Some(last));
    assert!(stats.bytes_received > 0 && stats.bytes_sent > 0);

    node.shutdown().await;
    replica.shutdown().expect("shutdown");
    master.shutdown().expect("shutdown");
}

/// Apply-to-visible latency: the scripted master sends one record per frame at 1000 ops/s and a
/// thread spins on the replica until each point is readable. Prints p50 / p99 / max.
/// Run: `cargo test -p vectorizer-core --release apply_to_visible_latency -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints numbers"]
async fn apply_to_visible_latency() {
    const OPS: usize = 3000;
    let (mdir, rdir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let master = open_engine(mdir.path());
    populate(&master, 0, OPS);
    let replica = open_engine(rdir.path());
    let m = ScriptedMaster::bind(SECRET).await;
    let client = Client::start(replica_shared(replica.clone(), repl_config(SECRET), &m.addr), &m.addr);
    let (mut conn, _) = m.accept_authenticated().await;
    let records = records_from(&master, 1);
    conn.continue_from(0, &EpochHistory::new(1, 1), 2).await;
    conn.send_records(&records[..2], 2).await;
    conn.acks_until(2).await;

    let watcher = {
        let replica = replica.clone();
        std::thread::spawn(move || {
            let mut seen = Vec::with_capacity(OPS);
            for i in 1..OPS {
                let id = format!("p{i}");
                while replica.get_point("c", &id).is_err() {
                    std::thread::yield_now();
                }
                seen.push(Instant::now());
            }
            seen
        })
    };
    let scripted_master::MasterConn { mut reader, mut writer } = conn;
    let last = master.last_offset();
    let acks = tokio::spawn(async move {
        let mut count = 0u64;
        loop {
            match reader.read(DEADLINE).await.expect("ack") {
                Frame::Ack { applied_offset } if applied_offset >= last => return count + 1,
                Frame::Ack { .. } => count += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
    });
    // Record offset r (point p{r-2}) for r in 3..=last: one frame each, every millisecond.
    let mut sent = Vec::with_capacity(OPS);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    for r in &records[2..] {
        tick.tick().await;
        let frame = Frame::Records { master_last_offset: r.offset, records: vec![r.clone()] };
        sent.push(Instant::now());
        writer.write(&frame).await.expect("send");
    }
    let seen = tokio::task::spawn_blocking(move || watcher.join().expect("watcher")).await.expect("join");
    let ack_frames = acks.await.expect("acks");
    let mut micros: Vec<u128> =
        sent.iter().zip(&seen).map(|(s, v)| v.saturating_duration_since(*s).as_micros()).collect();
    micros.sort_unstable();
    let pct = |p: f64| micros[((micros.len() as f64 * p) as usize).min(micros.len() - 1)];
    eprintln!(
        "apply-to-visible over {} single-record frames at 1000/s: p50 {} us, p99 {} us, p99.9 {} us, max {} us; {} acks; replica fsyncs {}",
        micros.len(),
        pct(0.50),
        pct(0.99),
        pct(0.999),
        micros[micros.len() - 1],
        ack_frames,
        replica.fsync_count()
    );
    client.stop().await;
    replica.shutdown().expect("shutdown");
    master.shutdown().expect("shutdown");
}
