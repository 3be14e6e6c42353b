//! In-process cost of decoding one ingest request body (100 x 128-d `UpsertRequest` JSON), the step
//! that dominates the server's request path during ingest (see docs/PERFORMANCE.md).
//!
//! Run with `cargo bench -p vectorizer-tests --bench decode`. Compares the server's way (serde_json
//! through `serde_path_to_error`, for error messages naming the field) with plain `serde_json` and
//! with a syntax-only pass (`IgnoredAny`, the floor for any serde_json-based decoder). Prints CPU
//! microseconds per vector (thread CPU time, so other load on the machine does not inflate it).
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::Duration;

use vectorizer_core::testdata::GaussianMixture;
use vectorizer_sdk_types::{PointInput, UpsertRequest};

const DIM: usize = 128;
const BATCH: usize = 100;
const ROUNDS: usize = 2_000;
const REPEATS: usize = 5;

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec and the clock exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(u64::try_from(ts.tv_sec).unwrap_or(0), u32::try_from(ts.tv_nsec).unwrap_or(0))
}

/// Median over `REPEATS` of the CPU microseconds per vector of `decode`.
fn measure(body: &[u8], decode: impl Fn(&[u8])) -> f64 {
    let mut per_vector: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let t = thread_cpu();
            for _ in 0..ROUNDS {
                decode(black_box(body));
            }
            (thread_cpu() - t).as_secs_f64() * 1e6 / (ROUNDS * BATCH) as f64
        })
        .collect();
    per_vector.sort_by(f64::total_cmp);
    per_vector[REPEATS / 2]
}

fn main() {
    let data = GaussianMixture::standard(DIM, 1).sample(BATCH, 2);
    let req = UpsertRequest {
        vectors: data
            .into_iter()
            .enumerate()
            .map(|(i, vector)| PointInput { id: i.to_string(), vector, payload: None })
            .collect(),
    };
    let body = serde_json::to_vec(&req).expect("encode");
    println!(
        "decoding one upsert body: {BATCH} x {DIM}-d, {} bytes ({:.1} bytes per float); CPU µs per vector, median of {REPEATS} x {ROUNDS} bodies",
        body.len(),
        body.len() as f64 / (BATCH * DIM) as f64
    );
    println!();
    let server = measure(&body, |b| {
        let mut de = serde_json::Deserializer::from_slice(b);
        let v: UpsertRequest = serde_path_to_error::deserialize(&mut de).expect("decode");
        de.end().expect("end");
        black_box(v);
    });
    let plain = measure(&body, |b| {
        black_box(serde_json::from_slice::<UpsertRequest>(b).expect("decode"));
    });
    let syntax = measure(&body, |b| {
        black_box(serde_json::from_slice::<serde::de::IgnoredAny>(b).expect("decode"));
    });
    let binary: Vec<u8> = req.vectors.iter().flat_map(|p| p.vector.iter().flat_map(|x| x.to_le_bytes())).collect();
    let raw = measure(&binary, |b| {
        let v: Vec<f32> = b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        black_box(v);
    });
    println!("| decoder | CPU µs per vector | vs server |");
    println!("| --- | ---:| ---:|");
    for (name, us) in [
        ("serde_json via serde_path_to_error (the server today)", server),
        ("serde_json::from_slice", plain),
        ("serde_json syntax only (IgnoredAny)", syntax),
        ("little-endian f32 bytes (binary encoding, for scale)", raw),
    ] {
        println!("| {name} | {us:.2} | {:.2}x |", us / server);
    }
}
