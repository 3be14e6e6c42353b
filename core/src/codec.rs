//! Binary encoding of [`Op`]: the bytes stored in log records and shipped to replicas.
//!
//! Layout (little endian): a one-byte tag, then the fields in declaration order. Strings are a
//! `u32` length then UTF-8 bytes; vectors are a `u32` count then `f32` values; optional payloads are
//! a presence byte then a string. Decoding checks every length against the remaining input, so a
//! corrupt or hostile buffer yields [`CoreError::Decode`], never a panic or a huge allocation.
//! The format is versioned by the tag space: new operations get new tags, existing tags never change.

use crate::error::{CoreError, Result};
use crate::model::{CollectionConfig, HnswParams, Metric, Op, Point};

const TAG_CREATE: u8 = 1;
const TAG_DELETE_COLLECTION: u8 = 2;
const TAG_UPSERT: u8 = 3;
const TAG_DELETE: u8 = 4;
const TAG_SET_PAYLOAD: u8 = 5;

/// Appends the encoding of `op` to `out`.
pub fn encode_op(op: &Op, out: &mut Vec<u8>) {
    match op {
        Op::CreateCollection(cfg) => {
            out.push(TAG_CREATE);
            put_str(out, &cfg.name);
            out.extend_from_slice(&cfg.dimension.to_le_bytes());
            out.push(metric_tag(cfg.metric));
            out.extend_from_slice(&cfg.hnsw.m.to_le_bytes());
            out.extend_from_slice(&cfg.hnsw.ef_construction.to_le_bytes());
            out.extend_from_slice(&cfg.hnsw.ef_search.to_le_bytes());
        }
        Op::DeleteCollection { name } => {
            out.push(TAG_DELETE_COLLECTION);
            put_str(out, name);
        }
        Op::Upsert { collection, points } => {
            out.push(TAG_UPSERT);
            put_str(out, collection);
            put_len(out, points.len());
            for p in points {
                put_str(out, &p.id);
                put_len(out, p.vector.len());
                for v in &p.vector {
                    out.extend_from_slice(&v.to_le_bytes());
                }
                put_opt_str(out, p.payload.as_deref());
            }
        }
        Op::Delete { collection, ids } => {
            out.push(TAG_DELETE);
            put_str(out, collection);
            put_len(out, ids.len());
            for id in ids {
                put_str(out, id);
            }
        }
        Op::SetPayload { collection, id, payload } => {
            out.push(TAG_SET_PAYLOAD);
            put_str(out, collection);
            put_str(out, id);
            put_opt_str(out, payload.as_deref());
        }
    }
}

/// Encodes `op` into a fresh buffer.
pub fn encode_op_to_vec(op: &Op) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_size_hint(op));
    encode_op(op, &mut out);
    out
}

/// Decodes one operation; the whole buffer must be consumed.
pub fn decode_op(bytes: &[u8]) -> Result<Op> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let op = match r.u8()? {
        TAG_CREATE => {
            let name = r.string()?;
            let dimension = r.u32()?;
            let metric = metric_from_tag(r.u8()?)?;
            let hnsw = HnswParams { m: r.u32()?, ef_construction: r.u32()?, ef_search: r.u32()? };
            Op::CreateCollection(CollectionConfig { name, dimension, metric, hnsw })
        }
        TAG_DELETE_COLLECTION => Op::DeleteCollection { name: r.string()? },
        TAG_UPSERT => {
            let collection = r.string()?;
            let count = r.len(4 + 4 + 1)?;
            let mut points = Vec::with_capacity(count);
            for _ in 0..count {
                let id = r.string()?;
                let dim = r.len(4)?;
                let raw = r.take(dim * 4)?;
                let vector = raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
                let payload = r.opt_string()?.map(String::into_boxed_str);
                points.push(Point { id, vector, payload });
            }
            Op::Upsert { collection, points }
        }
        TAG_DELETE => {
            let collection = r.string()?;
            let count = r.len(4)?;
            let mut ids = Vec::with_capacity(count);
            for _ in 0..count {
                ids.push(r.string()?);
            }
            Op::Delete { collection, ids }
        }
        TAG_SET_PAYLOAD => {
            let collection = r.string()?;
            let id = r.string()?;
            let payload = r.opt_string()?.map(String::into_boxed_str);
            Op::SetPayload { collection, id, payload }
        }
        other => return Err(CoreError::decode(format!("unknown operation tag {other}"))),
    };
    if r.pos != bytes.len() {
        return Err(CoreError::decode(format!("{} trailing bytes after operation", bytes.len() - r.pos)));
    }
    Ok(op)
}

fn encoded_size_hint(op: &Op) -> usize {
    match op {
        Op::Upsert { points, .. } => {
            points
                .iter()
                .map(|p| 12 + p.id.len() + p.vector.len() * 4 + p.payload.as_ref().map_or(0, |s| s.len()))
                .sum::<usize>()
                + 64
        }
        Op::Delete { ids, .. } => ids.iter().map(|id| 4 + id.len()).sum::<usize>() + 64,
        _ => 64,
    }
}

fn metric_tag(metric: Metric) -> u8 {
    match metric {
        Metric::Cosine => 0,
        Metric::Dot => 1,
        Metric::Euclidean => 2,
    }
}

fn metric_from_tag(tag: u8) -> Result<Metric> {
    match tag {
        0 => Ok(Metric::Cosine),
        1 => Ok(Metric::Dot),
        2 => Ok(Metric::Euclidean),
        other => Err(CoreError::decode(format!("unknown metric tag {other}"))),
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Lengths are bounded by validation (batch <= 10k, dims <= 65536, payload caps) far below u32::MAX.
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
        None => out.push(0),
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.buf.len()).ok_or_else(|| {
            CoreError::decode(format!(
                "field of {n} bytes at byte {} overruns the {}-byte operation",
                self.pos,
                self.buf.len()
            ))
        })?;
        let slice = &self.buf[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a count and checks that `count * min_item_bytes` could still fit in the buffer, so a
    /// corrupt count can never trigger a large allocation.
    fn len(&mut self, min_item_bytes: usize) -> Result<usize> {
        let count = self.u32()? as usize;
        let remaining = self.buf.len() - self.pos;
        if count.saturating_mul(min_item_bytes) > remaining {
            return Err(CoreError::decode(format!(
                "count {count} at byte {} cannot fit in the {remaining} remaining bytes",
                self.pos - 4
            )));
        }
        Ok(count)
    }

    fn string(&mut self) -> Result<String> {
        let len = self.len(1)?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|e| CoreError::decode(format!("invalid UTF-8: {e}")))
    }

    fn opt_string(&mut self) -> Result<Option<String>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.string()?)),
            other => Err(CoreError::decode(format!("invalid presence byte {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_ops() -> Vec<Op> {
        vec![
            Op::CreateCollection(CollectionConfig {
                name: "docs".into(),
                dimension: 3,
                metric: Metric::Euclidean,
                hnsw: HnswParams { m: 8, ef_construction: 50, ef_search: 20 },
            }),
            Op::Upsert {
                collection: "docs".into(),
                points: vec![
                    Point { id: "a".into(), vector: vec![1.0, -2.5, 3.25], payload: Some("{\"k\":1}".into()) },
                    Point { id: "é".into(), vector: vec![0.0, 0.0, 0.0], payload: None },
                ],
            },
            Op::Delete { collection: "docs".into(), ids: vec!["a".into(), "b".into()] },
            Op::SetPayload { collection: "docs".into(), id: "a".into(), payload: None },
            Op::DeleteCollection { name: "docs".into() },
        ]
    }

    #[test]
    fn every_op_round_trips() {
        for op in sample_ops() {
            let bytes = encode_op_to_vec(&op);
            assert_eq!(decode_op(&bytes).expect("decode"), op);
        }
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        for op in sample_ops() {
            let bytes = encode_op_to_vec(&op);
            for cut in 0..bytes.len() {
                assert!(decode_op(&bytes[..cut]).is_err(), "cut at {cut} of {op:?}");
            }
        }
    }

    #[test]
    fn hostile_counts_do_not_allocate() {
        let mut bytes = vec![TAG_DELETE];
        put_str(&mut bytes, "c");
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        let err = decode_op(&bytes).expect_err("count too large");
        assert!(err.to_string().contains("cannot fit"), "{err}");
    }

    #[test]
    fn trailing_bytes_and_unknown_tags_are_rejected() {
        let mut bytes = encode_op_to_vec(&Op::DeleteCollection { name: "x".into() });
        bytes.push(0);
        assert!(decode_op(&bytes).is_err());
        assert!(decode_op(&[99]).is_err());
    }
}
