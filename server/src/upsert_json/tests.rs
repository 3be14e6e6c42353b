//! The fast decoder against `serde_json::from_slice` on the same bodies: equal results, bit for bit,
//! whenever it decodes, and it does decode the shapes the SDKs send.

use serde_json::json;
use vectorizer_sdk_types::UpsertRequest;

use super::decode;

/// The vectors' bits, so -0.0 and 0.0 (and NaN payloads) are told apart.
fn bits(req: &UpsertRequest) -> Vec<(String, Vec<u32>, Option<serde_json::Value>)> {
    req.vectors
        .iter()
        .map(|p| {
            (
                p.id.clone(),
                p.vector.iter().map(|x| x.to_bits()).collect(),
                p.payload.clone().map(serde_json::Value::Object),
            )
        })
        .collect()
}

/// Asserts the invariant on `body`; returns whether the fast path decoded it.
fn check(body: &str) -> bool {
    let serde = serde_json::from_slice::<UpsertRequest>(body.as_bytes());
    match decode(body.as_bytes()) {
        Some(fast) => {
            let serde = serde.unwrap_or_else(|e| panic!("fast path accepted a body serde refuses ({e}): {body}"));
            assert_eq!(bits(&fast), bits(&serde), "{body}");
            true
        }
        None => false,
    }
}

fn body_with_numbers(numbers: &[&str]) -> String {
    format!(r#"{{"vectors":[{{"id":"a","vector":[{}]}}]}}"#, numbers.join(","))
}

#[test]
fn the_bodies_the_sdks_send_take_the_fast_path() {
    let vector: Vec<f32> = (0..128).map(|i| (i as f32 * 0.377).sin() * 3.1).collect();
    let point = |id: &str, payload: serde_json::Value| json!({"id": id, "vector": vector, "payload": payload});
    let bodies = [
        json!({"vectors": [point("a", json!(null)), point("b", json!({"k": "v", "n": [1, 2, {"x": null}]}))]}),
        json!({"vectors": [{"id": "c", "vector": vector}]}),
        json!({"vectors": [{"id": "d", "vector": vector, "payload": {"q": "with \"escapes\" \\ \u{e9}"}}]}),
        json!({"vectors": []}),
    ];
    for body in &bodies {
        assert!(check(&body.to_string()), "compact: {body}");
        assert!(check(&serde_json::to_string_pretty(body).expect("pretty")), "pretty: {body}");
    }
    // Python's json.dumps and JavaScript's JSON.stringify write f64 reprs of f32 values (17 digits).
    let long: Vec<String> = vector.iter().map(|&x| format!("{:?}", f64::from(x))).collect();
    let refs: Vec<&str> = long.iter().map(String::as_str).collect();
    assert!(check(&body_with_numbers(&refs)));
}

#[test]
fn every_number_form_decodes_to_the_bits_serde_gives() {
    let numbers = [
        "0",
        "-0",
        "1",
        "-1",
        "0.0",
        "-0.0",
        "1.5",
        "-2.25",
        "0.1",
        "0.30000000000000004",
        "3.4028235e38",
        "3.4028236e38",
        "1e39",
        "-1e39",
        "1e22",
        "1e-22",
        "1.17549435e-38",
        "1.0E+5",
        "2e-3",
        "7E2",
        "123456789012345678",
        "-123456789012345678",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615",
        "16777217",
        "16777217.0",
        "0.1e1",
        "4.9406564584124654e-22",
        "1.4e-45",
        "1e-46",
        "1e308",
        "12345678901234567890",
        "0.000000000000000000001",
        "1e400",
        "-1e400",
        "123.456e-7",
    ];
    let mut fast = 0;
    for n in numbers {
        if check(&body_with_numbers(&[n])) {
            fast += 1;
        }
    }
    assert!(fast >= 25, "most forms take the fast path ({fast} of {})", numbers.len());
    // Pseudo-random f32 and f64 values written the ways clients write them.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let f = f32::from_bits((x >> 32) as u32);
        if !f.is_finite() {
            continue;
        }
        let d = f64::from_bits(x);
        let forms =
            [format!("{f}"), format!("{f:?}"), format!("{:?}", f64::from(f)), format!("{f:e}"), format!("{d:e}")];
        let refs: Vec<&str> = forms.iter().map(String::as_str).collect();
        check(&body_with_numbers(&refs));
    }
}

#[test]
fn anything_unusual_or_invalid_is_left_to_serde() {
    let cases = [
        // Invalid: serde's error message is the answer.
        r#"{"vectors":[{"id":"a","vector":[01]}]}"#,
        r#"{"vectors":[{"id":"a","vector":[1.]}]}"#,
        r#"{"vectors":[{"id":"a","vector":[-]}]}"#,
        r#"{"vectors":[{"id":"a","vector":[1e]}]}"#,
        r#"{"vectors":[{"id":"a","vector":[1,]}]}"#,
        r#"{"vectors":[{"id":"a","vector":[1,"x"]}]}"#,
        r#"{"vectors":[{"id":"a","vector":[1] "payload":null}]}"#,
        r#"{"vectors":[{"id":"a","vector":"AAC!"}]}"#,
        r#"{"vectors":[{"id":"a","vector":[1],"payload":[1]}]}"#,
        r#"{"vectors":[{"id":"a","vector":[1],"payload":{"a":}}]}"#,
        r#"{"vectors":[{"id":"a","vector":[1],"payload":{"a":1}}}]}"#,
        r#"{"vectors":[{"id":"a"}]}"#,
        r#"{"vectors":[{"vector":[1]}]}"#,
        r#"{"vectors":[{"id":"a","id":"b","vector":[1]}]}"#,
        r#"{"vectors":[{"id":"a","vector":[1]}]} x"#,
        r#"{"vectors":[{"id":"a","vector":[1]}]"#,
        r#"{"vectors":[{"id":"a\u0001","vector":[1]}]}"#,
        "{\"vectors\":[{\"id\":\"a\u{1}\",\"vector\":[1]}]}",
        r#"{"vectors":[{"id":5,"vector":[1]}]}"#,
        r#"{"vectors":[{"id":"a","vector":null}]}"#,
        r#"{"vectors":{}}"#,
        r#"[]"#,
        "",
        // Valid, but outside the fast path: serde decodes them.
        r#"{"vectors":[{"id":"a\"b","vector":[1]}]}"#,
        r#"{"vectors":[{"id":"a","vector":[1],"extra":true}]}"#,
        r#"{"other":1,"vectors":[{"id":"a","vector":[1]}]}"#,
        r#"{"vectors":[{"id":"a","vector":[1e-30]}]}"#,
        r#"{"vectors":[{"id":"a","vector":[123456789012345678901]}]}"#,
        r#"{"vectors":[{"id":"a","vector":"AACAPwAAAEA="}]}"#,
    ];
    for body in cases {
        assert!(!check(body), "the fast path took {body}");
    }
    let deep = format!(
        r#"{{"vectors":[{{"id":"a","vector":[1],"payload":{{"d":{}1{}}}}}]}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    assert!(!check(&deep), "a payload nested past the limit is left to serde");
}
