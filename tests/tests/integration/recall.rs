//! Search quality over HTTP: HNSW recall@10 against exact nearest neighbours on a clustered set.

use serde_json::json;
use vectorizer_sdk_types::{CollectionInfo, SearchResponse};
use vectorizer_tests::poll_until;

use crate::common::{Rng, create_collection, start, upsert_ok};

const DIM: usize = 24;
const CLUSTERS: usize = 20;
const POINTS: usize = 4000;
const QUERIES: usize = 60;
const K: usize = 10;

fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// A Gaussian mixture: cluster centres spread wide, points close to their centre.
fn mixture(rng: &mut Rng, n: usize, centres: &[Vec<f32>]) -> Vec<Vec<f32>> {
    (0..n)
        .map(|i| {
            let c = &centres[i % centres.len()];
            c.iter().map(|x| x + 0.3 * rng.normal()).collect()
        })
        .collect()
}

#[test]
#[ignore = "needs the engine (lead is landing it)"]
fn hnsw_recall_at_10_is_at_least_0_95() {
    let node = start();
    let http = node.http();
    create_collection(&http, "mix", DIM as u32, "euclidean");
    let mut rng = Rng::new(42);
    let centres: Vec<Vec<f32>> = (0..CLUSTERS)
        .map(|_| rng.vector(DIM).iter().map(|x| x * 4.0).collect())
        .collect();
    let data = mixture(&mut rng, POINTS, &centres);
    for (b, chunk) in data.chunks(500).enumerate() {
        let batch: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("{}", b * 500 + i), v.clone(), None))
            .collect();
        upsert_ok(&http, "mix", &batch);
    }
    // Wait until every vector is linked into the graph, so the searches below exercise HNSW.
    poll_until(
        std::time::Duration::from_secs(300),
        "all vectors indexed",
        || {
            let info: CollectionInfo = http.get("/api/v1/collections/mix").expect("info").parse();
            (info.vector_count == POINTS as u64 && info.indexed_count == POINTS as u64)
                .then_some(())
        },
    );

    let queries = mixture(&mut rng, QUERIES, &centres);
    let mut hits = 0usize;
    for q in &queries {
        let mut exact: Vec<(f32, usize)> = data
            .iter()
            .enumerate()
            .map(|(i, v)| (distance(q, v), i))
            .collect();
        exact.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let truth: Vec<String> = exact[..K].iter().map(|(_, i)| i.to_string()).collect();
        let found: SearchResponse = http
            .post_json(
                "/api/v1/collections/mix/search",
                &json!({"vector": q, "limit": K}),
            )
            .expect("search")
            .parse();
        assert_eq!(found.results.len(), K);
        hits += found
            .results
            .iter()
            .filter(|r| truth.contains(&r.id))
            .count();
    }
    let recall = hits as f64 / (QUERIES * K) as f64;
    eprintln!("recall@{K} over HTTP: {recall:.4} ({QUERIES} queries, {POINTS} points, dim {DIM})");
    assert!(recall >= 0.95, "recall@{K} = {recall:.4} < 0.95");
}
