//! Automatic failover in cluster mode, across real processes on loopback (issue "Automatic
//! failover on an openraft controller"): every inter-node link goes through a fault proxy
//! ([`FailoverCluster`]). Each test checks data, not just status codes: acknowledged writes are
//! read back from the new master, and the cluster ends with equal digests on every node.
//!
//! Timings (tests): failover_timeout 4 s, lease 2 s, Raft heartbeat 150 ms, elections 0.7-1.4 s.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use vectorizer_sdk_types::{ClusterView, ReplicationRole};
use vectorizer_tests::cluster::{digest, status};
use vectorizer_tests::failover::{ClusterSpec, FailoverCluster, signal};
use vectorizer_tests::poll::poll_until;
use vectorizer_tests::{Http, Node, NodeOptions, StartFailure};

use crate::common::get_point;
use crate::replication::{COLL, DIM, vector};

/// Generous deadline for convergence on the shared machine.
const CONVERGE: Duration = Duration::from_secs(90);

/// The result of one write: the HTTP status and error code (`None` on success or no answer).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    status: u16,
    code: Option<String>,
}

/// Upserts point `i` with the durability `w` (`"1"`, `"majority"`, `"all"`).
fn upsert_w(http: &Http, i: u64, w: &str) -> Outcome {
    let body = json!({"vectors": [{"id": format!("p{i}"), "vector": vector(i), "payload": {"i": i}}]});
    match http.put_json(&format!("/api/v1/collections/{COLL}/vectors?w={w}&timeout_ms=3000"), &body) {
        Ok(r) => Outcome { status: r.status, code: r.error_code() },
        Err(_) => Outcome { status: 0, code: None },
    }
}

/// Upserts `range` with `w` and asserts every write was acknowledged.
#[track_caller]
fn write_ok(node: &Node, range: std::ops::Range<u64>, w: &str) {
    let http = node.http();
    for i in range {
        let o = upsert_w(&http, i, w);
        assert_eq!(o.status, 200, "write p{i} with w={w}: {o:?}");
    }
}

/// Creates the test collection on the master with `w=majority`.
#[track_caller]
fn create_majority(node: &Node) {
    let body = json!({"name": COLL, "dimension": DIM, "metric": "cosine"});
    let r = node.http().post_json("/api/v1/collections?w=majority&timeout_ms=10000", &body).expect("create");
    assert_eq!(r.status, 201, "create: {}", r.text());
}

/// Asserts `ids` are all readable on `node`.
#[track_caller]
fn assert_present(node: &Node, ids: impl IntoIterator<Item = u64>) {
    let http = node.http();
    let missing: Vec<u64> = ids.into_iter().filter(|i| get_point(&http, COLL, &format!("p{i}")).is_none()).collect();
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
}

/// Waits until every running node in `ids` reports the same digest as `master`; returns it.
#[track_caller]
fn wait_digests_equal(c: &FailoverCluster, master: u64, ids: &[u64]) {
    poll_until(CONVERGE, "equal digests on every node", || {
        let want = digest(c.node(master));
        ids.iter().all(|&id| digest(c.node(id)) == want).then_some(())
    });
}

/// Waits until `id` is a replica following `master` (per its replication status).
#[track_caller]
fn wait_follows(c: &FailoverCluster, id: u64, master: u64) {
    // The master address a node follows is its own proxy to that master.
    let proxy = c.link(id, master).repl.addr().to_string();
    poll_until(CONVERGE, "the node follows the new master", || {
        let st = status(c.node(id));
        let stats = st.stats?;
        (st.role == ReplicationRole::Replica && stats.master.as_deref() == Some(proxy.as_str())).then_some(())
    });
}

/// Ids of the others.
fn others(c: &FailoverCluster, id: u64) -> Vec<u64> {
    c.ids().into_iter().filter(|&x| x != id).collect()
}

/// kill -9 of the master under a stream of `w=majority` writes: a new master within
/// failover_timeout + 5 s, no acknowledged write lost, the old master rejoins as a replica and
/// every digest matches; the spec's stats follow the role swap.
#[test]
fn kill9_master_under_majority_writes_loses_no_acknowledged_write() {
    let mut c = FailoverCluster::start(ClusterSpec::default());
    let old = c.wait_master();
    create_majority(c.node(old));
    write_ok(c.node(old), 0..20, "majority");

    // A writer streams w=majority writes at the master; it stops at the first failure.
    let stop = Arc::new(AtomicBool::new(false));
    let http = c.node(old).http().with_timeout(Duration::from_secs(10));
    let s = Arc::clone(&stop);
    let writer = std::thread::spawn(move || {
        let mut acked = BTreeSet::new();
        let mut i = 1000;
        while !s.load(Ordering::SeqCst) {
            if upsert_w(&http, i, "majority").status != 200 {
                break;
            }
            acked.insert(i);
            i += 1;
        }
        acked
    });
    poll_until(CONVERGE, "the writer acknowledged some writes", || {
        (status(c.node(old)).stats.and_then(|s| s.master_offset).unwrap_or(0) > 40).then_some(())
    });
    let killed_at = Instant::now();
    c.node_mut(old).kill9();
    stop.store(true, Ordering::SeqCst);
    let acked = writer.join().expect("writer thread");
    assert!(!acked.is_empty(), "the stream acknowledged nothing before the kill");

    let limit = Duration::from_millis(c.spec.failover_timeout_ms) + Duration::from_secs(5);
    let new = c.wait_master_among(&others(&c, old), limit);
    eprintln!("new master {new} after {:?} (limit {limit:?})", killed_at.elapsed());
    assert_present(c.node(new), (0..20).chain(acked.iter().copied()));

    // Writes continue at majority with the old master down (2 of 3 voters).
    write_ok(c.node(new), 2000..2010, "majority");
    let view = c.view(new);
    let failover = view.last_failover.clone().expect("last failover recorded");
    assert_eq!((failover.old_master, failover.new_master), (Some(old), new), "{view:?}");
    // /metrics reports the same controller view.
    let metrics = c.node(new).http().get("/metrics").expect("metrics").text();
    for line in [
        format!("vectorizer_cluster_master_id {new}"),
        format!("vectorizer_cluster_epoch {}", view.epoch),
        "vectorizer_cluster_writes_allowed 1".to_owned(),
        format!("vectorizer_cluster_member_healthy{{member=\"{old}\"}} 0"),
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing {line:?} in\n{metrics}");
    }

    // The old master rejoins as a replica and converges.
    c.node_mut(old).restart();
    wait_follows(&c, old, new);
    wait_digests_equal(&c, new, &c.ids());
    assert_present(c.node(old), acked.iter().copied());

    // Stats across the failover: roles swapped, both replicas connected, syncs recorded, no lag.
    let st = poll_until(CONVERGE, "two connected replicas, no lag", || {
        let st = status(c.node(new));
        let s = st.stats.clone()?;
        (s.connected_replicas == Some(2) && s.operations_pending == 0).then_some(st)
    });
    assert_eq!(st.role, ReplicationRole::Master);
    for id in others(&c, new) {
        let st = status(c.node(id));
        assert_eq!(st.role, ReplicationRole::Replica, "node {id}");
        let s = st.stats.expect("stats");
        assert!(s.last_sync.is_some(), "node {id}: {s:?}");
        assert_eq!(s.epoch, status(c.node(new)).stats.and_then(|m| m.epoch), "node {id} at the new epoch");
    }
}

/// SIGSTOP the master past the failover timeout, then SIGCONT: a new master takes over, the old
/// one never accepts a w=majority write again and demotes; the w=1 writes it took after the fork
/// point (its replicas could not receive them) are discarded, counted and reported.
#[test]
fn sigstopped_master_demotes_and_discards_its_writes_after_the_fork() {
    let c = FailoverCluster::start(ClusterSpec::default());
    let old = c.wait_master();
    create_majority(c.node(old));
    write_ok(c.node(old), 0..20, "majority");

    // The replicas stop receiving; the master keeps its lease and takes 5 writes at w=1.
    c.cut_replication_from(old);
    write_ok(c.node(old), 100..105, "1");
    signal(c.node(old), libc::SIGSTOP);
    let new = c.wait_master_among(&others(&c, old), CONVERGE);
    write_ok(c.node(new), 200..210, "majority");
    c.heal_replication_from(old);
    signal(c.node(old), libc::SIGCONT);

    // From now on the old master never acknowledges a w=majority write.
    let http = c.node(old).http();
    poll_until(CONVERGE, "the old master follows the new one", || {
        let o = upsert_w(&http, 300, "majority");
        assert_ne!(o.status, 200, "the old master acknowledged a w=majority write after the failover");
        (c.role(old) == ReplicationRole::Replica).then_some(())
    });
    wait_follows(&c, old, new);
    wait_digests_equal(&c, new, &c.ids());

    let http_new = c.node(new).http();
    for i in 100..105 {
        assert!(get_point(&http_new, COLL, &format!("p{i}")).is_none(), "p{i} was never replicated");
        assert!(get_point(&http, COLL, &format!("p{i}")).is_none(), "p{i} must be truncated on the old master");
    }
    assert_present(c.node(old), (0..20).chain(200..210));
    let discarded = status(c.node(old)).stats.and_then(|s| s.ops_discarded_on_rejoin);
    assert_eq!(discarded, Some(5), "ops_discarded_on_rejoin");
    let metrics = c.node(old).http().get("/metrics").expect("metrics").text();
    assert!(metrics.lines().any(|l| l == "vectorizer_replication_ops_discarded_on_rejoin_total 5"), "{metrics}");
    let view = poll_until(CONVERGE, "the controller records the discarded operations", || {
        let v = c.view(new);
        (v.last_failover.as_ref()?.ops_discarded == Some(5)).then_some(v)
    });
    assert_eq!(view.last_failover.and_then(|f| f.old_master), Some(old));
}

/// The master cut off from every other node: the isolated side refuses writes with `no_quorum`
/// once its lease ran out, the majority side appoints a new master, and after healing the old
/// master rejoins as a replica.
#[test]
fn isolated_master_refuses_writes_and_the_majority_moves_on() {
    let c = FailoverCluster::start(ClusterSpec::default());
    let old = c.wait_master();
    create_majority(c.node(old));
    write_ok(c.node(old), 0..10, "majority");

    c.isolate(old);
    let isolated_at = Instant::now();
    let http = c.node(old).http();
    let lease = Duration::from_millis(c.spec.lease_ms);
    poll_until(lease + Duration::from_secs(5), "the isolated master refuses writes", || {
        let o = upsert_w(&http, 500, "1");
        (o.status == 503 && o.code.as_deref() == Some("no_quorum")).then_some(())
    });
    eprintln!("isolated master refused writes after {:?} (lease {lease:?})", isolated_at.elapsed());
    let view = c.view(old);
    assert!(!view.writes_allowed, "{view:?}");

    let new = c.wait_master_among(&others(&c, old), CONVERGE);
    write_ok(c.node(new), 10..20, "majority");
    // Still isolated: still refused.
    let o = upsert_w(&http, 501, "1");
    assert_eq!((o.status, o.code.as_deref()), (503, Some("no_quorum")), "{o:?}");

    c.heal(old);
    wait_follows(&c, old, new);
    wait_digests_equal(&c, new, &c.ids());
    assert_present(c.node(old), 0..20);
}

/// The controller leader and the master on different nodes: killing the controller leader
/// changes neither the master nor the epoch; killing the master then fails over.
#[test]
fn controller_leader_and_master_on_different_nodes_kill_either() {
    let mut c = FailoverCluster::start(ClusterSpec::default());
    let mut master = c.wait_master();
    create_majority(c.node(master));
    let leader = poll_until(CONVERGE, "a controller leader", || c.view(master).leader_id);
    if leader == master {
        // Move the master away from the leader with an operator promotion (through the controller).
        let target = others(&c, leader)[0];
        let r = c.node(target).http().post_empty("/api/v1/replication/promote").expect("promote");
        assert_eq!(r.status, 200, "promote: {}", r.text());
        master = c.wait_master_among(&[target], CONVERGE);
    }
    let leader = poll_until(CONVERGE, "a controller leader", || c.view(master).leader_id);
    assert_ne!(leader, master);
    write_ok(c.node(master), 0..10, "majority");
    let epoch = c.view(master).epoch;

    // Kill the controller leader: a new leader is elected; the master keeps its role and epoch.
    c.node_mut(leader).kill9();
    poll_until(CONVERGE, "a new controller leader", || c.view(master).leader_id.filter(|&l| l != leader));
    let again = c.wait_master_among(&[master], CONVERGE);
    assert_eq!(again, master);
    assert_eq!(c.view(master).epoch, epoch, "no failover when only the controller leader died");
    // Majority of the voters: the master and the remaining replica.
    write_ok(c.node(master), 10..20, "majority");
    c.node_mut(leader).restart();
    wait_digests_equal(&c, master, &c.ids());

    // Kill the master: the controller fails over.
    c.node_mut(master).kill9();
    let new = c.wait_master_among(&others(&c, master), CONVERGE);
    assert!(c.view(new).epoch > epoch);
    assert_present(c.node(new), 0..20);
    c.node_mut(master).restart();
    wait_follows(&c, master, new);
    wait_digests_equal(&c, new, &c.ids());
}

/// A node with priority 0 is never promoted, neither automatically nor by an operator.
#[test]
fn priority_zero_is_never_promoted() {
    let spec = ClusterSpec { priorities: vec![100, 100, 0], ..ClusterSpec::default() };
    let mut c = FailoverCluster::start(spec);
    let old = c.wait_master();
    assert_ne!(old, 3, "node 3 has priority 0");
    create_majority(c.node(old));
    write_ok(c.node(old), 0..10, "majority");
    let r = c.node(3).http().post_empty("/api/v1/replication/promote").expect("promote");
    assert_eq!((r.status, r.error_code().as_deref()), (400, Some("invalid_argument")), "{}", r.text());

    c.node_mut(old).kill9();
    let new = c.wait_master_among(&others(&c, old), CONVERGE);
    assert_ne!(new, 3, "the priority-0 node was promoted");
    let view: ClusterView = c.view(3);
    assert_eq!(view.master_id, Some(new));
    assert_present(c.node(new), 0..10);
    c.node_mut(old).restart();
    wait_follows(&c, old, new);
    wait_digests_equal(&c, new, &c.ids());
}

/// Five failovers in a row (kill -9 the master, restart it as a replica): every acknowledged
/// write survives and each rejoin costs at most one full sync.
#[test]
fn five_failover_cycles_with_a_bounded_number_of_full_syncs() {
    let mut c = FailoverCluster::start(ClusterSpec::default());
    let mut master = c.wait_master();
    create_majority(c.node(master));
    let mut next = 0;
    for cycle in 0..5 {
        write_ok(c.node(master), next..next + 10, "majority");
        next += 10;
        c.node_mut(master).kill9();
        let new = c.wait_master_among(&others(&c, master), CONVERGE);
        assert_present(c.node(new), 0..next);
        c.node_mut(master).restart();
        wait_follows(&c, master, new);
        wait_digests_equal(&c, new, &c.ids());
        eprintln!("cycle {cycle}: master {master} -> {new}");
        master = new;
    }
    let full_syncs: u64 =
        others(&c, master).iter().map(|&id| status(c.node(id)).stats.and_then(|s| s.full_syncs).unwrap_or(0)).sum();
    assert!(full_syncs <= 5, "{full_syncs} full syncs over 5 failovers");
    assert_present(c.node(master), 0..next);
}

/// `failover = "auto"` with two nodes is refused at start-up, saying why.
#[test]
fn two_node_automatic_failover_is_refused_at_start_up() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("cluster.toml");
    let text = "[cluster]\nnode_id = 1\nfailover = \"auto\"\n\
        [[cluster.nodes]]\nid = 1\nhttp = \"127.0.0.1:15901\"\nrepl = \"127.0.0.1:17901\"\nraft = \"127.0.0.1:17911\"\n\
        [[cluster.nodes]]\nid = 2\nhttp = \"127.0.0.1:15902\"\nrepl = \"127.0.0.1:17902\"\nraft = \"127.0.0.1:17912\"\n";
    std::fs::write(&path, text).expect("write config");
    let opts = NodeOptions::default().args(["--config", path.to_str().expect("utf-8")]);
    match Node::try_start(opts) {
        Err(StartFailure::Exited { status, stderr }) => {
            assert_eq!(status.code(), Some(2), "{stderr}");
            assert!(stderr.contains("cluster.nodes") && stderr.contains("at least 3 nodes"), "{stderr}");
        }
        other => panic!("a 2-node automatic cluster must not start: {other:?}"),
    }
}
