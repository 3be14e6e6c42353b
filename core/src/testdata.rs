//! Seeded synthetic vectors and recall measurement, for tests and benchmarks.
//!
//! Invariant: every generator is a pure function of its arguments (same seed, same vectors), so
//! tests and benchmark numbers are reproducible. Nothing here is used by the server itself.
//!
//! - [`GaussianMixture`]: clustered data, the shape real embeddings have (documents about the same
//!   topic sit close together). Centres are N(0, 1) per coordinate; points are centre + N(0, sigma)
//!   per coordinate. With [`DEFAULT_SIGMA`] (1.0) the distance from a point to its own centre is
//!   about 70% of the distance between two centres and two points of one cluster are about 70% as
//!   far apart as points of different clusters: clusters are distinct but overlap. (With 0.5 every
//!   index gets recall 1.0 at once; with 2.0 the clusters dissolve into noise.)
//! - [`uniform`]: independent uniform coordinates in [-1, 1): the hard case for any graph index
//!   (no structure to exploit; neighbours are barely closer than random points).
//! - [`exact_top_k`] / [`recall_at_k`]: brute-force ground truth (accumulated in `f64`, independent
//!   of the index's kernels) and the recall of an answer against it.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::model::Metric;

/// Default number of mixture components.
pub const DEFAULT_CENTRES: usize = 100;
/// Default per-coordinate standard deviation around a centre (centres have 1).
pub const DEFAULT_SIGMA: f32 = 1.0;

/// One standard normal sample (Box-Muller; the second value of the pair is discarded for simplicity).
pub fn standard_normal(rng: &mut impl Rng) -> f32 {
    // 1 - [0, 1) is in (0, 1], so the logarithm is finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// A Gaussian mixture with equal weights and isotropic components.
#[derive(Debug, Clone)]
pub struct GaussianMixture {
    centres: Vec<Vec<f32>>,
    sigma: f32,
}

impl GaussianMixture {
    /// `centres` components in `dim` dimensions, each coordinate N(0, 1), points spread by `sigma`.
    pub fn new(dim: usize, centres: usize, sigma: f32, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let centres = (0..centres.max(1)).map(|_| (0..dim).map(|_| standard_normal(&mut rng)).collect()).collect();
        Self { centres, sigma }
    }

    /// The default mixture ([`DEFAULT_CENTRES`], [`DEFAULT_SIGMA`]) for `dim` dimensions.
    pub fn standard(dim: usize, seed: u64) -> Self {
        Self::new(dim, DEFAULT_CENTRES, DEFAULT_SIGMA, seed)
    }

    /// `n` points drawn from the mixture (use different seeds for data and queries).
    pub fn sample(&self, n: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let centre = &self.centres[rng.random_range(0..self.centres.len())];
                centre.iter().map(|c| c + self.sigma * standard_normal(&mut rng)).collect()
            })
            .collect()
    }
}

/// `n` vectors with independent coordinates uniform in [-1, 1).
pub fn uniform(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect()).collect()
}

fn dot64(a: &[f32], b: &[f32]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..4 {
            acc[i] += f64::from(x[i]) * f64::from(y[i]);
        }
    }
    acc.iter().sum::<f64>() + tail
}

fn l2sq64(a: &[f32], b: &[f32]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 =
        ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..4 {
            let d = f64::from(x[i]) - f64::from(y[i]);
            acc[i] += d * d;
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// The score of `v` for `query` under `metric`, computed in `f64`: cosine similarity (0 if either
/// vector is zero), dot product, or Euclidean distance.
pub fn exact_score(metric: Metric, query: &[f32], v: &[f32]) -> f64 {
    match metric {
        Metric::Cosine => {
            let norms = (dot64(query, query) * dot64(v, v)).sqrt();
            if norms > 0.0 { dot64(query, v) / norms } else { 0.0 }
        }
        Metric::Dot => dot64(query, v),
        Metric::Euclidean => l2sq64(query, v).sqrt(),
    }
}

/// Brute-force top-`k` indices of `data` for `query`, best first, ties by lower index. `skip`
/// says which indices to leave out (e.g. removed points); pass `|_| false` to keep all.
pub fn exact_top_k(data: &[Vec<f32>], query: &[f32], k: usize, metric: Metric, skip: impl Fn(u32) -> bool) -> Vec<u32> {
    let mut scored: Vec<(f64, u32)> = (0u32..)
        .zip(data)
        .filter(|(i, _)| !skip(*i))
        .map(|(i, v)| {
            let s = exact_score(metric, query, v);
            // Lower key is better for every metric.
            (if metric == Metric::Euclidean { s } else { -s }, i)
        })
        .collect();
    let k = k.min(scored.len());
    if k == 0 {
        return Vec::new();
    }
    scored.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    scored.truncate(k);
    scored.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    scored.into_iter().map(|(_, i)| i).collect()
}

/// Fraction of `truth` (the exact top-k of one query) found in `got`: `|truth ∩ got| / |truth|`.
/// 1.0 when `truth` is empty.
pub fn recall_at_k(truth: &[u32], got: &[u32]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    let hits = truth.iter().filter(|t| got.contains(t)).count();
    hits as f64 / truth.len() as f64
}

/// Mean of [`recall_at_k`] over several queries (`truths[i]` against `answers[i]`).
pub fn mean_recall(truths: &[Vec<u32>], answers: &[Vec<u32>]) -> f64 {
    if truths.is_empty() {
        return 1.0;
    }
    truths.iter().zip(answers).map(|(t, a)| recall_at_k(t, a)).sum::<f64>() / truths.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_are_seeded() {
        let g = GaussianMixture::standard(8, 1);
        assert_eq!(g.sample(5, 2), GaussianMixture::standard(8, 1).sample(5, 2));
        assert_ne!(g.sample(5, 2), g.sample(5, 3));
        assert_eq!(uniform(3, 4, 9), uniform(3, 4, 9));
        assert!(uniform(100, 4, 9).iter().flatten().all(|v| (-1.0..1.0).contains(v)));
    }

    #[test]
    fn box_muller_has_unit_variance() {
        let mut rng = StdRng::seed_from_u64(7);
        let xs: Vec<f64> = (0..100_000).map(|_| f64::from(standard_normal(&mut rng))).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }

    #[test]
    fn exact_top_k_orders_and_skips() {
        let data = vec![vec![0.0, 0.0], vec![3.0, 0.0], vec![1.0, 0.0], vec![1.0, 0.0]];
        assert_eq!(exact_top_k(&data, &[0.9, 0.0], 3, Metric::Euclidean, |_| false), vec![2, 3, 0]);
        assert_eq!(exact_top_k(&data, &[0.9, 0.0], 3, Metric::Euclidean, |i| i == 2), vec![3, 0, 1]);
        assert_eq!(exact_top_k(&data, &[1.0, 0.0], 2, Metric::Dot, |_| false), vec![1, 2]);
        assert_eq!(recall_at_k(&[1, 2], &[2, 5]), 0.5);
    }
}
