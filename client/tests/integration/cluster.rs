//! Cluster mode against scripted loopback nodes: write options reach the query string (and bad
//! ones never leave the client), `no_quorum` triggers one rediscovery and a retry only on a new
//! master, `get_cluster` parses a `ClusterView`, and stats of newer servers carry
//! `ops_discarded_on_rejoin`.

use std::sync::{Arc, Mutex};

use vectorizer_client::types::{
    ClusterFailoverMode, ClusterMemberRole, ControllerRole, CreateCollectionRequest, MemberHealth, Metric, PointInput,
};
use vectorizer_client::{Client, ClientError, ErrorClass, WriteConcern, WriteOptions, parse_replication_status};

use crate::support::{Seen, StubServer, fixture};

const WRITE_OK: &str = r#"{"offset":9,"affected":1}"#;
const NO_QUORUM: &str = r#"{"error":{"code":"no_quorum","message":"this master holds no valid lease"}}"#;

/// A `GET /api/v1/cluster` answer of a 3-node cluster right after a failover from node 1 to 2.
const CLUSTER_VIEW: &str = r#"{
  "node_id": 2, "failover": "auto", "controller_role": "leader", "term": 4, "leader_id": 2,
  "epoch": 3, "master_id": 2, "fenced": false, "writes_allowed": true,
  "members": [
    {"id": 1, "http": "127.0.0.1:15001", "repl": "127.0.0.1:16001", "raft": "127.0.0.1:17001",
     "priority": 1, "role": "replica", "controller_leader": false, "health": "unreachable",
     "epoch": 2, "applied_offset": 120, "last_seen_ms_ago": 10400},
    {"id": 2, "http": "127.0.0.1:15002", "repl": "127.0.0.1:16002", "raft": "127.0.0.1:17002",
     "priority": 1, "role": "master", "controller_leader": true, "health": "healthy",
     "epoch": 3, "applied_offset": 118, "last_seen_ms_ago": 0, "from_a_future_server": true},
    {"id": 3, "http": "127.0.0.1:15003", "repl": "127.0.0.1:16003", "raft": "127.0.0.1:17003",
     "priority": 0, "role": "replica", "controller_leader": false, "health": "unknown",
     "epoch": null, "applied_offset": null, "last_seen_ms_ago": null}
  ],
  "last_failover": {"at": "2026-11-27T08:00:00Z", "reason": "master 1 renewed no lease for 10000 ms",
    "old_master": 1, "new_master": 2, "epoch": 3, "new_master_applied_offset": 118, "ops_discarded": null}
}"#;

/// What a scripted node currently is.
#[derive(Debug, Clone, Copy)]
struct NodeState {
    /// `Some(epoch)`: claims master at that epoch; `None`: a replica.
    master_epoch: Option<u64>,
    /// Answers writes with `no_quorum` (a master that lost its controller lease).
    fenced: bool,
}

type Shared = Arc<Mutex<NodeState>>;

fn state(master_epoch: Option<u64>, fenced: bool) -> Shared {
    Arc::new(Mutex::new(NodeState { master_epoch, fenced }))
}

fn status(node: NodeState) -> String {
    let Some(epoch) = node.master_epoch else { return fixture("v1_2_replica.json") };
    let mut status: serde_json::Value = serde_json::from_str(&fixture("v1_2_master.json")).expect("fixture");
    status["stats"]["epoch"] = epoch.into();
    status.to_string()
}

async fn node(shared: Shared) -> StubServer {
    StubServer::start(move |req: &Seen| {
        let now = *shared.lock().expect("lock");
        match req.path.as_str() {
            "/api/v1/replication/status" => (200, status(now)),
            "/api/v1/cluster" => (200, CLUSTER_VIEW.to_owned()),
            _ if now.fenced => (503, NO_QUORUM.to_owned()),
            _ => (200, WRITE_OK.to_owned()),
        }
    })
    .await
}

fn point() -> Vec<PointInput> {
    vec![PointInput { id: "p".into(), vector: vec![1.0, 0.0], payload: None }]
}

fn writes(server: &StubServer) -> Vec<String> {
    server.requests().into_iter().filter(|r| !r.starts_with("GET")).collect()
}

#[tokio::test]
async fn write_options_reach_every_write_route_as_query_parameters() {
    let server = node(state(Some(1), false)).await;
    let client = Client::connect([&server.url]).expect("client");
    let majority = WriteOptions::default().w(WriteConcern::Majority).timeout_ms(1500);
    let req = CreateCollectionRequest { name: "c".into(), dimension: 2, metric: Metric::Dot, hnsw: None };
    client.create_collection_with(&req, majority).await.expect("create");
    client.upsert_with("c", point(), WriteOptions::default().w(WriteConcern::All)).await.expect("upsert");
    client.delete_with("c", vec!["p".into()], WriteOptions::default().timeout_ms(7)).await.expect("delete");
    client.delete_collection_with("c", WriteOptions::default().w(WriteConcern::One)).await.expect("drop");
    client.upsert("c", point()).await.expect("plain upsert");
    assert_eq!(
        writes(&server),
        [
            "POST /api/v1/collections?w=majority&timeout_ms=1500",
            "PUT /api/v1/collections/c/vectors?w=all",
            "POST /api/v1/collections/c/vectors/delete?timeout_ms=7",
            "DELETE /api/v1/collections/c?w=1",
            "PUT /api/v1/collections/c/vectors",
        ]
    );
}

#[tokio::test]
async fn invalid_write_options_are_rejected_before_sending() {
    let server = node(state(Some(1), false)).await;
    let client = Client::connect([&server.url]).expect("client");
    for ms in [0, 300_001] {
        let err = client.upsert_with("c", point(), WriteOptions::default().timeout_ms(ms)).await.expect_err("range");
        assert!(matches!(err, ClientError::InvalidArgument { argument: "timeout_ms", .. }), "{err}");
        assert_eq!((err.code(), err.class()), ("invalid_argument", ErrorClass::Validation));
    }
    let err = WriteConcern::parse("2").expect_err("bad w");
    assert!(matches!(err, ClientError::InvalidArgument { argument: "w", .. }), "{err}");
    assert!(writes(&server).is_empty(), "{:?}", server.requests());
}

#[tokio::test]
async fn no_quorum_rediscovers_and_retries_once_on_the_new_master() {
    let (a, b) = (state(Some(2), false), state(None, false));
    let (node_a, node_b) = (node(a.clone()).await, node(b.clone()).await);
    let client = Client::connect([&node_a.url, &node_b.url]).expect("client");
    client.upsert("c", point()).await.expect("write before the failover");

    // Failover: a lost its lease but still claims master at epoch 2; b serves epoch 3.
    a.lock().expect("lock").fenced = true;
    *b.lock().expect("lock") = NodeState { master_epoch: Some(3), fenced: false };
    let options = WriteOptions::default().w(WriteConcern::Majority);
    client.upsert_with("c", point(), options).await.expect("retried on the new master");
    assert_eq!(writes(&node_a).len(), 2, "{:?}", node_a.requests());
    assert_eq!(writes(&node_b), ["PUT /api/v1/collections/c/vectors?w=majority"]);
    assert_eq!(client.master_endpoint().await.expect("master"), node_b.url);
}

#[tokio::test]
async fn no_quorum_without_another_master_surfaces_after_one_attempt() {
    let a = state(Some(2), true);
    let node_a = node(a).await;
    let client = Client::connect([&node_a.url]).expect("client");
    let err = client.delete("c", vec!["p".into()]).await.expect_err("fenced, no other master");
    assert_eq!((err.code(), err.http_status(), err.class()), ("no_quorum", Some(503), ErrorClass::NoQuorum));
    assert_eq!(writes(&node_a).len(), 1, "no resend to the same master: {:?}", node_a.requests());
}

#[tokio::test]
async fn get_cluster_parses_the_view_with_nulls_and_unknown_fields() {
    let node_a = node(state(Some(3), false)).await;
    let client = Client::connect([&node_a.url]).expect("client");
    let view = client.get_cluster(None).await.expect("cluster view");
    assert_eq!((view.node_id, view.term, view.leader_id, view.epoch, view.master_id), (2, 4, Some(2), 3, Some(2)));
    assert_eq!((view.failover, view.controller_role), (ClusterFailoverMode::Auto, ControllerRole::Leader));
    assert!(view.writes_allowed && !view.fenced);
    assert_eq!(view.members.len(), 3);
    assert_eq!(view.members[1].role, ClusterMemberRole::Master);
    assert_eq!(view.members[0].health, MemberHealth::Unreachable);
    let unknown = &view.members[2];
    assert_eq!((unknown.epoch, unknown.applied_offset, unknown.last_seen_ms_ago), (None, None, None));
    let failover = view.last_failover.expect("last failover");
    assert_eq!((failover.old_master, failover.new_master, failover.ops_discarded), (Some(1), 2, None));
    assert_eq!(failover.at, "2026-11-27T08:00:00Z");
    assert_eq!(client.get_cluster(Some(&node_a.url)).await.expect("explicit endpoint").node_id, 2);
}

#[test]
fn ops_discarded_on_rejoin_is_none_from_older_servers_and_kept_from_newer_ones() {
    let old = parse_replication_status(&fixture("v1_2_replica.json")).expect("old server");
    assert_eq!(old.stats.expect("stats").ops_discarded_on_rejoin, None);
    let mut newer: serde_json::Value = serde_json::from_str(&fixture("v1_2_replica.json")).expect("fixture");
    newer["stats"]["ops_discarded_on_rejoin"] = 4.into();
    let parsed = parse_replication_status(&newer.to_string()).expect("newer server");
    assert_eq!(parsed.stats.expect("stats").ops_discarded_on_rejoin, Some(4));
}
