//! A fast decoder for the common shape of an upsert body: `{"vectors":[{"id":..,"vector":[..],
//! "payload":..}, ..]}` with plain strings and ordinary numbers.
//!
//! Decoding JSON floats through serde is most of an ingest request's CPU (see docs/PERFORMANCE.md);
//! this decoder reads the number arrays in one pass and converts each number with exactly the
//! arithmetic `serde_json` uses, so its results are bit-for-bit those of `serde_json::from_slice`.
//!
//! Invariant: [`decode`] returns `Some(request)` only when `serde_json::from_slice::<UpsertRequest>`
//! would return `Ok(request)` with the same bits in every vector; for anything it does not handle
//! (base64 vectors, escapes in strings, unknown or repeated keys, a significand beyond `u64`, an
//! exponent beyond ±22, any error) it returns `None` and the caller decodes with serde, which also
//! produces the error message. It never decides that a body is invalid.

use vectorizer_sdk_types::{Payload, PointInput, UpsertRequest};

/// Exact powers of ten as f64 (every one up to 10^22 is representable).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// Nesting a payload may reach before the decoder defers to serde (whose whole-document limit is 128).
const MAX_PAYLOAD_DEPTH: usize = 64;

/// Decodes `bytes` if it is an upsert body of the common shape; `None` means "decode it with serde".
pub fn decode(bytes: &[u8]) -> Option<UpsertRequest> {
    let mut c = Cursor { b: bytes, i: 0 };
    c.ws();
    c.eat(b'{')?;
    c.ws();
    c.key(b"vectors")?;
    c.ws();
    c.eat(b'[')?;
    let mut vectors = Vec::new();
    c.ws();
    if c.peek() == Some(b']') {
        c.i += 1;
    } else {
        loop {
            c.ws();
            let dimension = vectors.last().map_or(0, |p: &PointInput| p.vector.len());
            vectors.push(c.point(dimension)?);
            c.ws();
            match c.next()? {
                b',' => continue,
                b']' => break,
                _ => return None,
            }
        }
    }
    c.ws();
    c.eat(b'}')?;
    c.ws();
    (c.i == bytes.len()).then_some(UpsertRequest { vectors })
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// JSON whitespace.
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    /// A string without escapes or control characters, as UTF-8.
    fn plain_str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let rest = &self.b[self.i..];
        let len = rest.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest[len] != b'"' {
            return None;
        }
        self.i += len + 1;
        std::str::from_utf8(&rest[..len]).ok()
    }

    /// `"name"` followed by `:`.
    fn key(&mut self, name: &[u8]) -> Option<()> {
        (self.plain_str()?.as_bytes() == name).then_some(())?;
        self.ws();
        self.eat(b':')
    }

    /// One `{"id":..,"vector":..,"payload":..}` in any order; `payload` may be absent.
    /// `dimension`: the length the vector probably has (the previous point's).
    fn point(&mut self, dimension: usize) -> Option<PointInput> {
        self.eat(b'{')?;
        let (mut id, mut vector, mut payload) = (None, None, None);
        loop {
            self.ws();
            let key = self.plain_str()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            match key {
                "id" if id.is_none() => id = Some(self.plain_str()?.to_owned()),
                "vector" if vector.is_none() => vector = Some(self.vector(dimension)?),
                "payload" if payload.is_none() => payload = Some(self.payload()?),
                _ => return None,
            }
            self.ws();
            match self.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
        Some(PointInput { id: id?, vector: vector?, payload: payload.flatten() })
    }

    /// An array of numbers. `capacity`: the expected length. A base64 string is left to serde, whose
    /// string scan is faster than this decoder's (and the body's first vector comes early).
    fn vector(&mut self, capacity: usize) -> Option<Vec<f32>> {
        self.eat(b'[')?;
        let mut out = Vec::with_capacity(capacity);
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Some(out);
        }
        loop {
            self.ws();
            out.push(self.number()?);
            self.ws();
            match self.next()? {
                b',' => continue,
                b']' => return Some(out),
                _ => return None,
            }
        }
    }

    /// A JSON number converted to f32 exactly as serde's `f32` from `serde_json` (a float is parsed
    /// to f64 as `significand as f64` times or divided by an exact power of ten, then cast; an
    /// integer is cast from its `u64`/`i64`, and `-0` is the float -0.0). A significand that does not
    /// fit in a `u64` (serde switches to another algorithm there) or an exponent past ±22: `None`.
    fn number(&mut self) -> Option<f32> {
        let b = self.b;
        let mut i = self.i;
        let positive = b.get(i) != Some(&b'-');
        if !positive {
            i += 1;
        }
        let int_start = i;
        let mut significand: u64 = 0;
        while let Some(d) = b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9) {
            significand = significand.wrapping_mul(10).wrapping_add(u64::from(d));
            i += 1;
        }
        let mut digits = i - int_start;
        if digits == 0 || (digits > 1 && b[int_start] == b'0') {
            return None; // no digit, or a leading zero: serde refuses both
        }
        let mut exponent: i32 = 0;
        let mut is_float = false;
        if b.get(i) == Some(&b'.') {
            i += 1;
            is_float = true;
            let frac_start = i;
            while let Some(d) = b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9) {
                significand = significand.wrapping_mul(10).wrapping_add(u64::from(d));
                i += 1;
            }
            let frac = i - frac_start;
            if frac == 0 {
                return None;
            }
            digits += frac;
            exponent = -i32::try_from(frac).ok()?;
        }
        if digits > 19 {
            // Leading zeros count above but not in the value: check for a real overflow.
            significand = checked_significand(&b[int_start..i])?;
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            is_float = true;
            let exp_positive = b.get(i) != Some(&b'-');
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let exp_start = i;
            let mut exp: i32 = 0;
            while let Some(d) = b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9) {
                exp = exp * 10 + i32::from(d);
                i += 1;
                if i - exp_start > 4 {
                    return None;
                }
            }
            if i == exp_start {
                return None;
            }
            exponent += if exp_positive { exp } else { -exp };
        }
        self.i = i;
        if !is_float {
            return Some(if positive {
                significand as f32
            } else {
                let negated = (significand as i64).wrapping_neg();
                if negated >= 0 { -(significand as f64) as f32 } else { negated as f32 }
            });
        }
        let pow = *POW10.get(exponent.unsigned_abs() as usize)?;
        let mut f = significand as f64;
        if exponent >= 0 {
            f *= pow;
        } else {
            f /= pow;
        }
        Some((if positive { f } else { -f }) as f32)
    }

    /// `null` (no payload) or an object, decoded by serde from its exact span.
    fn payload(&mut self) -> Option<Option<Payload>> {
        let start = self.i;
        self.skip_value()?;
        serde_json::from_slice::<Option<Payload>>(&self.b[start..self.i]).ok()
    }

    /// Moves past one JSON value without decoding it (strings may hold escapes here; serde checks
    /// the span afterwards). Iterative, and gives up past `MAX_PAYLOAD_DEPTH`.
    fn skip_value(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            self.ws();
            match self.peek()? {
                b'{' | b'[' => {
                    depth += 1;
                    if depth > MAX_PAYLOAD_DEPTH {
                        return None;
                    }
                    self.i += 1;
                    continue;
                }
                b'"' => self.skip_string()?,
                b'}' | b']' => {
                    // An empty object or array, or the end of one after its last element.
                    depth = depth.checked_sub(1)?;
                    self.i += 1;
                }
                _ => {
                    while let Some(c) = self.peek() {
                        if matches!(c, b',' | b'}' | b']' | b':' | b' ' | b'\n' | b'\r' | b'\t') {
                            break;
                        }
                        self.i += 1;
                    }
                }
            }
            if depth == 0 {
                return Some(());
            }
            self.ws();
            match self.peek()? {
                b',' | b':' => self.i += 1,
                b'}' | b']' => {}
                _ => return None,
            }
        }
    }

    /// Moves past a string, escapes included.
    fn skip_string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            match self.next()? {
                b'"' => return Some(()),
                b'\\' => {
                    self.next()?;
                }
                _ => {}
            }
        }
    }
}

/// The value of the digits of `number` (a JSON number's integer and fraction, `.` skipped), or
/// `None` if it does not fit in a `u64`, where serde would switch to its long-number algorithm.
fn checked_significand(number: &[u8]) -> Option<u64> {
    number
        .iter()
        .filter(|c| c.is_ascii_digit())
        .try_fold(0u64, |acc, c| acc.checked_mul(10)?.checked_add(u64::from(c - b'0')))
}

#[cfg(test)]
mod tests;
