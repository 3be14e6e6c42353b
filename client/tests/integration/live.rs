//! Live tests against real `vectorizer` processes (binary from `VECTORIZER_BIN`; skipped with a
//! message when unset — `scripts/sdk/test.sh` sets it in CI).

use vectorizer_client::Client;
use vectorizer_client::types::{CreateCollectionRequest, Metric, PointInput, ReplicationRole, SearchRequest};

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
