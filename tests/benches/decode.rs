//! In-process cost of decoding one ingest request body (100 x 128-d `UpsertRequest` JSON), the step
//! that dominates the server's request path during ingest (see docs/PERFORMANCE.md).
//!
//! Run with `cargo bench -p vectorizer-tests --bench decode`. Compares the server's way (the fast
//! decoder `server/src/upsert_json.rs`, then for the bodies it leaves to serde
//! `server/src/extract.rs::parse_json`: plain `serde_json::from_slice`, re-parsed through
//! `serde_path_to_error` only when that fails, to name the field in the error message) with always
//! decoding through `serde_path_to_error` (the server before), plain `serde_json` and a syntax-only
//! pass (`IgnoredAny`, the floor for any serde_json-based decoder). Also measures a body whose last
//! float is a string (the error path: two parses in the server's way), and the same points with
//! base64 vectors (little-endian f32, the optional encoding of the SDKs). Prints CPU microseconds
//! per vector (thread CPU time, so other load on the machine does not inflate it), all variants
//! measured in one run, interleaved.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::Duration;

use vectorizer_core::testdata::GaussianMixture;
use vectorizer_sdk_types::vector::encode_base64;
use vectorizer_sdk_types::{PointInput, UpsertRequest};
use vectorizer_server::{extract, upsert_json};

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

/// CPU microseconds per vector of `decode` over `ROUNDS` bodies.
fn measure_once(body: &[u8], decode: &dyn Fn(&[u8])) -> f64 {
    let t = thread_cpu();
    for _ in 0..ROUNDS {
        decode(black_box(body));
    }
    (thread_cpu() - t).as_secs_f64() * 1e6 / (ROUNDS * BATCH) as f64
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
        "decoding one upsert body: {BATCH} x {DIM}-d, {} bytes ({:.1} bytes per float); CPU µs per vector, median of {REPEATS} interleaved rounds of {ROUNDS} bodies",
        body.len(),
        body.len() as f64 / (BATCH * DIM) as f64
    );
    println!();
    let b64_body = base64_body(&req);
    println!(
        "same points with base64 vectors (little-endian f32): {} bytes ({:.2} bytes per float)",
        b64_body.len(),
        b64_body.len() as f64 / (BATCH * DIM) as f64
    );
    println!();
    let bad = bad_body(&body);
    let binary: Vec<u8> = req.vectors.iter().flat_map(|p| p.vector.iter().flat_map(|x| x.to_le_bytes())).collect();
    assert_eq!(upsert_json::decode(&body).as_ref(), Some(&req), "the fast decoder takes the array body");
    assert_eq!(upsert_json::decode(&b64_body), None, "base64 bodies are left to serde");
    let variants: [Variant<'_>; 10] = [
        ("server now: upsert_json fast decoder", &body, &|b| {
            black_box(extract::decode_upsert(b).expect("decode"));
        }),
        ("server before: always through serde_path_to_error", &body, &|b| {
            black_box(decode_path_to_error(b).expect("decode"));
        }),
        ("server's serde fallback: from_slice, serde_path_to_error only on failure", &body, &|b| {
            black_box(extract::parse_json::<UpsertRequest>(b).expect("decode"));
        }),
        ("serde_json::from_slice", &body, &|b| {
            black_box(serde_json::from_slice::<UpsertRequest>(b).expect("decode"));
        }),
        ("serde_json syntax only (IgnoredAny)", &body, &|b| {
            black_box(serde_json::from_slice::<serde::de::IgnoredAny>(b).expect("decode"));
        }),
        ("error in the last float, server now (fast decoder declines at the end, then two parses)", &bad, &|b| {
            black_box(extract::decode_upsert(b).expect_err("bad body"));
        }),
        ("error in the last float, server before", &bad, &|b| {
            black_box(decode_path_to_error(b).expect_err("bad body"));
        }),
        ("base64 vectors, server now (fast decoder declines at the first vector, then from_slice)", &b64_body, &|b| {
            black_box(extract::decode_upsert(b).expect("decode"));
        }),
        ("base64 vectors, serde only (from_slice)", &b64_body, &|b| {
            black_box(extract::parse_json::<UpsertRequest>(b).expect("decode"));
        }),
        ("little-endian f32 bytes (binary encoding, for scale)", &binary, &|b| {
            let v: Vec<f32> = b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
            black_box(v);
        }),
    ];
    let (path, _) = decode_path_to_error(&bad).expect_err("bad");
    let server = extract::decode_upsert(&bad).expect_err("bad").message;
    assert!(server.starts_with(&format!("{path}: ")), "the server names the same path ({path}): {server}");
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..REPEATS {
        for (i, (_, input, decode)) in variants.iter().enumerate() {
            samples[i].push(measure_once(input, decode));
        }
    }
    let medians: Vec<f64> = samples
        .iter_mut()
        .map(|s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect();
    let before = medians[1];
    println!("| decoder | CPU µs per vector | vs server before |");
    println!("| --- | ---:| ---:|");
    for ((name, _, _), us) in variants.iter().zip(&medians) {
        println!("| {name} | {us:.2} | {:.2}x |", us / before);
    }
}

/// `req` with every vector as a base64 string; checked to decode to the same request.
fn base64_body(req: &UpsertRequest) -> Vec<u8> {
    let vectors: Vec<serde_json::Value> =
        req.vectors.iter().map(|p| serde_json::json!({"id": p.id, "vector": encode_base64(&p.vector)})).collect();
    let body = serde_json::to_vec(&serde_json::json!({ "vectors": vectors })).expect("encode");
    assert_eq!(&extract::decode_upsert(&body).expect("base64 body decodes"), req);
    body
}

/// A row of the table: name, input, decoder.
type Variant<'a> = (&'static str, &'a [u8], &'a dyn Fn(&[u8]));

/// The body with its last float replaced by a string: a data error found at the very end.
fn bad_body(body: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(body).expect("utf-8");
    // The last `]` closes `vectors`; the one before it closes the last point's vector (payloads are null).
    let outer = text.rfind(']').expect("the vectors array");
    let end = text[..outer].rfind(']').expect("a vector");
    let start = text[..end].rfind([',', '[']).expect("a float") + 1;
    format!("{}\"x\"{}", &text[..start], &text[end..]).into_bytes()
}

/// Where serde_path_to_error says the error is, and serde's message.
type DecodeError = (String, String);

/// The server before: every body through serde_path_to_error.
fn decode_path_to_error(b: &[u8]) -> Result<UpsertRequest, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(b);
    let v: UpsertRequest =
        serde_path_to_error::deserialize(&mut de).map_err(|e| (e.path().to_string(), e.into_inner().to_string()))?;
    de.end().map_err(|e| (".".to_string(), e.to_string()))?;
    Ok(v)
}
