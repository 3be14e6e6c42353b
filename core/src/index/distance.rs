//! Distance kernels and the metric's score convention.
//!
//! Inside the index every comparison uses a *key*: lower is better for every metric.
//! - cosine: `-(a.b) * inv_norm(a) * inv_norm(b)` (zero vectors have inverse norm 0, so similarity 0);
//! - dot: `-(a.b)`;
//! - euclidean: squared distance.
//!
//! [`Space::score`] turns a key into the public score (similarity, dot product, distance).
//! Stored rows carry one extra float after the vector: the inverse norm for cosine, 0 otherwise.
//!
//! Kernels: AVX2+FMA when the CPU has them (detected at run time, never assumed at compile time),
//! otherwise a portable version with independent accumulators that LLVM vectorises for SSE2.

use crate::model::Metric;

type Kernel = fn(&[f32], &[f32]) -> f32;

/// The metric of one index plus the kernels selected for this CPU.
#[derive(Clone, Copy)]
pub(crate) struct Space {
    metric: Metric,
    dim: usize,
    dot: Kernel,
    l2sq: Kernel,
}

impl Space {
    pub(crate) fn new(metric: Metric, dim: usize) -> Self {
        let (dot, l2sq) = select_kernels();
        Self { metric, dim, dot, l2sq }
    }

    /// Builds the stored row of `vector`: the vector followed by its auxiliary value.
    pub(crate) fn make_row(&self, vector: &[f32]) -> Vec<f32> {
        let mut row = Vec::with_capacity(vector.len() + 1);
        row.extend_from_slice(vector);
        let aux = match self.metric {
            Metric::Cosine => {
                let norm = f64::from((self.dot)(vector, vector)).sqrt();
                if norm > 0.0 && norm.is_finite() { (1.0 / norm) as f32 } else { 0.0 }
            }
            Metric::Dot | Metric::Euclidean => 0.0,
        };
        row.push(aux);
        row
    }

    /// Key (lower is better) between two rows built by [`Space::make_row`].
    #[inline]
    pub(crate) fn key(&self, a: &[f32], b: &[f32]) -> f32 {
        let (va, vb) = (&a[..self.dim], &b[..self.dim]);
        match self.metric {
            Metric::Cosine => -((self.dot)(va, vb) * a[self.dim] * b[self.dim]),
            Metric::Dot => -(self.dot)(va, vb),
            Metric::Euclidean => (self.l2sq)(va, vb),
        }
    }

    /// The public score of a key: cosine similarity, dot product or Euclidean distance.
    #[inline]
    pub(crate) fn score(&self, key: f32) -> f32 {
        match self.metric {
            Metric::Cosine => (-key).clamp(-1.0, 1.0),
            Metric::Dot => -key,
            Metric::Euclidean => key.max(0.0).sqrt(),
        }
    }
}

fn select_kernels() -> (Kernel, Kernel) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return (x86::dot, x86::l2sq);
    }
    (dot_portable, l2sq_portable)
}

const LANES: usize = 16;

/// Dot product; written with `LANES` independent accumulators so it vectorises without fast-math.
pub(crate) fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ta.iter().zip(tb) {
        sum += x * y;
    }
    sum
}

/// Squared Euclidean distance; same structure as [`dot_portable`].
pub(crate) fn l2sq_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ta.iter().zip(tb) {
        let d = x - y;
        sum += d * d;
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Safe entry point; only ever selected by `select_kernels` after detecting AVX2 and FMA.
    pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: `select_kernels` hands out this function only when the CPU supports AVX2 and FMA.
        unsafe { dot_avx2(a, b) }
    }

    /// Safe entry point; only ever selected by `select_kernels` after detecting AVX2 and FMA.
    pub(super) fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: as for `dot`.
        unsafe { l2sq_avx2(a, b) }
    }

    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let x = _mm_add_ps(x, _mm_movehl_ps(x, x));
        let x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 0x55));
        _mm_cvtss_f32(x)
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY (all loads): every offset read is `< n`, the length of both slices.
        while i + 32 <= n {
            for (j, slot) in acc.iter_mut().enumerate() {
                let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i + 8 * j)), _mm256_loadu_ps(pb.add(i + 8 * j))) };
                *slot = _mm256_fmadd_ps(x, y, *slot);
            }
            i += 32;
        }
        while i + 8 <= n {
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
            acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
            i += 8;
        }
        let total = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut sum = hsum(total);
        for k in i..n {
            sum += a[k] * b[k];
        }
        sum
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn l2sq_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY (all loads): every offset read is `< n`, the length of both slices.
        while i + 32 <= n {
            for (j, slot) in acc.iter_mut().enumerate() {
                let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i + 8 * j)), _mm256_loadu_ps(pb.add(i + 8 * j))) };
                let d = _mm256_sub_ps(x, y);
                *slot = _mm256_fmadd_ps(d, d, *slot);
            }
            i += 32;
        }
        while i + 8 <= n {
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
            let d = _mm256_sub_ps(x, y);
            acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
            i += 8;
        }
        let total = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut sum = hsum(total);
        for k in i..n {
            let d = a[k] - b[k];
            sum += d * d;
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(a: &[f32], b: &[f32]) -> (f64, f64) {
        let dot = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
        let l2 = a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum();
        (dot, l2)
    }

    #[test]
    fn kernels_match_reference_for_every_length() {
        let (dot, l2sq) = select_kernels();
        for n in 0..80usize {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7 + 3) % 11) as f32 * 0.25 - 1.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 5 + 1) % 13) as f32 * 0.125 - 0.5).collect();
            let (rd, rl) = reference(&a, &b);
            for (name, got_dot, got_l2) in
                [("selected", dot(&a, &b), l2sq(&a, &b)), ("portable", dot_portable(&a, &b), l2sq_portable(&a, &b))]
            {
                assert!((f64::from(got_dot) - rd).abs() < 1e-4 * (1.0 + rd.abs()), "{name} dot n={n}");
                assert!((f64::from(got_l2) - rl).abs() < 1e-4 * (1.0 + rl), "{name} l2 n={n}");
            }
        }
    }

    #[test]
    fn cosine_ignores_magnitude_and_zero_scores_zero() {
        let space = Space::new(Metric::Cosine, 3);
        let a = space.make_row(&[1.0, 2.0, 3.0]);
        let b = space.make_row(&[10.0, 20.0, 30.0]);
        let zero = space.make_row(&[0.0, 0.0, 0.0]);
        assert!((space.score(space.key(&a, &b)) - 1.0).abs() < 1e-6);
        assert_eq!(space.score(space.key(&a, &zero)), 0.0);
        assert_eq!(space.score(space.key(&zero, &zero)), 0.0);
    }
}
