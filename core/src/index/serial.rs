//! Binary format of a [`VectorIndex`] (version 1, little endian):
//!
//! ```text
//! magic "VXIX" | version u32 | dim u32 | metric u8 | m u32 | slots u32
//! state u8 * slots                      bit 0 removed, bit 1 linked; no other bit may be set
//! vector f32 * dim * slots              exactly as added
//! graph_len u64 | graph bytes           per linked slot, in slot order:
//!                                       level u8, then per layer 0..=level: count u16, id u32 * count
//! crc32c u32                            of every byte above
//! ```
//!
//! Invariant of the reader: it consumes exactly the bytes the writer produced, never allocates
//! more than a bounded block ahead of the data actually received, and reports every inconsistency
//! as `CoreError::Decode` (it never panics on input). Lists may name slots that were being linked
//! while the writer ran (written as unlinked); the reader drops those ids, and the slots are linked
//! again by `link_pending` after the load.

use std::io::{self, BufWriter, Read, Write};
use std::sync::atomic::Ordering;

use super::{Entry, LINKED, MAX_LEVEL, REMOVED, VectorIndex};
use crate::error::{CoreError, Result};
use crate::model::{HnswParams, Metric};

const MAGIC: &[u8; 4] = b"VXIX";
const VERSION: u32 = 1;
/// Largest block read ahead of parsing.
const BLOCK: usize = 1 << 20;

fn metric_tag(metric: Metric) -> u8 {
    match metric {
        Metric::Cosine => 0,
        Metric::Dot => 1,
        Metric::Euclidean => 2,
    }
}

/// A writer that computes the CRC32C of everything written through it.
struct CrcWriter<W: Write> {
    inner: W,
    crc: u32,
}

impl<W: Write> CrcWriter<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        self.inner.write_all(bytes)
    }
}

/// A reader that computes the CRC32C of everything read through it.
struct CrcReader<'a> {
    inner: &'a mut dyn Read,
    crc: u32,
}

impl CrcReader<'_> {
    fn exact(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        read_exact(self.inner, buf, what)?;
        self.crc = crc32c::crc32c_append(self.crc, buf);
        Ok(())
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        let mut b = [0u8; 1];
        self.exact(&mut b, what)?;
        Ok(b[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let mut b = [0u8; 4];
        self.exact(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        let mut b = [0u8; 8];
        self.exact(&mut b, what)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads `len` bytes, growing the buffer block by block as data arrives.
    fn bytes(&mut self, len: usize, what: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        while out.len() < len {
            let start = out.len();
            let step = (len - start).min(BLOCK);
            out.resize(start + step, 0);
            read_exact(self.inner, &mut out[start..], what)?;
            self.crc = crc32c::crc32c_append(self.crc, &out[start..]);
        }
        Ok(out)
    }
}

fn read_exact(r: &mut dyn Read, buf: &mut [u8], what: &str) -> Result<()> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => CoreError::decode(format!("vector index: truncated while reading {what}")),
        _ => CoreError::decode(format!("vector index: cannot read {what}: {e}")),
    })
}

fn corrupt(detail: impl std::fmt::Display) -> CoreError {
    CoreError::decode(format!("vector index: {detail}"))
}

/// A little-endian cursor over the graph section.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| corrupt("graph section ends inside a node"))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }
}

impl VectorIndex {
    /// Serialises vectors, tombstones and the graph (format in `serial.rs`). May run concurrently
    /// with `search` and `link_pending`, not with `add`/`remove`: slots being linked meanwhile may
    /// be written as unlinked and are linked again after loading. Buffers internally.
    pub fn write_to(&self, w: &mut dyn Write) -> io::Result<()> {
        let mut out = CrcWriter { inner: BufWriter::with_capacity(BLOCK, w), crc: 0 };
        let n = self.rows.len();
        let dim = u32::try_from(self.dim).map_err(|_| io::Error::other("dimension does not fit the format"))?;
        out.put(MAGIC)?;
        out.put(&VERSION.to_le_bytes())?;
        out.put(&dim.to_le_bytes())?;
        out.put(&[metric_tag(self.metric)])?;
        out.put(&self.params.m.to_le_bytes())?;
        out.put(&n.to_le_bytes())?;

        // A node counts as linked only if its lists exist; states are frozen here so the graph
        // section below describes exactly the slots marked linked.
        let states: Vec<u8> = (0..n)
            .map(|slot| {
                let state = self.states.get(slot).map_or(0, |s| s.load(Ordering::Acquire));
                let state = state & (REMOVED | LINKED);
                if self.links.level(slot).is_some() { state } else { state & !LINKED }
            })
            .collect();
        out.put(&states)?;

        let mut bytes = Vec::with_capacity(self.dim * 4);
        for slot in 0..n {
            let row = self.rows.row(slot).ok_or_else(|| io::Error::other("slot vanished while writing"))?;
            bytes.clear();
            for v in self.space.vector(row) {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            out.put(&bytes)?;
        }

        let mut graph = Vec::new();
        let mut list = Vec::new();
        for (slot, state) in (0..n).zip(&states) {
            if state & LINKED == 0 {
                continue;
            }
            let level = self.links.level(slot).unwrap_or(0);
            graph.push(level as u8);
            for layer in 0..=level {
                self.links.read_consistent(slot, layer, &mut list);
                graph.extend_from_slice(&(list.len() as u16).to_le_bytes());
                for id in &list {
                    graph.extend_from_slice(&id.to_le_bytes());
                }
            }
        }
        out.put(&(graph.len() as u64).to_le_bytes())?;
        out.put(&graph)?;
        let crc = out.crc;
        out.inner.write_all(&crc.to_le_bytes())?;
        out.inner.flush()
    }

    /// Rebuilds an index from [`VectorIndex::write_to`] output without re-running HNSW
    /// construction. Reads exactly the bytes written. Every inconsistency (wrong or zero
    /// dimension, other metric or M, truncation, bad counts or ids, checksum mismatch) is
    /// `CoreError::Decode`. Pass a buffered reader or not: reads are done in blocks of up to 1 MiB.
    pub fn read_from(r: &mut dyn Read, dim: usize, metric: Metric, params: HnswParams) -> Result<Self> {
        let mut r = CrcReader { inner: r, crc: 0 };
        let mut magic = [0u8; 4];
        r.exact(&mut magic, "magic")?;
        if &magic != MAGIC {
            return Err(corrupt("bad magic"));
        }
        let version = r.u32("version")?;
        if version != VERSION {
            return Err(corrupt(format!("unsupported format version {version} (this build reads {VERSION})")));
        }
        let file_dim = r.u32("dimension")?;
        // Every slot then costs at least 5 bytes of input, which bounds what a load can allocate.
        if file_dim == 0 || file_dim as usize != dim {
            return Err(corrupt(format!("dimension {file_dim} does not match the collection's {dim}")));
        }
        let tag = r.u8("metric")?;
        if tag != metric_tag(metric) {
            return Err(corrupt(format!("metric tag {tag} does not match the collection's {metric:?}")));
        }
        let file_m = r.u32("m")?;
        if file_m != params.m {
            return Err(corrupt(format!("built with m={file_m}, the collection has m={}", params.m)));
        }
        let n = r.u32("slot count")?;

        // Each slot costs at least its state byte, so this allocation follows the data.
        let states = r.bytes(n as usize, "slot states")?;
        if let Some(pos) = states.iter().position(|s| s & !(REMOVED | LINKED) != 0) {
            return Err(corrupt(format!("slot {pos} has an invalid state byte {:#04x}", states[pos])));
        }

        let index = VectorIndex::new(dim, metric, params);
        let row_bytes = dim * 4;
        let rows_per_block = (BLOCK / row_bytes).max(1);
        let mut block = vec![0u8; rows_per_block.min(n as usize) * row_bytes];
        let mut vector = vec![0f32; dim];
        let mut slot = 0u32;
        while slot < n {
            let rows = (n - slot).min(rows_per_block as u32) as usize;
            let block = &mut block[..rows * row_bytes];
            r.exact(block, "vectors")?;
            for chunk in block.chunks_exact(row_bytes) {
                for (v, b) in vector.iter_mut().zip(chunk.chunks_exact(4)) {
                    *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
                if vector.iter().any(|v| !v.is_finite()) {
                    return Err(corrupt(format!("slot {slot} holds a non-finite value")));
                }
                index.add(&vector);
                slot += 1;
            }
        }

        let linked: Vec<u32> = (0..n).filter(|&s| states[s as usize] & LINKED != 0).collect();
        let graph_len = r.u64("graph length")?;
        let max_node_bytes =
            1 + 2 * (MAX_LEVEL as u64 + 1) + 4 * (index.links.cap(0) + MAX_LEVEL * index.links.cap(1)) as u64;
        if graph_len > linked.len() as u64 * max_node_bytes {
            return Err(corrupt(format!(
                "graph section of {graph_len} bytes is too long for {} linked slots",
                linked.len()
            )));
        }
        let graph_bytes = r.bytes(graph_len as usize, "graph")?;
        let mut graph = parse_graph(&graph_bytes, &linked, n, index.links.cap(1), index.links.cap(0))?;
        drop(graph_bytes);

        let mut stored_crc = [0u8; 4];
        read_exact(r.inner, &mut stored_crc, "checksum")?;
        if u32::from_le_bytes(stored_crc) != r.crc {
            return Err(corrupt("checksum mismatch"));
        }

        // Keep only links to nodes that exist on that layer (slots being linked during the write
        // were written as unlinked).
        const UNLINKED: u8 = u8::MAX;
        let mut levels = vec![UNLINKED; n as usize];
        for (i, &slot) in linked.iter().enumerate() {
            levels[slot as usize] = graph.level(i) as u8;
        }
        graph.retain_links(|layer, id| levels[id as usize] != UNLINKED && levels[id as usize] as usize >= layer);

        let mut entry: Option<(Entry, bool)> = None;
        let mut linked_live = 0u32;
        // Layer-0 in-links per slot, counted here rather than node by node through the atomics.
        let mut in0 = vec![0u32; n as usize];
        let removed = states.iter().filter(|&&s| s & REMOVED != 0).count() as u32;
        for (i, &slot) in linked.iter().enumerate() {
            let live = states[slot as usize] & REMOVED == 0;
            linked_live += u32::from(live);
            let level = graph.level(i);
            let better = entry.is_none_or(|(e, e_live)| (level, live) > (e.level, e_live));
            if better {
                entry = Some((Entry { slot, level }, live));
            }
            if index.links.level(slot).is_some() {
                return Err(corrupt(format!("slot {slot} appears twice in the graph")));
            }
            index.links.prepare(slot, level);
            for layer in 0..=level {
                index.links.load(slot, layer, graph.list(i, layer));
            }
            for &id in graph.list(i, 0) {
                if let Some(count) = in0.get_mut(id as usize) {
                    *count += 1;
                }
            }
        }
        for (slot, &count) in (0..n).zip(&in0) {
            index.links.set_in0_count(slot, count);
        }
        for (slot, &state) in (0..n).zip(&states) {
            if let Some(s) = index.states.get(slot) {
                s.store(state, Ordering::Release);
            }
        }
        index.removed.store(removed, Ordering::Relaxed);
        index.linked_live.store(linked_live, Ordering::Relaxed);
        *index.entry.write() = entry.map(|(e, _)| e);
        index.advance_watermark();
        index.next_claim.store(index.linked_watermark.load(Ordering::Acquire), Ordering::Release);
        Ok(index)
    }
}

/// The parsed graph section, flat: every id in one array, so a load of n nodes makes a handful of
/// allocations instead of one per node and layer.
struct Graph {
    /// Every list's ids, list after list.
    ids: Vec<u32>,
    /// Per list (node after node, layer 0 first): its start in `ids`; `starts[l + 1]` ends list l.
    starts: Vec<u32>,
    /// Per node (in `linked` order): the index of its layer-0 list in `starts`; one extra entry
    /// ends the last node.
    first_list: Vec<u32>,
}

impl Graph {
    /// Level of node `i` (its number of lists minus one; every node has at least one list).
    fn level(&self, i: usize) -> usize {
        (self.first_list[i + 1] - self.first_list[i]) as usize - 1
    }

    /// Ids of node `i` on `layer` (`layer <= level(i)`).
    fn list(&self, i: usize, layer: usize) -> &[u32] {
        let l = self.first_list[i] as usize + layer;
        &self.ids[self.starts[l] as usize..self.starts[l + 1] as usize]
    }

    /// Keeps the ids for which `keep(layer, id)` holds, in order, compacting `ids` in place.
    fn retain_links(&mut self, keep: impl Fn(usize, u32) -> bool) {
        let mut write = 0usize;
        for node in 0..self.first_list.len() - 1 {
            let (first, end) = (self.first_list[node] as usize, self.first_list[node + 1] as usize);
            for l in first..end {
                let (start, stop) = (self.starts[l] as usize, self.starts[l + 1] as usize);
                self.starts[l] = write as u32;
                for read in start..stop {
                    let id = self.ids[read];
                    if keep(l - first, id) {
                        self.ids[write] = id;
                        write += 1;
                    }
                }
            }
        }
        if let Some(last) = self.starts.last_mut() {
            *last = write as u32;
        }
        self.ids.truncate(write);
    }
}

/// Parses the graph section: one node per slot of `linked`, each with its layers' lists of ids.
/// Every allocation is bounded by the section's length (an id costs 4 bytes, a list 2, a node 1).
fn parse_graph(graph: &[u8], linked: &[u32], n: u32, m: usize, m0: usize) -> Result<Graph> {
    if u32::try_from(graph.len()).is_err() {
        // Positions in the flat arrays are u32.
        return Err(corrupt(format!("graph section of {} bytes exceeds 4 GiB", graph.len())));
    }
    let mut cur = Cursor { bytes: graph, pos: 0 };
    let mut ids = Vec::with_capacity(graph.len() / 4);
    let mut starts = Vec::with_capacity(linked.len() + 1);
    let mut first_list = Vec::with_capacity(linked.len() + 1);
    for &slot in linked {
        let level = cur.take(1)?[0] as usize;
        if level > MAX_LEVEL {
            return Err(corrupt(format!("slot {slot} has level {level} (max {MAX_LEVEL})")));
        }
        first_list.push(starts.len() as u32);
        for layer in 0..=level {
            let count_bytes = cur.take(2)?;
            let count = u16::from_le_bytes([count_bytes[0], count_bytes[1]]) as usize;
            let cap = if layer == 0 { m0 } else { m };
            if count > cap {
                return Err(corrupt(format!("slot {slot} has {count} links on layer {layer} (max {cap})")));
            }
            starts.push(ids.len() as u32);
            for b in cur.take(count * 4)?.chunks_exact(4) {
                let id = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                if id >= n || id == slot {
                    return Err(corrupt(format!("slot {slot} links to invalid slot {id}")));
                }
                ids.push(id);
            }
        }
    }
    first_list.push(starts.len() as u32);
    starts.push(ids.len() as u32);
    if cur.pos != graph.len() {
        return Err(corrupt("graph section has trailing bytes"));
    }
    Ok(Graph { ids, starts, first_list })
}
