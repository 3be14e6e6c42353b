//! Replica health: heartbeats, lagging and dead replicas, disconnected replicas (both views), the
//! list of replicas, and replicas with different lags.

use std::time::{Duration, Instant};

use serde_json::json;
use vectorizer_sdk_types::ReplicaStatus;
use vectorizer_tests::cluster::{
    digest, replica_info, replicas, status, stderr_lines, wait_caught_up, wait_converged, wait_status, wait_stderr,
};
use vectorizer_tests::{Direction, ReplSettings, poll_until};

use super::{COLL, Writer, create, ts_ms, write_points};
use crate::common::get_point;

/// Spec: "Healthy replica tracking" — with heartbeats (every 200 ms here) the replica is
/// Connected, its last_heartbeat keeps advancing without any write, and its lag is under 50 ms.
#[test]
fn healthy_replica_tracking() {
    let s = ReplSettings::default();
    let master = s.master();
    let replica = s.replica(master.repl_addr());
    create(&master);
    write_points(&master, 0..10);
    wait_caught_up(&master, &replica);
    let id = replica.node_id();
    let first = poll_until(vectorizer_tests::cluster::WAIT, "replica Connected", || {
        replica_info(&master, &id).filter(|i| i.status == ReplicaStatus::Connected)
    });
    let h1 = ts_ms(&first.last_heartbeat);
    // No writes from here on: only heartbeats move last_heartbeat.
    let later = poll_until(vectorizer_tests::cluster::WAIT, "last_heartbeat advances", || {
        replica_info(&master, &id).filter(|i| ts_ms(&i.last_heartbeat) > h1)
    });
    let later2 = poll_until(vectorizer_tests::cluster::WAIT, "last_heartbeat advances again", || {
        replica_info(&master, &id).filter(|i| ts_ms(&i.last_heartbeat) > ts_ms(&later.last_heartbeat))
    });
    for info in [&later, &later2] {
        assert_eq!(info.status, ReplicaStatus::Connected, "{info:?}");
        assert!(info.lag_ms < 50, "{info:?}");
    }
    let own = status(&replica).stats.expect("stats");
    assert_eq!(own.status, Some(ReplicaStatus::Connected));
    wait_caught_up(&master, &replica);
}

/// Spec: "Lagging replica detection" — a link delayed beyond lagging_threshold_ms under writes
/// makes the replica Lagging, a warning is logged once, writes continue; without the delay it
/// returns to Connected and converges.
#[test]
fn lagging_replica_detection() {
    let s = ReplSettings::default();
    let master = s.master();
    let replica = s.replica_via_proxy(&master);
    let id = replica.node.node_id();
    create(&master);
    write_points(&master, 0..10);
    wait_caught_up(&master, &replica.node);

    replica.proxy.set_delay(Direction::UpstreamToClient, Duration::from_millis(1000));
    let writer = Writer::start(&master, 100);
    let lagging = poll_until(vectorizer_tests::cluster::WAIT, "replica Lagging", || {
        replica_info(&master, &id).filter(|i| i.status == ReplicaStatus::Lagging)
    });
    assert!(lagging.lag_ms > 300, "{lagging:?}");
    // Operations continue while it lags.
    let at_lagging = writer.written();
    poll_until(vectorizer_tests::cluster::WAIT, "writes keep being acknowledged", || {
        (writer.written() > at_lagging + 5).then_some(())
    });
    wait_stderr(&master, &["WARN", &id, "Lagging"]);

    replica.proxy.set_delay(Direction::UpstreamToClient, Duration::ZERO);
    let written = writer.stop();
    poll_until(vectorizer_tests::cluster::WAIT, "replica Connected again", || {
        replica_info(&master, &id).filter(|i| i.status == ReplicaStatus::Connected && i.lag_ms == 0)
    });
    let d = wait_caught_up(&master, &replica.node);
    assert_eq!(d.applied_offset, 1 + 10 + written);
    assert_eq!(stderr_lines(&master, &["WARN", &id, "Lagging"]), 1, "the transition is logged once");
}

/// Spec: "Dead replica detection" — a replica silent for disconnect_timeout_ms (stalled link)
/// becomes Disconnected, leaves the active set, and the master keeps serving the other replica.
#[test]
fn dead_replica_detection() {
    let s = ReplSettings::default();
    let master = s.master();
    let r1 = s.replica(master.repl_addr());
    let r2 = s.replica_via_proxy(&master);
    let id2 = r2.node.node_id();
    create(&master);
    write_points(&master, 0..10);
    wait_converged(&master, &[&r1, &r2.node]);
    wait_status(&master, "2 connected", |st| (st.stats.as_ref()?.connected_replicas == Some(2)).then_some(()));

    let stalled_at = Instant::now();
    r2.proxy.stall();
    let st = wait_status(&master, "r2 Disconnected and 1 connected replica", |st| {
        let r = st.replicas.as_ref()?.iter().find(|r| r.id == id2)?;
        (r.status == ReplicaStatus::Disconnected && st.stats.as_ref()?.connected_replicas == Some(1))
            .then(|| st.clone())
    });
    let waited = stalled_at.elapsed();
    // Not declared dead early: the last frame was heard at most one heartbeat before the stall.
    assert!(waited >= Duration::from_millis(2000 - 200 - 100), "declared dead after only {waited:?}");
    assert_eq!(st.replicas.as_ref().map(Vec::len), Some(2), "the dead replica stays listed");

    // The master keeps accepting writes and the other replica keeps converging.
    write_points(&master, 10..30);
    let d = wait_caught_up(&master, &r1);
    assert_eq!(d.collections[0].points, 30);
    let dead = replica_info(&master, &id2).expect("listed");
    assert_eq!(dead.status, ReplicaStatus::Disconnected);
    assert_eq!(dead.acked_offset, Some(11), "last known state");
    wait_status(&master, "only the live replica counts for pending", |st| {
        (st.stats.as_ref()?.operations_pending == 0).then_some(())
    });

    // Back: it reconnects and converges.
    r2.proxy.resume();
    wait_converged(&master, &[&r1, &r2.node]);
    wait_status(&master, "2 connected again", |st| (st.stats.as_ref()?.connected_replicas == Some(2)).then_some(()));
}

/// Spec: "Disconnected replica shows status" — after the link is cut, the replica's lag keeps
/// increasing across reads, last_sync stays unchanged and its status is Disconnected.
#[test]
fn disconnected_replica_shows_status() {
    let s = ReplSettings::default();
    let master = s.master();
    let replica = s.replica_via_proxy(&master);
    create(&master);
    write_points(&master, 0..10);
    wait_caught_up(&master, &replica.node);
    let connected = wait_status(&replica.node, "replica Connected", |st| {
        st.stats.clone().filter(|x| x.status == Some(ReplicaStatus::Connected) && x.last_sync.is_some())
    });

    replica.proxy.refuse(true);
    replica.proxy.cut();
    let first = wait_status(&replica.node, "replica Disconnected", |st| {
        st.stats.clone().filter(|x| x.status == Some(ReplicaStatus::Disconnected))
    });
    write_points(&master, 10..20);
    let second =
        wait_status(&replica.node, "lag keeps increasing", |st| st.stats.clone().filter(|x| x.lag_ms > first.lag_ms));
    for x in [&first, &second] {
        assert_eq!(x.status, Some(ReplicaStatus::Disconnected), "{x:?}");
        assert_eq!(x.last_sync, connected.last_sync, "last_sync unchanged while disconnected");
        assert!(x.link_down_since.is_some(), "{x:?}");
    }
    assert_eq!(digest(&replica.node).applied_offset, 11, "nothing arrives while cut");

    replica.proxy.refuse(false);
    wait_caught_up(&master, &replica.node);
    let back = wait_status(&replica.node, "replica Connected again", |st| {
        st.stats.clone().filter(|x| x.status == Some(ReplicaStatus::Connected))
    });
    assert_eq!(back.link_down_since, None);
    assert!(
        ts_ms(back.last_sync.as_deref().expect("last_sync")) > ts_ms(connected.last_sync.as_deref().expect("before"))
    );
}

/// Testing requirement: "Disconnected replica handling" — the master dies: the replica reports
/// Disconnected, keeps serving reads, refuses writes naming the master, and continues (partial
/// sync) when the master comes back on the same address.
#[test]
fn disconnected_replica_handling() {
    let s = ReplSettings::default();
    let mut master = s.master();
    let replica = s.replica(master.repl_addr());
    create(&master);
    write_points(&master, 0..10);
    wait_caught_up(&master, &replica);
    let before = wait_status(&replica, "replica Connected", |st| {
        st.stats.clone().filter(|x| x.status == Some(ReplicaStatus::Connected))
    });
    let master_http = master.http_addr().to_string();

    master.kill9();
    let down = wait_status(&replica, "replica Disconnected", |st| {
        st.stats.clone().filter(|x| x.status == Some(ReplicaStatus::Disconnected))
    });
    assert!(down.link_down_since.is_some() && down.last_error.is_some(), "{down:?}");
    wait_status(&replica, "lag grows while the master is away", |st| {
        st.stats.as_ref().filter(|x| x.lag_ms > down.lag_ms).map(|_| ())
    });
    // Reads are served, writes are refused with the master's address.
    assert!(get_point(&replica.http(), COLL, "p3").is_some());
    let r = replica.http().post_json("/api/v1/collections", &json!({"name": "x", "dimension": 2})).expect("write");
    assert_eq!((r.status, r.error_code().as_deref()), (409, Some("read_only_replica")), "{}", r.text());
    assert_eq!(r.json()["error"]["master"], master_http.as_str());

    master.restart_on_same_ports();
    write_points(&master, 10..20);
    wait_caught_up(&master, &replica);
    let after = wait_status(&replica, "replica Connected again", |st| {
        st.stats
            .clone()
            .filter(|x| x.status == Some(ReplicaStatus::Connected) && x.partial_syncs > before.partial_syncs)
    });
    assert_eq!(after.full_syncs, before.full_syncs, "continued without a full sync");
    assert_eq!(after.link_down_since, None);
}

/// Spec: "List all replicas" — 3 replicas, 2 connected and 1 disconnected: all 3 listed with id,
/// host, port, status, lag and last heartbeat; connected ones show current lag, the disconnected
/// one its last known state.
#[test]
fn list_all_replicas() {
    let s = ReplSettings::default();
    let master = s.master();
    let mut nodes = s.replicas(&master, 3);
    let mut r3 = nodes.pop().expect("3 replicas");
    let (r2, r1) = (nodes.pop().expect("r2"), nodes.pop().expect("r1"));
    create(&master);
    write_points(&master, 0..10);
    wait_converged(&master, &[&r1, &r2, &r3]);
    wait_status(&master, "3 connected", |st| (st.stats.as_ref()?.connected_replicas == Some(3)).then_some(()));
    let id3 = r3.node_id();
    let port3 = r3.http_addr().port();
    let r3_before = poll_until(vectorizer_tests::cluster::WAIT, "r3 acked everything", || {
        replica_info(&master, &id3).filter(|i| i.acked_offset == Some(11))
    });

    r3.kill9();
    write_points(&master, 10..20);
    wait_converged(&master, &[&r1, &r2]);
    let st = wait_status(&master, "2 connected (caught up), 1 disconnected", |st| {
        let list = st.replicas.as_ref()?;
        let connected =
            list.iter().filter(|r| r.status == ReplicaStatus::Connected && r.acked_offset == Some(21)).count();
        let disconnected = list.iter().filter(|r| r.status == ReplicaStatus::Disconnected).count();
        (list.len() == 3 && connected == 2 && disconnected == 1).then(|| st.clone())
    });
    assert_eq!(st.stats.as_ref().and_then(|x| x.connected_replicas), Some(2));
    let list = replicas(&master);
    assert_eq!(list.len(), 3);
    for (node_id, port) in
        [(r1.node_id(), r1.http_addr().port()), (r2.node_id(), r2.http_addr().port()), (id3.clone(), port3)]
    {
        let info = list.iter().find(|r| r.id == node_id).unwrap_or_else(|| panic!("{node_id} listed: {list:?}"));
        assert_eq!((info.host.as_str(), info.port), ("127.0.0.1", port), "{info:?}");
        ts_ms(&info.last_heartbeat);
        if node_id == id3 {
            assert_eq!(info.status, ReplicaStatus::Disconnected);
            assert_eq!(info.acked_offset, Some(11), "last known state");
            assert_eq!(info.operations_synced, r3_before.operations_synced, "last known state");
            assert!(ts_ms(&info.last_heartbeat) >= ts_ms(&r3_before.last_heartbeat));
        } else {
            assert_eq!((info.status, info.lag_ms), (ReplicaStatus::Connected, 0), "current lag: {info:?}");
        }
    }
    // The disconnected replica's state is frozen across reads.
    let again = replica_info(&master, &id3).expect("listed");
    let first = list.iter().find(|r| r.id == id3).expect("listed");
    assert_eq!(
        (&again.last_heartbeat, again.acked_offset, again.operations_synced),
        (&first.last_heartbeat, first.acked_offset, first.operations_synced)
    );
}

/// Testing requirement: "Multiple replicas with different lag times" — the replica behind a
/// delaying link shows the higher lag and Lagging while the other stays Connected; both recover.
#[test]
fn multiple_replicas_with_different_lag_times() {
    let s = ReplSettings::default();
    let master = s.master();
    let mut pair = s.replicas_via_proxy(&master, 2);
    let (slow, fast) = (pair.pop().expect("slow"), pair.pop().expect("fast"));
    let (id_fast, id_slow) = (fast.node.node_id(), slow.node.node_id());
    create(&master);
    write_points(&master, 0..10);
    wait_converged(&master, &[&fast.node, &slow.node]);

    slow.proxy.set_delay(Direction::UpstreamToClient, Duration::from_millis(1000));
    let writer = Writer::start(&master, 100);
    let (f, sl) = wait_status(&master, "slow Lagging with the higher lag, fast Connected", |st| {
        let list = st.replicas.as_ref()?;
        let f = list.iter().find(|r| r.id == id_fast)?;
        let sl = list.iter().find(|r| r.id == id_slow)?;
        (sl.status == ReplicaStatus::Lagging && f.status == ReplicaStatus::Connected && sl.lag_ms > f.lag_ms)
            .then(|| (f.clone(), sl.clone()))
    });
    assert!(sl.lag_ms > 300 && f.lag_ms <= 300, "{f:?} {sl:?}");

    slow.proxy.set_delay(Direction::UpstreamToClient, Duration::ZERO);
    let written = writer.stop();
    let d = wait_converged(&master, &[&fast.node, &slow.node]);
    assert_eq!(d.applied_offset, 1 + 10 + written);
    wait_status(&master, "both Connected with no lag", |st| {
        let list = st.replicas.as_ref()?;
        list.iter().all(|r| r.status == ReplicaStatus::Connected && r.lag_ms == 0).then_some(())
    });
}
