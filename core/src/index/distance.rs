//! Stored records, distance kernels and the metric's score convention.
//!
//! Inside the index every comparison uses a *key*: lower is better for every metric.
//! - cosine: `-(a.b) * inv_norm(a) * inv_norm(b)` (zero vectors have inverse norm 0, so similarity 0);
//! - dot: `-(a.b)`;
//! - euclidean: squared distance.
//!
//! [`Space::score`] turns a key into the public score (similarity, dot product, distance).
//!
//! **Records.** Each slot stores one record of `f32` words:
//! `[inv_norm | scale | code_norm2 | norm2 | codes (dim bytes, 4 per word) | vector (dim floats)]`.
//! The vector is kept exactly as given. The codes are an 8-bit copy (`round(v / scale)`, `scale =
//! max|v| / 127`) used while walking the graph: a graph walk is bound by memory traffic, and the
//! header plus codes of a 128-d vector fit in 3 cache lines instead of 9. Final candidates are
//! re-ranked with the exact vector, so returned scores are always exact.
//!
//! Three kinds of key:
//! - [`Space::key_exact`]: query against the stored vector (exact search, re-ranking);
//! - [`Space::key_fast`]: query against the codes (graph walk);
//! - [`Space::key_codes`]: codes against codes, in exact integer arithmetic (linking a stored
//!   record: its graph walk and neighbour selection).
//!
//! A graph walk measures records against a [`Probe`]: a search query ([`Query`], `key_fast`) or
//! a stored record being linked ([`RecordProbe`], `key_codes`). Linking compares codes with codes
//! because the record being linked has codes too: one 32-lane integer step replaces four 8-lane
//! float steps with conversions, and the walk's keys then agree with the neighbour selection's.
//!
//! Kernels: AVX2+FMA when the CPU has them (detected at run time, never assumed at compile time),
//! otherwise portable versions with independent accumulators that LLVM vectorises for SSE2.

use crate::model::Metric;

const INV_NORM: usize = 0;
const SCALE: usize = 1;
const CODE_NORM2: usize = 2;
const NORM2: usize = 3;
const HEADER: usize = 4;

type DotF32 = fn(&[f32], &[f32]) -> f32;
type DotF32I8 = fn(&[f32], &[i8]) -> f32;
type DotI8 = fn(&[i8], &[i8]) -> i32;

/// A query prepared for comparisons: the vector plus its inverse norm and squared norm.
#[derive(Clone, Copy)]
pub(crate) struct Query<'a> {
    pub vector: &'a [f32],
    inv_norm: f32,
    norm2: f32,
}

/// The metric of one index, its record layout and the kernels selected for this CPU.
#[derive(Clone, Copy)]
pub(crate) struct Space {
    metric: Metric,
    dim: usize,
    code_words: usize,
    dot: DotF32,
    l2sq: DotF32,
    dot_f32_i8: DotF32I8,
    dot_i8: DotI8,
}

impl Space {
    pub(crate) fn new(metric: Metric, dim: usize) -> Self {
        let (dot, l2sq, dot_f32_i8, dot_i8) = select_kernels();
        Self { metric, dim, code_words: dim.div_ceil(4), dot, l2sq, dot_f32_i8, dot_i8 }
    }

    /// Width of a record in words.
    pub(crate) fn record_len(&self) -> usize {
        HEADER + self.code_words + self.dim
    }

    /// Words at the start of a record that a graph walk reads (header and codes).
    pub(crate) fn walk_len(&self) -> usize {
        HEADER + self.code_words
    }

    /// Builds the stored record of `vector` (see the module docs).
    pub(crate) fn make_record(&self, vector: &[f32]) -> Vec<f32> {
        let norm2 = (self.dot)(vector, vector);
        let max = vector.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 && max.is_finite() { max / 127.0 } else { 0.0 };
        let inv_scale = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        let mut record = Vec::with_capacity(self.record_len());
        record.extend_from_slice(&[inv_norm(norm2), scale, 0.0, norm2]);
        let mut code_norm2 = 0i32;
        for chunk in vector.chunks(4) {
            let mut bytes = [0u8; 4];
            for (b, v) in bytes.iter_mut().zip(chunk) {
                // Round half away from zero without a libm call; |v * inv_scale| <= 127.
                let x = v * inv_scale;
                let code = (x + 0.5f32.copysign(x)).clamp(-127.0, 127.0) as i8;
                code_norm2 += i32::from(code) * i32::from(code);
                *b = code as u8;
            }
            record.push(f32::from_bits(u32::from_ne_bytes(bytes)));
        }
        record[CODE_NORM2] = code_norm2 as f32;
        record.extend_from_slice(vector);
        record
    }

    /// Prepares a query vector.
    pub(crate) fn query<'a>(&self, vector: &'a [f32]) -> Query<'a> {
        let norm2 = (self.dot)(vector, vector);
        Query { vector, inv_norm: inv_norm(norm2), norm2 }
    }

    /// The vector exactly as added.
    #[inline]
    pub(crate) fn vector<'a>(&self, record: &'a [f32]) -> &'a [f32] {
        &record[HEADER + self.code_words..]
    }

    #[inline]
    fn codes<'a>(&self, record: &'a [f32]) -> &'a [i8] {
        let words = &record[HEADER..HEADER + self.code_words];
        // SAFETY: the pointer and length describe exactly the bytes of `words`, which stay borrowed
        // for 'a; `i8` has alignment 1 and every bit pattern is a valid `i8`.
        let bytes = unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<i8>(), words.len() * 4) };
        &bytes[..self.dim]
    }

    /// Exact key between a query and a record.
    #[inline]
    pub(crate) fn key_exact(&self, q: &Query<'_>, record: &[f32]) -> f32 {
        let v = self.vector(record);
        match self.metric {
            Metric::Cosine => -((self.dot)(q.vector, v) * q.inv_norm * record[INV_NORM]),
            Metric::Dot => -(self.dot)(q.vector, v),
            Metric::Euclidean => (self.l2sq)(q.vector, v),
        }
    }

    /// Approximate key between a query and a record's codes (graph walk).
    #[inline]
    pub(crate) fn key_fast(&self, q: &Query<'_>, record: &[f32]) -> f32 {
        let dot = (self.dot_f32_i8)(q.vector, self.codes(record)) * record[SCALE];
        match self.metric {
            Metric::Cosine => -(dot * q.inv_norm * record[INV_NORM]),
            Metric::Dot => -dot,
            Metric::Euclidean => (q.norm2 + record[NORM2] - 2.0 * dot).max(0.0),
        }
    }

    /// Approximate key between two records, from their codes only (neighbour selection).
    #[inline]
    pub(crate) fn key_codes(&self, a: &[f32], b: &[f32]) -> f32 {
        let (sa, sb) = (a[SCALE], b[SCALE]);
        let dot = (self.dot_i8)(self.codes(a), self.codes(b)) as f32 * sa * sb;
        match self.metric {
            Metric::Cosine => -(dot * a[INV_NORM] * b[INV_NORM]),
            Metric::Dot => -dot,
            // Squared norms of the quantised vectors, so a record is at distance ~0 from itself.
            Metric::Euclidean => (a[CODE_NORM2] * sa * sa + b[CODE_NORM2] * sb * sb - 2.0 * dot).max(0.0),
        }
    }

    /// The public score of an exact key: cosine similarity, dot product or Euclidean distance.
    #[inline]
    pub(crate) fn score(&self, key: f32) -> f32 {
        match self.metric {
            Metric::Cosine => (-key).clamp(-1.0, 1.0),
            Metric::Dot => -key,
            Metric::Euclidean => key.max(0.0).sqrt(),
        }
    }
}

/// What a graph walk measures stored records against: lower keys are nearer.
pub(crate) trait Probe {
    /// The key between the probe and a stored record.
    fn key(&self, space: &Space, record: &[f32]) -> f32;
}

/// A search query: compares the exact query with the records' codes.
impl Probe for Query<'_> {
    #[inline]
    fn key(&self, space: &Space, record: &[f32]) -> f32 {
        space.key_fast(self, record)
    }
}

/// A stored record as the probe (linking that record's slot): codes against codes, a quarter of
/// the vector bytes and far less arithmetic than [`Space::key_fast`].
#[derive(Clone, Copy)]
pub(crate) struct RecordProbe<'a>(pub &'a [f32]);

impl Probe for RecordProbe<'_> {
    #[inline]
    fn key(&self, space: &Space, record: &[f32]) -> f32 {
        space.key_codes(self.0, record)
    }
}

fn inv_norm(norm2: f32) -> f32 {
    let norm = f64::from(norm2).sqrt();
    if norm > 0.0 && norm.is_finite() { (1.0 / norm) as f32 } else { 0.0 }
}

fn select_kernels() -> (DotF32, DotF32, DotF32I8, DotI8) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return (x86::dot, x86::l2sq, x86::dot_f32_i8, x86::dot_i8);
    }
    (dot_portable, l2sq_portable, dot_f32_i8_portable, dot_i8_portable)
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

/// Dot product of floats with 8-bit codes; same structure as [`dot_portable`].
pub(crate) fn dot_f32_i8_portable(a: &[f32], b: &[i8]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * f32::from(y[i]);
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ta.iter().zip(tb) {
        sum += x * f32::from(*y);
    }
    sum
}

/// Exact integer dot product of two code vectors with values in [-127, 127] (cannot overflow for
/// dim <= 1M).
pub(crate) fn dot_i8_portable(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0i32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += i32::from(x[i]) * i32::from(y[i]);
        }
    }
    let mut sum: i32 = acc.iter().sum();
    for (x, y) in ta.iter().zip(tb) {
        sum += i32::from(*x) * i32::from(*y);
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    // Safe entry points; `select_kernels` hands them out only after detecting AVX2 and FMA.

    pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: only selected when the CPU supports AVX2 and FMA.
        unsafe { dot_avx2(a, b) }
    }

    pub(super) fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: as for `dot`.
        unsafe { l2sq_avx2(a, b) }
    }

    pub(super) fn dot_f32_i8(a: &[f32], b: &[i8]) -> f32 {
        // SAFETY: as for `dot`.
        unsafe { dot_f32_i8_avx2(a, b) }
    }

    pub(super) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
        // SAFETY: as for `dot`.
        unsafe { dot_i8_avx2(a, b) }
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

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_f32_i8_avx2(a: &[f32], b: &[i8]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 2];
        let mut i = 0;
        // SAFETY (all loads): every float read is `< n`; every 8-byte code load covers `i..i + 8`
        // with `i + 8 <= n`.
        while i + 16 <= n {
            for (j, slot) in acc.iter_mut().enumerate() {
                let (x, codes) =
                    unsafe { (_mm256_loadu_ps(pa.add(i + 8 * j)), _mm_loadl_epi64(pb.add(i + 8 * j).cast())) };
                let y = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(codes));
                *slot = _mm256_fmadd_ps(x, y, *slot);
            }
            i += 16;
        }
        while i + 8 <= n {
            let (x, codes) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm_loadl_epi64(pb.add(i).cast())) };
            let y = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(codes));
            acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
            i += 8;
        }
        let mut sum = hsum(_mm256_add_ps(acc[0], acc[1]));
        for k in i..n {
            sum += a[k] * f32::from(b[k]);
        }
        sum
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let ones = _mm256_set1_epi16(1);
        let mut acc = _mm256_setzero_si256();
        let mut i = 0;
        // 32 codes per step: |a| (unsigned) times b with a's sign, summed in pairs to i16. Exact
        // because codes lie in [-127, 127]: a pair is at most 2 * 127 * 127 < i16::MAX, and
        // negating b never overflows.
        // SAFETY (all loads): each 32-byte load covers `i..i + 32` with `i + 32 <= n`.
        while i + 32 <= n {
            let (x, y) = unsafe { (_mm256_loadu_si256(pa.add(i).cast()), _mm256_loadu_si256(pb.add(i).cast())) };
            let pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(x), _mm256_sign_epi8(y, x));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
            i += 32;
        }
        // SAFETY (all loads): each 16-byte load covers `i..i + 16` with `i + 16 <= n`.
        while i + 16 <= n {
            let (x, y) = unsafe { (_mm_loadu_si128(pa.add(i).cast()), _mm_loadu_si128(pb.add(i).cast())) };
            let prod = _mm256_madd_epi16(_mm256_cvtepi8_epi16(x), _mm256_cvtepi8_epi16(y));
            acc = _mm256_add_epi32(acc, prod);
            i += 16;
        }
        let x = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        let x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0b01_00_11_10));
        let x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0b10_11_00_01));
        let mut sum = _mm_cvtsi128_si32(x);
        for k in i..n {
            sum += i32::from(a[k]) * i32::from(b[k]);
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
        let (dot, l2sq, dot_f32_i8, dot_i8) = select_kernels();
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
            let ca: Vec<i8> = (0..n).map(|i| ((i * 37 + 11) % 255) as i32 - 127).map(|c| c as i8).collect();
            let cb: Vec<i8> = (0..n).map(|i| ((i * 53 + 5) % 255) as i32 - 127).map(|c| c as i8).collect();
            let exact: i32 = ca.iter().zip(&cb).map(|(x, y)| i32::from(*x) * i32::from(*y)).sum();
            assert_eq!(dot_i8(&ca, &cb), exact, "dot_i8 n={n}");
            assert_eq!(dot_i8_portable(&ca, &cb), exact, "dot_i8_portable n={n}");
            let mixed: f64 = a.iter().zip(&cb).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
            for got in [dot_f32_i8(&a, &cb), dot_f32_i8_portable(&a, &cb)] {
                assert!((f64::from(got) - mixed).abs() < 1e-3 * (1.0 + mixed.abs()), "dot_f32_i8 n={n}");
            }
        }
    }

    #[test]
    fn dot_i8_kernels_agree_on_random_codes() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let (_, _, _, selected) = select_kernels();
        let mut rng = StdRng::seed_from_u64(7);
        for n in [1usize, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 100, 128, 129, 384, 1000, 1536] {
            for round in 0..20 {
                let a: Vec<i8> = (0..n).map(|_| rng.random_range(-127i8..=127)).collect();
                let b: Vec<i8> = (0..n).map(|_| rng.random_range(-127i8..=127)).collect();
                let exact: i32 = a.iter().zip(&b).map(|(x, y)| i32::from(*x) * i32::from(*y)).sum();
                assert_eq!(dot_i8_portable(&a, &b), exact, "portable n={n} round={round}");
                assert_eq!(selected(&a, &b), exact, "selected n={n} round={round}");
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    assert_eq!(x86::dot_i8(&a, &b), exact, "avx2 n={n} round={round}");
                }
            }
            // The extremes: every pair at the largest magnitude, same and opposite signs.
            for (x, y) in [(127i8, 127i8), (-127, -127), (127, -127), (-127, 127)] {
                let (a, b) = (vec![x; n], vec![y; n]);
                let exact = n as i32 * i32::from(x) * i32::from(y);
                assert_eq!(dot_i8_portable(&a, &b), exact, "portable extremes n={n}");
                assert_eq!(selected(&a, &b), exact, "selected extremes n={n}");
            }
        }
    }

    #[test]
    fn records_keep_the_vector_and_approximate_keys_are_close() {
        for metric in [Metric::Cosine, Metric::Dot, Metric::Euclidean] {
            for dim in [1usize, 3, 17, 128] {
                let space = Space::new(metric, dim);
                let a: Vec<f32> = (0..dim).map(|i| ((i * 7 + 3) % 11) as f32 * 0.3 - 1.4).collect();
                let b: Vec<f32> = (0..dim).map(|i| ((i * 5 + 1) % 13) as f32 * 0.2 - 1.1).collect();
                let (ra, rb) = (space.make_record(&a), space.make_record(&b));
                assert_eq!(ra.len(), space.record_len());
                assert_eq!(space.vector(&ra), &a[..]);
                let q = space.query(&a);
                let exact = space.key_exact(&q, &rb);
                // 8-bit codes: errors of about 1% of the magnitudes involved.
                let (na2, nb2) = (space.query(&a).norm2, space.query(&b).norm2);
                let tolerance = 0.01
                    * match metric {
                        Metric::Cosine => 1.0,
                        Metric::Dot => 1.0 + (na2 * nb2).sqrt(),
                        Metric::Euclidean => 1.0 + na2 + nb2,
                    };
                assert!((space.key_fast(&q, &rb) - exact).abs() < tolerance, "{metric:?} fast dim={dim}");
                assert!((space.key_codes(&ra, &rb) - exact).abs() < tolerance, "{metric:?} codes dim={dim}");
                let qb = space.query(&b);
                assert_eq!((rb[INV_NORM], rb[NORM2]), (qb.inv_norm, qb.norm2), "{metric:?} header dim={dim}");
            }
        }
    }

    #[test]
    fn cosine_ignores_magnitude_and_zero_scores_zero() {
        let space = Space::new(Metric::Cosine, 3);
        let a = [1.0, 2.0, 3.0];
        let b = space.make_record(&[10.0, 20.0, 30.0]);
        let zero = space.make_record(&[0.0, 0.0, 0.0]);
        assert!((space.score(space.key_exact(&space.query(&a), &b)) - 1.0).abs() < 1e-6);
        assert_eq!(space.score(space.key_exact(&space.query(&a), &zero)), 0.0);
        assert_eq!(space.score(space.key_exact(&space.query(&[0.0; 3]), &zero)), 0.0);
        assert_eq!(space.score(space.key_fast(&space.query(&a), &zero)), 0.0);
    }
}
