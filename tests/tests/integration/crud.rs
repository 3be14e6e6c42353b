//! Collections and points over HTTP against the real binary.

use serde_json::json;
use vectorizer_sdk_types::{CollectionInfo, ListCollectionsResponse, SearchResponse, WriteResponse};

use crate::common::{create_collection, encode, get_point, start, upsert_ok};

#[test]
fn crud_over_http() {
    let node = start();
    let http = node.http();
    create_collection(&http, "docs", 4, "dot");
    let info: CollectionInfo = http.get("/api/v1/collections/docs").expect("info").parse();
    assert_eq!((info.dimension, info.vector_count), (4, 0));

    let odd_id = "dir/file name?#%.txt";
    upsert_ok(
        &http,
        "docs",
        &[
            ("a".into(), vec![1.0, 0.0, 0.0, 0.0], Some(json!({"lang": "en"}))),
            (odd_id.into(), vec![0.0, 1.0, 0.0, 0.0], None),
            ("c".into(), vec![0.0, 0.0, 1.0, 0.0], None),
        ],
    );
    let a = get_point(&http, "docs", "a").expect("a exists");
    assert_eq!(a.vector, vec![1.0, 0.0, 0.0, 0.0]);
    assert_eq!(a.payload.and_then(|p| p.get("lang").cloned()), Some(json!("en")));
    assert_eq!(get_point(&http, "docs", odd_id).expect("odd id exists").id, odd_id);

    // Upsert replaces.
    upsert_ok(&http, "docs", &[("a".into(), vec![0.5, 0.5, 0.0, 0.0], None)]);
    let a = get_point(&http, "docs", "a").expect("a exists");
    assert_eq!((a.vector, a.payload), (vec![0.5, 0.5, 0.0, 0.0], None));

    let found: SearchResponse = http
        .post_json("/api/v1/collections/docs/search", &json!({"vector": [0.0, 0.0, 2.0, 0.0], "limit": 1}))
        .expect("search")
        .parse();
    assert_eq!(found.results.len(), 1);
    assert_eq!(found.results[0].id, "c");
    assert!((found.results[0].score - 2.0).abs() < 1e-6);

    let deleted: WriteResponse = http
        .post_json("/api/v1/collections/docs/vectors/delete", &json!({"ids": [odd_id, "never-existed"]}))
        .expect("delete")
        .parse();
    assert_eq!(deleted.affected, 1);
    assert!(get_point(&http, "docs", odd_id).is_none());
    let r = http.get(&format!("/api/v1/collections/docs/vectors/{}", encode(odd_id))).expect("get");
    assert_eq!(r.status, 404);

    let list: ListCollectionsResponse = http.get("/api/v1/collections").expect("list").parse();
    assert_eq!(list.collections.len(), 1);
    assert_eq!(list.collections[0].vector_count, 2);

    assert_eq!(http.delete("/api/v1/collections/docs").expect("drop").status, 200);
    assert_eq!(http.get("/api/v1/collections/docs").expect("info").status, 404);
}
