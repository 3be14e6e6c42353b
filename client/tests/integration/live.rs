//! Live tests against real `vectorizer` processes (binary from `VECTORIZER_BIN`; skipped with a
//! message when unset — `scripts/sdk/test.sh` sets it in CI).

use vectorizer_client::types::{CreateCollectionRequest, Metric, PointInput, ReplicationRole, SearchRequest};
use vectorizer_client::{Client, ClientConfig, ErrorClass, VectorEncoding, WriteConcern, WriteOptions};

use crate::support::{Vectorizer, vectorizer_bin};

fn payload(v: serde_json::Value) -> Option<vectorizer_client::types::Payload> {
    v.as_object().cloned()
}

#[tokio::test]
async fn standalone_create_upsert_get_search_delete_status() {
    let Some(bin) = vectorizer_bin() else {
        eprintln!("SKIPPED: VECTORIZER_BIN is not set");
        return;
    };
    let node = Vectorizer::start(&bin, &[]);
    let client = Client::connect([&node.url]).expect("client");

    let health = client.health(None).await.expect("health");
    assert_eq!(health.status, "ok");
    let req = CreateCollectionRequest { name: "docs".into(), dimension: 3, metric: Metric::Cosine, hnsw: None };
    client.create_collection(&req).await.expect("create");
    let err = client.create_collection(&req).await.expect_err("exists");
    assert_eq!((err.code(), err.http_status()), ("collection_exists", Some(409)));

    let points = vec![
        PointInput { id: "a/1".into(), vector: vec![1.0, 0.0, 0.0], payload: payload(serde_json::json!({"k": 1})) },
        PointInput { id: "b".into(), vector: vec![0.0, 1.0, 0.0], payload: None },
    ];
    let write = client.upsert("docs", points).await.expect("upsert");
    assert_eq!(write.affected, 2);
    let got = client.get("docs", "a/1").await.expect("get id with slash");
    assert_eq!(got.vector, vec![1.0, 0.0, 0.0]);
    assert_eq!(got.payload, payload(serde_json::json!({"k": 1})));

    let search =
        SearchRequest { vector: vec![1.0, 0.1, 0.0], limit: 2, with_payload: true, exact: false, ef_search: None };
    let hits = client.search("docs", &search).await.expect("search");
    assert_eq!(hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), ["a/1", "b"]);
    assert_eq!(hits[0].payload, payload(serde_json::json!({"k": 1})));

    let collections = client.list_collections().await.expect("list");
    assert_eq!(collections.len(), 1);
    assert_eq!(collections[0].vector_count, 2);

    let status = client.get_replication_status(None).await.expect("status");
    assert_eq!(status.role, ReplicationRole::Master);
    let deleted = client.delete("docs", vec!["b".into()]).await.expect("delete");
    assert_eq!(deleted.affected, 1);
    let err = client.get("docs", "b").await.expect_err("deleted");
    assert_eq!(err.code(), "point_not_found");
    let err = client.search("nope", &search).await.expect_err("missing collection");
    assert_eq!((err.code(), err.http_status()), ("collection_not_found", Some(404)));
    client.delete_collection("docs").await.expect("drop");
}

/// Polls `check` every 50 ms until it returns `Some` or `deadline` passes.
async fn poll<T, F, Fut>(deadline: std::time::Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = std::time::Instant::now() + deadline;
    while std::time::Instant::now() < end {
        if let Some(v) = check().await {
            return Some(v);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test]
async fn master_and_replica_routing_status_and_read_only() {
    let Some(bin) = vectorizer_bin() else {
        eprintln!("SKIPPED: VECTORIZER_BIN is not set");
        return;
    };
    let master = Vectorizer::start(&bin, &["--repl-addr", "127.0.0.1:0", "--fsync", "os"]);
    let master_repl = master.repl_addr.clone().expect("master ready line names its repl_addr");
    let replica =
        Vectorizer::start(&bin, &["--repl-addr", "127.0.0.1:0", "--fsync", "os", "--replica-of", &master_repl]);

    // Writes through a client that lists the replica first still reach the master.
    let client = Client::new(
        vectorizer_client::ClientConfig::new([&replica.url, &master.url])
            .expect("cfg")
            .read_preference(vectorizer_client::ReadPreference::PreferReplica),
    )
    .expect("client");
    assert_eq!(client.master_endpoint().await.expect("master"), master.url);
    let req = CreateCollectionRequest { name: "r".into(), dimension: 2, metric: Metric::Dot, hnsw: None };
    client.create_collection(&req).await.expect("create via master");
    let write = client
        .upsert("r", vec![PointInput { id: "p".into(), vector: vec![1.0, 0.0], payload: None }])
        .await
        .expect("upsert via master");

    // The replica catches up; reads under PreferReplica are served by it.
    let caught_up = poll(std::time::Duration::from_secs(30), || async {
        let d = client.get_digest(Some(&replica.url)).await.ok()?;
        (d.applied_offset >= write.offset).then_some(d)
    })
    .await
    .expect("replica caught up within 30 s");
    let master_digest = client.get_digest(Some(&master.url)).await.expect("master digest");
    assert_eq!(caught_up.collections, master_digest.collections);
    let search = SearchRequest { vector: vec![1.0, 0.0], limit: 1, with_payload: false, exact: true, ef_search: None };
    assert_eq!(client.search("r", &search).await.expect("search on replica")[0].id, "p");

    // Status from both sides.
    let ms = client.get_replication_status(None).await.expect("master status");
    assert_eq!(ms.role, ReplicationRole::Master);
    assert!(ms.enabled);
    let listed = poll(std::time::Duration::from_secs(30), || async {
        client.list_replicas().await.ok().filter(|r| !r.is_empty())
    })
    .await
    .expect("master lists its replica");
    assert_eq!(listed.len(), 1);
    let rs = client.get_replication_status(Some(&replica.url)).await.expect("replica status");
    assert_eq!(rs.role, ReplicationRole::Replica);
    assert!(rs.replicas.is_none());

    // w=all counts the registered replica: once acknowledged, the replica already holds the write
    // (it acknowledges only offsets it applied and made durable), no polling needed.
    let all = WriteOptions::default().w(WriteConcern::All).timeout_ms(30_000);
    let point = PointInput { id: "w".into(), vector: vec![0.5, 0.5], payload: None };
    let written = client.upsert_with("r", vec![point], all).await.expect("upsert at w=all");
    let replica_digest = client.get_digest(Some(&replica.url)).await.expect("replica digest");
    assert!(replica_digest.applied_offset >= written.offset, "{} < {}", replica_digest.applied_offset, written.offset);

    // A client that only knows the replica: the replica's read_only_replica answer names the
    // master, and the write is retried there once.
    let only_replica = Client::connect([&replica.url]).expect("client");
    let routed = only_replica
        .upsert("r", vec![PointInput { id: "q".into(), vector: vec![0.0, 1.0], payload: None }])
        .await
        .expect("write routed to the master named by the replica");
    // The write landed on the master itself (a master-only client reads there, no replication lag
    // involved); the replica then converges to it.
    let master_only = Client::connect([&master.url]).expect("client");
    assert_eq!(master_only.get("r", "q").await.map(|p| p.id).ok(), Some("q".to_owned()));
    let replica_has_it = poll(std::time::Duration::from_secs(30), || async {
        let d = client.get_digest(Some(&replica.url)).await.ok()?;
        (d.applied_offset >= routed.offset).then_some(())
    })
    .await;
    assert!(replica_has_it.is_some(), "replica never applied offset {}", routed.offset);
    assert_eq!(client.get("r", "q").await.map(|p| p.id).ok(), Some("q".to_owned()));
}

#[tokio::test]
async fn write_concerns_on_a_single_node_and_cluster_view_outside_cluster_mode() {
    let Some(bin) = vectorizer_bin() else {
        eprintln!("SKIPPED: VECTORIZER_BIN is not set");
        return;
    };
    let node = Vectorizer::start(&bin, &[]);
    let client = Client::connect([&node.url]).expect("client");

    // Without replication the node is the only voter: majority and all are reached at once.
    let majority = WriteOptions::default().w(WriteConcern::Majority).timeout_ms(5_000);
    let req = CreateCollectionRequest { name: "wc".into(), dimension: 2, metric: Metric::Dot, hnsw: None };
    client.create_collection_with(&req, majority).await.expect("create at majority");
    let all = WriteOptions::default().w(WriteConcern::All);
    let point = PointInput { id: "p".into(), vector: vec![1.0, 0.0], payload: None };
    let written = client.upsert_with("wc", vec![point], all).await.expect("upsert at all");
    assert_eq!(written.affected, 1);
    assert_eq!(client.get("wc", "p").await.expect("stored").id, "p");
    let deleted = client.delete_with("wc", vec!["p".into()], majority).await.expect("delete at majority");
    assert_eq!(deleted.affected, 1);
    client.delete_collection_with("wc", all.timeout_ms(1)).await.expect("drop at all");

    let err = client.get_cluster(None).await.expect_err("not in cluster mode");
    assert_eq!((err.code(), err.http_status(), err.class()), ("replication_conflict", Some(409), ErrorClass::Conflict));
    let stats = client.get_replication_status(None).await.expect("status");
    if let Some(stats) = stats.stats {
        assert_eq!(stats.ops_discarded_on_rejoin, None, "a node that never rejoined discarded nothing");
    }
}

#[tokio::test]
async fn base64_vector_encoding_round_trips_exact_values() {
    let Some(bin) = vectorizer_bin() else {
        eprintln!("SKIPPED: VECTORIZER_BIN is not set");
        return;
    };
    let node = Vectorizer::start(&bin, &[]);
    let config = ClientConfig::new([&node.url]).expect("config").vector_encoding(VectorEncoding::Base64);
    let client = Client::new(config).expect("client");
    let req = CreateCollectionRequest { name: "b64".into(), dimension: 4, metric: Metric::Euclidean, hnsw: None };
    client.create_collection(&req).await.expect("create");
    let a = vec![1.0 / 3.0, -0.0, f32::MIN_POSITIVE, 1.0e30];
    let b = vec![0.1, 0.2, 0.3, f32::MAX];
    let points = vec![
        PointInput { id: "a".into(), vector: a.clone(), payload: payload(serde_json::json!({"k": 1})) },
        PointInput { id: "b".into(), vector: b.clone(), payload: None },
    ];
    assert_eq!(client.upsert("b64", points).await.expect("upsert").affected, 2);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let got = client.get("b64", "a").await.expect("get a");
    assert_eq!(bits(&got.vector), bits(&a));
    assert_eq!(got.payload, payload(serde_json::json!({"k": 1})));
    assert_eq!(bits(&client.get("b64", "b").await.expect("get b").vector), bits(&b));

    let search = SearchRequest { vector: b.clone(), limit: 1, with_payload: false, exact: true, ef_search: None };
    let hits = client.search("b64", &search).await.expect("search");
    assert_eq!((hits[0].id.as_str(), hits[0].score), ("b", 0.0));
    // The engine's checks apply as for arrays: a NaN sent as base64 is refused, nothing written.
    let nan = vec![PointInput { id: "nan".into(), vector: vec![f32::NAN, 0.0, 0.0, 0.0], payload: None }];
    let err = client.upsert("b64", nan).await.expect_err("NaN");
    assert_eq!((err.code(), err.http_status()), ("invalid_argument", Some(400)));
    assert_eq!(client.get_collection("b64").await.expect("info").vector_count, 2);
}
