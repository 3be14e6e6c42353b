//! What the engine puts inside a snapshot file: every collection's config, point table and
//! serialised index.
//!
//! Layout (little endian), version 1:
//! ```text
//! u32 body_version (=1) | u32 collection_count
//! per collection:
//!   u32 len | codec bytes of Op::CreateCollection(config)
//!   u64 slot_count
//!   per slot: u8 live; if live: u32 len | id bytes | u8 has_payload [| u32 len | payload bytes]
//!   u64 index_len | VectorIndex::write_to bytes
//! ```
//! Invariant: the body is produced while the engine's writer lock is held, so it describes exactly
//! the state after applying every log record up to the snapshot's offset. Decoding checks every
//! length; the snapshot file layer has already verified checksums, so a decode failure here means a
//! bug or a format mismatch and is reported as [`CoreError::Decode`].

use std::io::Read;

use crate::codec;
use crate::engine::collection::{Collection, PointTable, SlotMeta};
use crate::engine::state::State;
use crate::error::{CoreError, Result};
use crate::index::VectorIndex;
use crate::model::{MAX_ID_BYTES, Op};

const BODY_VERSION: u32 = 1;
/// Largest config record accepted (a create op is a few dozen bytes).
const MAX_CONFIG_BYTES: u32 = 4096;

/// Counts reported in the snapshot manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct BodyCounts {
    pub(crate) collections: u64,
    pub(crate) points: u64,
}

/// Serialises the whole state into `out`. The caller holds the writer lock.
pub(crate) fn encode(state: &State, out: &mut Vec<u8>) -> Result<BodyCounts> {
    let collections = state.all();
    let mut counts = BodyCounts { collections: collections.len() as u64, points: 0 };
    out.extend_from_slice(&BODY_VERSION.to_le_bytes());
    out.extend_from_slice(&(collections.len() as u32).to_le_bytes());
    for coll in collections {
        let config = codec::encode_op_to_vec(&Op::CreateCollection(coll.config.clone()));
        out.extend_from_slice(&(config.len() as u32).to_le_bytes());
        out.extend_from_slice(&config);
        {
            let table = coll.table.read();
            out.extend_from_slice(&(table.slots.len() as u64).to_le_bytes());
            for slot in &table.slots {
                match slot {
                    None => out.push(0),
                    Some(meta) => {
                        counts.points += 1;
                        out.push(1);
                        put_bytes(out, meta.id.as_bytes());
                        match &meta.payload {
                            None => out.push(0),
                            Some(p) => {
                                out.push(1);
                                put_bytes(out, p.as_bytes());
                            }
                        }
                    }
                }
            }
        }
        let len_pos = out.len();
        out.extend_from_slice(&0u64.to_le_bytes());
        let start = out.len();
        coll.index
            .write_to(out)
            .map_err(|e| CoreError::decode(format!("serialising index of '{}': {e}", coll.config.name)))?;
        let index_len = (out.len() - start) as u64;
        out[len_pos..len_pos + 8].copy_from_slice(&index_len.to_le_bytes());
    }
    Ok(counts)
}

/// Smallest encoding of a live point: flag, id length, payload flag.
const MIN_POINT_BYTES: u64 = 6;

/// Rebuilds the collections from a verified snapshot body of `body_bytes` bytes. `points_hint`
/// (the manifest's count) only sizes the point tables up front, capped at what `body_bytes` can
/// hold; every count is still checked against what the body actually holds.
pub(crate) fn decode(r: &mut dyn Read, points_hint: u64, body_bytes: u64) -> Result<(Vec<Collection>, BodyCounts)> {
    let points_hint = points_hint.min(body_bytes / MIN_POINT_BYTES);
    let version = read_u32(r)?;
    if version != BODY_VERSION {
        return Err(CoreError::decode(format!(
            "snapshot body version {version} is not supported (this build reads version {BODY_VERSION})"
        )));
    }
    let count = read_u32(r)?;
    let mut collections = Vec::new();
    let mut counts = BodyCounts { collections: u64::from(count), points: 0 };
    for _ in 0..count {
        let len = read_u32(r)?;
        if len > MAX_CONFIG_BYTES {
            return Err(CoreError::decode(format!("collection config of {len} bytes exceeds {MAX_CONFIG_BYTES}")));
        }
        let config = match codec::decode_op(&read_vec(r, len as usize)?)? {
            Op::CreateCollection(config) => config,
            other => {
                return Err(CoreError::decode(format!("expected a collection config, found {other:?}")));
            }
        };
        let slot_count = read_u64(r)?;
        let mut table = PointTable::default();
        // Bounded by the hint, itself bounded by the body's size; a smaller count reserves less.
        let expected = usize::try_from(slot_count.min(points_hint.saturating_sub(counts.points))).unwrap_or(0);
        table.by_id.reserve(expected);
        table.slots.reserve(expected);
        let mut buf = Vec::new();
        for slot in 0..slot_count {
            let live = read_u8(r)?;
            let meta = match live {
                0 => None,
                1 => {
                    let id = read_str(r, MAX_ID_BYTES, &mut buf)?;
                    let payload = match read_u8(r)? {
                        0 => None,
                        1 => Some(read_str(r, usize::MAX, &mut buf)?),
                        b => return Err(CoreError::decode(format!("invalid payload flag {b}"))),
                    };
                    let slot =
                        u32::try_from(slot).map_err(|_| CoreError::decode(format!("slot {slot} exceeds u32")))?;
                    if table.by_id.insert(id.clone(), slot).is_some() {
                        return Err(CoreError::decode(format!("point id '{id}' appears twice")));
                    }
                    counts.points += 1;
                    Some(SlotMeta { id, payload })
                }
                b => return Err(CoreError::decode(format!("invalid slot flag {b}"))),
            };
            table.slots.push(meta);
        }
        let index_len = read_u64(r)?;
        let mut limited = r.take(index_len);
        let index = VectorIndex::read_from(&mut limited, config.dimension as usize, config.metric, config.hnsw)?;
        if limited.limit() != 0 {
            return Err(CoreError::decode(format!("index of '{}' left {} unread bytes", config.name, limited.limit())));
        }
        if index.slot_count() != table.slots.len() {
            return Err(CoreError::decode(format!(
                "collection '{}': index has {} slots, point table {}",
                config.name,
                index.slot_count(),
                table.slots.len()
            )));
        }
        collections.push(Collection::from_parts(config, index, table));
    }
    let mut probe = [0u8; 1];
    if r.read(&mut probe).map_err(|e| CoreError::decode(format!("reading snapshot body: {e}")))? != 0 {
        return Err(CoreError::decode("trailing bytes after the last collection"));
    }
    Ok((collections, counts))
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn read_exact(r: &mut dyn Read, buf: &mut [u8]) -> Result<()> {
    r.read_exact(buf).map_err(|e| CoreError::decode(format!("snapshot body ends early: {e}")))
}

fn read_u8(r: &mut dyn Read) -> Result<u8> {
    let mut b = [0u8; 1];
    read_exact(r, &mut b)?;
    Ok(b[0])
}

fn read_u32(r: &mut dyn Read) -> Result<u32> {
    let mut b = [0u8; 4];
    read_exact(r, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(r: &mut dyn Read) -> Result<u64> {
    let mut b = [0u8; 8];
    read_exact(r, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Reads exactly `len` bytes, growing the buffer as data arrives so a corrupt length cannot
/// allocate more than the body actually holds.
fn read_vec(r: &mut dyn Read, len: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let got = r
        .take(len as u64)
        .read_to_end(&mut out)
        .map_err(|e| CoreError::decode(format!("reading snapshot body: {e}")))?;
    if got != len {
        return Err(CoreError::decode(format!("snapshot body ends early: wanted {len} bytes, got {got}")));
    }
    Ok(out)
}

/// Strings up to this long are read through the caller's reusable buffer; longer ones grow as
/// their bytes arrive ([`read_vec`]).
const SMALL_STRING: usize = 64 << 10;

/// Reads a `u32 len | bytes` string of at most `max` bytes.
fn read_str(r: &mut dyn Read, max: usize, buf: &mut Vec<u8>) -> Result<Box<str>> {
    let len = read_u32(r)? as usize;
    if len > max {
        return Err(CoreError::decode(format!("string of {len} bytes exceeds {max}")));
    }
    let invalid = |e: std::str::Utf8Error| CoreError::decode(format!("invalid UTF-8: {e}"));
    if len <= SMALL_STRING {
        buf.resize(len, 0);
        read_exact(r, buf)?;
        return std::str::from_utf8(buf).map(Box::from).map_err(invalid);
    }
    let bytes = read_vec(r, len)?;
    std::str::from_utf8(&bytes).map_err(invalid)?;
    // The bytes were just checked to be UTF-8.
    String::from_utf8(bytes).map(String::into_boxed_str).map_err(|e| invalid(e.utf8_error()))
}
