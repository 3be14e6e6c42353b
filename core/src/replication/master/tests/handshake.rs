//! Handshake: authentication, version and role checks, replica limits, stale masters.

use super::*;
use crate::replication::frame::RefuseCode;

fn refused(frame: &Frame) -> RefuseCode {
    match frame {
        Frame::Refused { code, .. } => *code,
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_proof_gets_auth_failed_and_nothing_else() {
    let master = Master::start().await;
    master.write(3);

    let mut peer = Peer::connect(master.addr(), "intruder").await;
    peer.hello(PROTOCOL_VERSION, master.history(), 0).await;
    peer.prove("wrong secret").await;
    assert_eq!(refused(&peer.recv().await), RefuseCode::AuthFailed);
    peer.expect_closed(|_| false).await;

    // A peer that sends something else instead of the proof is refused the same way.
    let mut peer = Peer::connect(master.addr(), "intruder").await;
    peer.hello(PROTOCOL_VERSION, master.history(), 0).await;
    let Frame::Challenge { .. } = peer.recv().await else { panic!("expected a Challenge") };
    peer.send(&Frame::Ack { applied_offset: 3 }).await;
    assert_eq!(refused(&peer.recv().await), RefuseCode::AuthFailed);
    peer.expect_closed(|_| false).await;

    // A proof for another replica id does not pass either (the proof is bound to the id).
    let mut peer = Peer::connect(master.addr(), "r-1").await;
    peer.hello(PROTOCOL_VERSION, master.history(), 0).await;
    let Frame::Challenge { nonce, .. } = peer.recv().await else { panic!("expected a Challenge") };
    let proof = auth::proof(SECRET.as_bytes(), &nonce, "r-2");
    peer.send(&Frame::AuthProof { proof }).await;
    assert_eq!(refused(&peer.recv().await), RefuseCode::AuthFailed);
    peer.expect_closed(|_| false).await;

    assert!(master.shared().registry.entries().is_empty(), "refused peers are not registered");
    master.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn right_secret_gets_continue_with_the_masters_position() {
    let master = Master::start().await;
    let last = master.write(5);
    let (_peer, answer) = Peer::join(master.addr(), "r-1", master.history(), 2).await;
    assert_eq!(
        answer,
        Frame::Continue {
            from_offset: 3,
            history: master.history(),
            master_last_offset: last,
            master_http: MASTER_HTTP.into()
        }
    );
    let entry = master.entry("r-1");
    assert!(entry.facts.lock().link_up);
    assert_eq!(entry.announced.lock().port, 15003);
    master.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_protocol_version_is_refused() {
    let master = Master::start().await;
    let mut peer = Peer::connect(master.addr(), "r-1").await;
    peer.hello(PROTOCOL_VERSION + 1, master.history(), 0).await;
    let frame = peer.recv().await;
    assert_eq!(refused(&frame), RefuseCode::VersionMismatch);
    peer.expect_closed(|_| false).await;
    master.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_refuses_would_be_replicas() {
    // Nothing listens on port 9 of loopback: this node's own client just retries in the background.
    let mut cfg = repl_config();
    cfg.replica_of = Some("127.0.0.1:9".into());
    let node = Master::start_with(engine_config, cfg).await;
    let mut peer = Peer::connect(node.addr(), "r-1").await;
    peer.hello(PROTOCOL_VERSION, node.history(), 0).await;
    match peer.recv().await {
        Frame::Refused { code: RefuseCode::NotMaster, message } => {
            assert!(message.contains("127.0.0.1:9"), "{message}")
        }
        other => panic!("expected Refused{{NotMaster}}, got {other:?}"),
    }
    peer.expect_closed(|_| false).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_replicas_is_enforced_and_a_reconnect_replaces_its_old_session() {
    let mut cfg = repl_config();
    cfg.max_replicas = 1;
    let master = Master::start_with(engine_config, cfg).await;
    master.write(2);
    let (mut first, answer) = Peer::join(master.addr(), "r-1", master.history(), 2).await;
    assert!(matches!(answer, Frame::Continue { .. }), "{answer:?}");

    let (mut other, answer) = Peer::join(master.addr(), "r-2", master.history(), 2).await;
    assert_eq!(refused(&answer), RefuseCode::TooManyReplicas);
    other.expect_closed(|_| false).await;

    // The same replica reconnecting replaces its session; the old connection is closed.
    let (_again, answer) = Peer::join(master.addr(), "r-1", master.history(), 2).await;
    assert!(matches!(answer, Frame::Continue { .. }), "{answer:?}");
    first.expect_closed(|f| matches!(f, Frame::MasterHeartbeat { .. })).await;
    let entry = master.entry("r-1");
    eventually("the new session is live", || entry.is_live()).await;
    master.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_knows_a_newer_epoch_finds_this_master_stale() {
    let master = Master::start().await;
    let last = master.write(3);
    let mut newer = master.history();
    newer.begin(master.history().current_epoch() + 1, last + 1).expect("newer epoch");
    let (mut peer, answer) = Peer::join(master.addr(), "r-1", newer, last + 2).await;
    assert_eq!(refused(&answer), RefuseCode::StaleMaster);
    peer.expect_closed(|_| false).await;
    let entry = master.entry("r-1");
    eventually("the link is down", || !entry.facts.lock().link_up).await;
    let error = entry.facts.lock().last_error.clone().expect("error recorded");
    assert!(error.contains("stale"), "{error}");
    master.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_sessions_and_records_why() {
    let master = Master::start().await;
    master.write(2);
    let (mut peer, _) = Peer::join(master.addr(), "r-1", master.history(), 2).await;
    let entry = master.entry("r-1");
    let shared = master.shared().clone();
    master.stop().await;
    peer.expect_closed(|_| false).await;
    assert!(!entry.facts.lock().link_up);
    let error = entry.facts.lock().last_error.clone().expect("error recorded");
    assert!(error.contains("shutdown"), "{error}");
    drop(shared);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demotion_closes_sessions_and_refuses_new_replicas() {
    let master = Master::start().await;
    master.write(2);
    let (mut peer, _) = Peer::join(master.addr(), "r-1", master.history(), 2).await;
    let entry = master.entry("r-1");
    master.repl.replica_of(Some("127.0.0.1:9".into())).await.expect("demote");
    peer.expect_closed(|_| false).await;
    eventually("session ended", || !entry.facts.lock().link_up).await;
    let error = entry.facts.lock().last_error.clone().expect("error recorded");
    assert!(error.contains("role change"), "{error}");

    let mut peer = Peer::connect(master.addr(), "r-2").await;
    peer.hello(PROTOCOL_VERSION, master.history(), 2).await;
    assert_eq!(refused(&peer.recv().await), RefuseCode::NotMaster);
    master.stop().await;
}
