//! Routing against scripted loopback nodes: writes reach the master, reads follow the read
//! preference, `read_only_replica` triggers one rediscovery + retry, server errors keep their code.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use vectorizer_client::types::{PointInput, SearchRequest};
use vectorizer_client::{Client, ClientConfig, ClientError, ErrorClass, ReadPreference};

use crate::support::{Seen, StubServer, fixture};

const WRITE_OK: &str = r#"{"offset":7,"affected":1}"#;
const SEARCH_OK: &str = r#"{"results":[{"id":"a","score":0.5,"payload":null}]}"#;

fn read_only(master: &str) -> (u16, String) {
    let master = master.trim_start_matches("http://");
    (409, format!(r#"{{"error":{{"code":"read_only_replica","message":"replica","master":"{master}"}}}}"#))
}

/// A node answering as master while `is_master` is set, else as a replica naming `master_hint`.
async fn node(is_master: Arc<AtomicBool>, master_hint: Arc<std::sync::Mutex<String>>) -> StubServer {
    StubServer::start(move |req: &Seen| {
        let master = is_master.load(Ordering::SeqCst);
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/api/v1/replication/status") if master => (200, fixture("v1_2_master.json")),
            ("GET", "/api/v1/replication/status") => (200, fixture("v1_2_replica.json")),
            ("POST", p) if p.ends_with("/search") => (200, SEARCH_OK.to_owned()),
            _ if master => (200, WRITE_OK.to_owned()),
            _ => read_only(&master_hint.lock().expect("lock")),
        }
    })
    .await
}

fn point() -> Vec<PointInput> {
    vec![PointInput { id: "a/b".into(), vector: vec![1.0, 0.0], payload: None }]
}

fn search() -> SearchRequest {
    SearchRequest { vector: vec![1.0, 0.0], limit: 1, with_payload: false, exact: false, ef_search: None }
}

fn flag(v: bool) -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(v))
}

#[tokio::test]
async fn writes_go_to_the_master_and_reads_follow_the_preference() {
    let hint = Arc::new(std::sync::Mutex::new(String::new()));
    let replica = node(flag(false), hint.clone()).await;
    let master = node(flag(true), hint.clone()).await;
    *hint.lock().expect("lock") = master.url.clone();

    let cfg = ClientConfig::new([&replica.url, &master.url]).expect("cfg");
    let client = Client::new(cfg.clone().read_preference(ReadPreference::PreferReplica)).expect("client");
    assert_eq!(client.master_endpoint().await.expect("master"), master.url);
    let write = client.upsert("c", point()).await.expect("upsert");
    assert_eq!(write.offset, 7);
    let hits = client.search("c", &search()).await.expect("search");
    assert_eq!(hits[0].id, "a");

    assert!(master.requests().contains(&"PUT /api/v1/collections/c/vectors".to_owned()));
    assert!(replica.requests().contains(&"POST /api/v1/collections/c/search".to_owned()));
    assert!(!replica.requests().iter().any(|r| r.starts_with("PUT")), "{:?}", replica.requests());
    let sent = master.seen.lock().expect("lock").iter().find(|s| s.method == "PUT").map(|s| s.body.clone());
    let sent: serde_json::Value = serde_json::from_str(&sent.expect("a PUT")).expect("json body");
    assert_eq!(sent, serde_json::json!({"vectors": [{"id": "a/b", "vector": [1.0, 0.0], "payload": null}]}));

    let client = Client::new(cfg).expect("client");
    client.search("c", &search()).await.expect("search");
    assert_eq!(replica.requests().iter().filter(|r| r.ends_with("/search")).count(), 1);
}

#[tokio::test]
async fn a_write_to_a_demoted_master_is_retried_once_on_the_new_master() {
    let hint = Arc::new(std::sync::Mutex::new(String::new()));
    let (a_master, b_master) = (flag(true), flag(false));
    let a = node(a_master.clone(), hint.clone()).await;
    let b = node(b_master.clone(), hint.clone()).await;
    let client = Client::connect([&a.url, &b.url]).expect("client");
    client.upsert("c", point()).await.expect("first write");

    // Failover: a becomes a replica naming b, b becomes master. The client still believes a.
    *hint.lock().expect("lock") = b.url.clone();
    a_master.store(false, Ordering::SeqCst);
    b_master.store(true, Ordering::SeqCst);
    let write = client.upsert("c", point()).await.expect("retried write");
    assert_eq!(write.affected, 1);
    assert_eq!(a.requests().iter().filter(|r| r.starts_with("PUT")).count(), 2);
    assert_eq!(b.requests().iter().filter(|r| r.starts_with("PUT")).count(), 1);
    assert_eq!(client.master_endpoint().await.expect("master"), b.url);
}

#[tokio::test]
async fn read_only_replica_surfaces_when_no_master_exists() {
    let hint = Arc::new(std::sync::Mutex::new(String::new()));
    let only_master = flag(true);
    let a = node(only_master.clone(), hint.clone()).await;
    let client = Client::connect([&a.url]).expect("client");
    client.upsert("c", point()).await.expect("write");
    *hint.lock().expect("lock") = a.url.clone();
    only_master.store(false, Ordering::SeqCst);
    let err = client.upsert("c", point()).await.expect_err("no master any more");
    assert!(matches!(err, ClientError::NoMaster { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Connection);
}

#[tokio::test]
async fn unreachable_endpoints_are_skipped_and_all_unreachable_is_no_master() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let hint = Arc::new(std::sync::Mutex::new(String::new()));
    let master = node(flag(true), hint).await;
    let client = Client::connect([&dead, &master.url]).expect("client");
    assert_eq!(client.master_endpoint().await.expect("master"), master.url);

    let client = Client::connect([&dead]).expect("client");
    let err = client.list_collections().await.expect_err("dead");
    assert_eq!(err.code(), "no_master");
    let err = client.health(Some(&dead)).await.expect_err("dead");
    assert_eq!((err.code(), err.class()), ("connection_failed", ErrorClass::Connection));
}

#[tokio::test]
async fn server_errors_keep_code_status_and_message() {
    let server = StubServer::start(|req: &Seen| match req.path.as_str() {
        "/api/v1/replication/status" => (200, fixture("disabled.json")),
        _ => (404, r#"{"error":{"code":"collection_not_found","message":"no collection \"x\""}}"#.into()),
    })
    .await;
    let client = Client::connect([&server.url]).expect("client");
    let err = client.get_collection("x").await.expect_err("404");
    assert_eq!((err.code(), err.http_status(), err.class()), ("collection_not_found", Some(404), ErrorClass::NotFound));
    assert!(err.to_string().contains("no collection"), "{err}");
}
