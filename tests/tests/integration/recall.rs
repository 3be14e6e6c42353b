//! Search quality over HTTP: HNSW recall@10 against exact nearest neighbours on a clustered set
//! (`vectorizer_core::testdata::GaussianMixture`, the shape real embeddings have).

use serde_json::json;
use vectorizer_core::model::Metric;
use vectorizer_core::testdata::{GaussianMixture, exact_top_k, mean_recall};
use vectorizer_sdk_types::{CollectionInfo, SearchResponse};
use vectorizer_tests::poll_until;

use crate::common::{create_collection, start, upsert_ok};

const DIM: usize = 48;
const POINTS: usize = 10000;
const QUERIES: usize = 100;
const K: usize = 10;

#[test]
fn hnsw_recall_at_10_is_at_least_0_95() {
    let node = start();
    let http = node.http();
    create_collection(&http, "mix", DIM as u32, "cosine");
    let mixture = GaussianMixture::standard(DIM, 7);
    let data = mixture.sample(POINTS, 8);
    for (b, chunk) in data.chunks(500).enumerate() {
        let batch: Vec<_> =
            chunk.iter().enumerate().map(|(i, v)| ((b * 500 + i).to_string(), v.clone(), None)).collect();
        upsert_ok(&http, "mix", &batch);
    }
    // Wait until every vector is linked into the graph, so the searches below exercise HNSW rather
    // than the exact scan of not-yet-linked vectors.
    poll_until(std::time::Duration::from_secs(300), "all vectors indexed", || {
        let info: CollectionInfo = http.get("/api/v1/collections/mix").expect("info").parse();
        (info.vector_count == POINTS as u64 && info.indexed_count == POINTS as u64).then_some(())
    });

    let queries = mixture.sample(QUERIES, 9);
    let mut truths = Vec::new();
    let mut answers = Vec::new();
    for q in &queries {
        truths.push(exact_top_k(&data, q, K, Metric::Cosine, |_| false));
        let found: SearchResponse = http
            .post_json("/api/v1/collections/mix/search", &json!({"vector": q, "limit": K}))
            .expect("search")
            .parse();
        assert_eq!(found.results.len(), K);
        answers.push(found.results.iter().map(|r| r.id.parse::<u32>().expect("numeric id")).collect::<Vec<u32>>());
    }
    let recall = mean_recall(&truths, &answers);
    eprintln!("recall@{K} over HTTP: {recall:.4} ({QUERIES} queries, {POINTS} points, dim {DIM}, default HNSW params)");
    assert!(recall >= 0.95, "recall@{K} = {recall:.4} < 0.95");
}
