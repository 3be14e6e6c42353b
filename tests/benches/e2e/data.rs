//! The two data sets of the benchmark with their queries and exact ground truth.
//!
//! Invariant: data, queries and truth are pure functions of the seeds below (same run, same numbers);
//! truth is brute force in `f64` (`testdata::exact_top_k`), independent of the engine's kernels.

use std::time::Instant;

use vectorizer_core::model::Metric;
use vectorizer_core::testdata::{GaussianMixture, exact_top_k, uniform};

/// Vectors, queries and the exact top-k of every query.
#[derive(Debug)]
pub struct DataSet {
    pub name: &'static str,
    pub data: Vec<Vec<f32>>,
    pub queries: Vec<Vec<f32>>,
    pub truth: Vec<Vec<u32>>,
}

/// The clustered set: `GaussianMixture::standard(dim, 1)`, data seed 2, query seed 3.
pub fn clustered(n: usize, queries: usize, dim: usize, k: usize, metric: Metric) -> DataSet {
    let gmm = GaussianMixture::standard(dim, 1);
    build("clustered", gmm.sample(n, 2), gmm.sample(queries, 3), k, metric)
}

/// The uniform set: `testdata::uniform`, data seed 4, query seed 5 (the hard case for graph indexes).
pub fn uniform_set(n: usize, queries: usize, dim: usize, k: usize, metric: Metric) -> DataSet {
    build("uniform", uniform(n, dim, 4), uniform(queries, dim, 5), k, metric)
}

fn build(name: &'static str, data: Vec<Vec<f32>>, queries: Vec<Vec<f32>>, k: usize, metric: Metric) -> DataSet {
    let t = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, usize::from).max(1);
    let per = queries.len().div_ceil(threads).max(1);
    let truth: Vec<Vec<u32>> = std::thread::scope(|s| {
        let handles: Vec<_> = queries
            .chunks(per)
            .map(|chunk| {
                let data = &data;
                s.spawn(move || chunk.iter().map(|q| exact_top_k(data, q, k, metric, |_| false)).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("ground-truth thread")).collect()
    });
    eprintln!(
        "  {name}: {} x {} data, {} queries, ground truth in {:.1} s",
        data.len(),
        data[0].len(),
        queries.len(),
        t.elapsed().as_secs_f64()
    );
    DataSet { name, data, queries, truth }
}
