//! The v1.2.0 status document and the byte counters, against what the scripted replicas saw.

use vectorizer_sdk_types::{ReplicaStatus, ReplicationRole};

use super::*;
use crate::engine::now_ms;
use crate::replication::stats;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_counters_equal_what_crossed_the_sockets() {
    let master = Master::start().await;
    let shared = master.shared().clone();

    // A refused peer's bytes count on the node, not on any replica.
    let mut intruder = Peer::connect(master.addr(), "intruder").await;
    intruder.hello(PROTOCOL_VERSION, master.history(), 0).await;
    intruder.prove("wrong").await;
    intruder.expect_closed(|f| matches!(f, Frame::Refused { .. })).await;

    let last = master.write(20);
    let (mut peer, _) = Peer::join(master.addr(), "r-1", master.history(), 0).await;
    peer.records_until(last).await;
    peer.send(&Frame::Ack { applied_offset: last }).await;
    let last = master.write_points(5, 50, 200);
    peer.records_until(last).await;
    peer.send(&Frame::Ack { applied_offset: last }).await;
    let entry = master.entry("r-1");
    eventually("ack recorded", || load(&entry.acked_offset) == last).await;

    let peers_sent = load(&intruder.sent) + load(&peer.sent);
    let peers_received = load(&intruder.received) + load(&peer.received);
    eventually("every byte counted", || {
        load(&shared.counters.bytes_received) == peers_sent && load(&shared.counters.bytes_sent) == peers_received
    })
    .await;
    assert_eq!(load(&entry.bytes_sent), load(&peer.received), "per replica: its own socket, Challenge included");
    assert!(load(&intruder.received) > 0);
    let status = master.repl.status();
    let s = status.stats.expect("stats");
    assert_eq!((s.bytes_sent, s.bytes_received), (peers_received, peers_sent));
    assert_eq!(status.replicas.expect("replicas")[0].bytes_sent, Some(load(&peer.received)));
    master.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_stats_follow_the_definitions() {
    let master = Master::start().await;
    let shared = master.shared().clone();
    let synced = master.write(10);
    let (mut fast, _) = Peer::join(master.addr(), "fast", master.history(), 0).await;
    let (mut slow, _) = Peer::join(master.addr(), "slow", master.history(), 0).await;
    fast.records_until(synced).await;
    slow.records_until(synced).await;
    fast.send(&Frame::Ack { applied_offset: synced }).await;
    slow.send(&Frame::Ack { applied_offset: 6 }).await;
    let (fast_entry, slow_entry) = (master.entry("fast"), master.entry("slow"));
    eventually("acks recorded", || load(&fast_entry.acked_offset) == synced && load(&slow_entry.acked_offset) == 6)
        .await;

    let seventh = master.log_from(7)[0].timestamp_ms;
    let now = now_ms().max(seventh + 2_000);
    let status = stats::status(&shared, now);
    assert_eq!(status.role, ReplicationRole::Master);
    let s = status.stats.expect("stats");
    let replicas = status.replicas.expect("replicas");
    let fast_info = replicas.iter().find(|r| r.id == "fast").expect("fast");
    let slow_info = replicas.iter().find(|r| r.id == "slow").expect("slow");
    assert_eq!((fast_info.status, fast_info.lag_ms), (ReplicaStatus::Connected, 0));
    assert_eq!(fast_info.acked_offset, Some(synced));
    assert_eq!(fast_info.operations_synced, synced);
    assert_eq!(fast_info.partial_syncs, Some(1));
    assert_eq!((fast_info.host.as_str(), fast_info.port), ("127.0.0.1", 15003));
    // The slow one still syncs (it has not acked the master's last offset as of its sync's start);
    // its lag is the age of its oldest unacknowledged op, record 7.
    assert_eq!(slow_info.status, ReplicaStatus::Syncing);
    assert_eq!(slow_info.lag_ms, now - seventh);
    assert_eq!(slow_info.operations_synced, 6);
    assert_eq!(s.connected_replicas, Some(2));
    assert_eq!(s.operations_pending, synced - 6, "master last - min acked over connected");
    assert_eq!(s.lag_ms, now - seventh, "max over connected");
    assert_eq!(s.master_offset, Some(synced));
    assert_eq!(s.partial_syncs, Some(1));
    assert_eq!(s.full_syncs, Some(0));
    assert!(s.last_sync.is_some());

    // Once the slow replica drops, it stays listed with its last state but stops counting.
    drop(slow);
    eventually("slow link down", || !slow_entry.facts.lock().link_up).await;
    let status = stats::status(&shared, now_ms());
    let s = status.stats.expect("stats");
    assert_eq!(s.connected_replicas, Some(1));
    assert_eq!((s.operations_pending, s.lag_ms), (0, 0));
    let replicas = status.replicas.expect("replicas");
    let slow_info = replicas.iter().find(|r| r.id == "slow").expect("slow still listed");
    assert_eq!(slow_info.status, ReplicaStatus::Disconnected);
    assert_eq!(slow_info.acked_offset, Some(6));
    assert!(slow_info.last_error.is_some());
    drop(fast);
    master.stop().await;
}
