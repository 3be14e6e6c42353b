//! Vector storage and the HNSW graph of one collection: [`VectorIndex`].
//!
//! **Why our own HNSW.** Off-the-shelf crates (e.g. `hnsw_rs`) build a graph over a fixed set of
//! points; they do not tombstone deletes, do not let vectors be searched before they are linked,
//! and do not link from several threads while others search and one appends. Our write path needs
//! all three, so the index is written here (about 2,000 lines besides tests), following Malkov &
//! Yashunin (2016/2018) and the hnswlib reference implementation, whose recall it matches on the
//! same data and parameters.
//!
//! **Storage.** Slots are numbered 0, 1, 2, ... in `add` order and never reused. A slot's record
//! holds the vector exactly as given plus a small header (inverse norm, squared norm) and an 8-bit
//! copy of the vector (`distance.rs`). Records live in buckets of doubling size that are allocated
//! once and never moved (large ones backed by transparent huge pages), so readers hold plain
//! `&[f32]` while the single appender writes the next record (`store.rs` states the publication
//! invariant). `add` is O(dim): build the record, copy, publish.
//!
//! **Graph.** Standard HNSW: a slot's level is `floor(-ln(u) / ln(M))` (u uniform in (0, 1], from a
//! hash of the slot number, capped at 16); layer 0 keeps up to `2*M` links, upper layers `M`.
//! Insertion descends greedily from the entry point, runs a beam search with `ef_construction` on
//! each of the new node's layers and picks up to `M` neighbours with the diversity heuristic
//! (a candidate is kept only if it is closer to the new node than to every neighbour already kept);
//! each neighbour links back, re-running the heuristic when its list overflows. Search descends
//! greedily to layer 0, runs a beam search with `max(ef, k)` and re-ranks those candidates with the
//! exact vectors. The walk itself compares the 8-bit copies: a walk is bound by memory traffic, and
//! a 128-d record's header and codes take 3 cache lines instead of 9. A search walks with the
//! exact query against the codes; linking a stored record walks with that record's codes against
//! the codes (integer arithmetic, ~10 % less build CPU, recall@10 unchanged within 0.001). Returned
//! scores are exact; recall is the same as with `f32` walks (measured: within 0.003 at every `ef`).
//!
//! **Concurrency.** Every method takes `&self`. Layer-0 lists (`links.rs`) sit in a flat table read
//! without locks (writers hold the slot's mutex and publish the count last, so a racing reader sees
//! only valid ids); upper-layer lists have one `parking_lot::RwLock` each. No thread ever holds two
//! list locks, so there is no global lock and no lock-order deadlock. The entry point sits behind a
//! small lock taken only to read it or to raise it. Linkers claim slots from an atomic counter, so
//! several threads link disjoint slots concurrently; a node being linked is offered as a candidate
//! to the other linkers (the in-flight list), otherwise two close nodes linked at the same moment
//! cannot see each other and one of them may end up unreachable. A search sees the slots published
//! when it starts: HNSW over the graph, merged with an exact scan of the live slots not linked yet
//! (from the "everything below is linked" watermark), so an added vector is found at once; graph
//! hits are excluded from the scan through the visited set, so nothing is returned twice.
//!
//! **Tombstones.** `remove` sets a bit. Removed slots are never returned, but they stay in the graph
//! as routing nodes (as in hnswlib's `markDelete`), so removing any node, the entry point included,
//! keeps the graph connected. Compaction is out of scope: a removed vector keeps its memory (its
//! record, `4 * (4 + dim / 4 + dim)` bytes, plus `4 * (1 + 2M)` bytes of layer-0 links) until the
//! collection is rebuilt, so a collection with heavy update churn grows with the number of updates,
//! not with its live size, and searches slow down as tombstones accumulate.
//!
//! **Serialisation** (`serial.rs`, little endian, format version 1): header (magic, version, dim,
//! metric, M, slot count), one state byte per slot (removed / linked), every vector as raw `f32`,
//! the graph section (byte length, then per linked slot its level and each layer's count and ids),
//! and a CRC32C of everything before it. Loading re-reads the graph as is (no HNSW construction;
//! the 8-bit copies are recomputed), checks every count against the dimension, M and the bytes
//! announced, and allocates only as data actually arrives, so hostile input yields
//! `CoreError::Decode`, never a panic or a huge allocation.
//!
//! Invariant: every id stored in a neighbour list is a published slot that has (or is getting) a
//! node on that layer; every slot below the linked watermark is linked or removed.

mod distance;
mod graph;
mod links;
mod serial;
mod store;
mod visited;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::model::{HnswParams, Metric};
use distance::Space;
use links::Links;
use store::{Chunked, RowStore};
use visited::{Cand, CtxPool, TopK};

/// Bit of a slot's state: the slot was removed.
const REMOVED: u8 = 1;
/// Bit of a slot's state: the slot is fully linked into the graph.
const LINKED: u8 = 2;
/// Highest HNSW level a node can get.
const MAX_LEVEL: usize = 16;

/// The top of the graph: where every descent starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    slot: u32,
    level: usize,
}

/// The vectors of one collection plus their HNSW graph. See the module documentation.
pub struct VectorIndex {
    dim: usize,
    metric: Metric,
    params: HnswParams,
    space: Space,
    rows: RowStore,
    /// `REMOVED` / `LINKED` bits per slot.
    states: Chunked<AtomicU8>,
    links: Links,
    entry: RwLock<Option<Entry>>,
    removed: AtomicU32,
    linked_live: AtomicU32,
    /// Next slot a linker may claim.
    next_claim: AtomicU32,
    /// Every slot below this is linked or removed.
    linked_watermark: AtomicU32,
    ctx_pool: CtxPool,
    /// Slots some thread is linking right now (at most one per linking thread).
    in_flight: Mutex<Vec<u32>>,
    /// Links chosen for a new node (and the list capacity on upper layers).
    m: usize,
    ef_construction: usize,
    level_mult: f64,
}

impl std::fmt::Debug for VectorIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorIndex")
            .field("dim", &self.dim)
            .field("metric", &self.metric)
            .field("params", &self.params)
            .field("slots", &self.slot_count())
            .field("live", &self.live_count())
            .field("linked", &self.linked_count())
            .finish()
    }
}

impl VectorIndex {
    /// An empty index of `dim`-dimensional vectors.
    pub fn new(dim: usize, metric: Metric, params: HnswParams) -> Self {
        let m = (params.m as usize).max(2);
        let space = Space::new(metric, dim);
        Self {
            dim,
            metric,
            params,
            space,
            rows: RowStore::new(space.record_len()),
            states: Chunked::new(),
            links: Links::new(m, 2 * m),
            entry: RwLock::new(None),
            removed: AtomicU32::new(0),
            linked_live: AtomicU32::new(0),
            next_claim: AtomicU32::new(0),
            linked_watermark: AtomicU32::new(0),
            ctx_pool: CtxPool::default(),
            in_flight: Mutex::new(Vec::new()),
            m,
            ef_construction: (params.ef_construction as usize).max(1),
            level_mult: 1.0 / (m as f64).ln(),
        }
    }

    /// The dimension of every vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The metric of every score.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// Stores a vector and returns its slot (0, 1, 2, ... in call order). O(dim); visible to
    /// search at once. Calls are serialised internally (the engine has one writer anyway).
    ///
    /// Panics if `vector.len() != dim`: callers validate vectors first (`model::validate_vector`).
    pub fn add(&self, vector: &[f32]) -> u32 {
        assert_eq!(vector.len(), self.dim, "vector dimension");
        let row = self.space.make_record(vector);
        self.rows.push(&row, |slot| {
            self.states.reserve(slot);
            self.links.reserve(slot);
        })
    }

    /// Tombstones a slot: search never returns it again. Idempotent; unknown slots are ignored.
    pub fn remove(&self, slot: u32) {
        if slot >= self.rows.len() {
            return;
        }
        let Some(state) = self.states.get(slot) else {
            return;
        };
        let prev = state.fetch_or(REMOVED, Ordering::AcqRel);
        if prev & REMOVED == 0 {
            self.removed.fetch_add(1, Ordering::Relaxed);
            if prev & LINKED != 0 {
                self.linked_live.fetch_sub(1, Ordering::Relaxed);
            }
            self.advance_watermark();
        }
    }

    /// The vector exactly as added (not normalised); `None` for a removed or unknown slot.
    pub fn vector(&self, slot: u32) -> Option<Vec<f32>> {
        if self.is_removed(slot) {
            return None;
        }
        self.rows.row(slot).map(|row| self.space.vector(row).to_vec())
    }

    /// Slots ever added (including removed ones).
    pub fn slot_count(&self) -> usize {
        self.rows.len() as usize
    }

    /// Slots added minus slots removed.
    pub fn live_count(&self) -> usize {
        self.slot_count().saturating_sub(self.removed.load(Ordering::Relaxed) as usize)
    }

    /// Live slots that are linked into the graph.
    pub fn linked_count(&self) -> usize {
        self.linked_live.load(Ordering::Relaxed) as usize
    }

    /// Links up to `max` added-but-unlinked slots into the graph; returns how many it linked.
    /// Safe to call from several threads at once, concurrently with every other method.
    pub fn link_pending(&self, max: usize) -> usize {
        let mut linked = 0;
        let mut ctx = None;
        while linked < max {
            let Some(slot) = self.claim_next() else { break };
            let Some(state) = self.states.get(slot) else {
                break;
            };
            if state.load(Ordering::Acquire) & (REMOVED | LINKED) == 0 {
                let ctx = ctx.get_or_insert_with(|| self.ctx_pool.take());
                self.prepare_node(slot);
                self.in_flight.lock().push(slot);
                self.insert(slot, ctx);
                self.in_flight.lock().retain(|&x| x != slot);
                let prev = state.fetch_or(LINKED, Ordering::AcqRel);
                if prev & REMOVED == 0 {
                    self.linked_live.fetch_add(1, Ordering::Relaxed);
                }
                linked += 1;
            }
            self.advance_watermark();
        }
        if let Some(ctx) = ctx {
            self.ctx_pool.give_back(ctx);
        }
        linked
    }

    /// Top-`k` live slots, best first, with their scores: HNSW over the linked slots with a
    /// candidate list of `max(ef, k)`, merged with an exact scan of the live slots not linked yet.
    /// A query of the wrong dimension finds nothing.
    pub fn search(&self, query: &[f32], k: usize, ef: usize) -> Vec<(u32, f32)> {
        if k == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let q = self.space.query(query);
        // Read the entry point before the length: the entry's slot is then always below `limit`.
        let entry = *self.entry.read();
        let limit = self.rows.len();
        let mut ctx = self.ctx_pool.take();
        ctx.reset(limit);
        let mut found = match entry {
            Some(entry) => self.search_graph(&q, entry, k.max(ef), limit, &mut ctx),
            None => Vec::new(),
        };
        // The walk compared 8-bit codes: re-rank its candidates with the exact vectors.
        let record_len = self.space.record_len();
        for c in &found {
            self.rows.prefetch(c.slot, record_len);
        }
        for c in &mut found {
            if let Some(row) = self.rows.row(c.slot) {
                c.key = self.space.key_exact(&q, row);
            }
        }
        // Exact scan of what the graph cannot know about yet. Graph hits are visited, so skipped.
        let mut pending = TopK::new(k);
        for slot in self.linked_watermark.load(Ordering::Acquire)..limit {
            let done = self.states.get(slot).is_none_or(|s| s.load(Ordering::Acquire) & (REMOVED | LINKED) != 0);
            if done || ctx.is_visited(slot) {
                continue;
            }
            if let Some(row) = self.rows.row(slot) {
                pending.push(Cand { key: self.space.key_exact(&q, row), slot });
            }
        }
        self.ctx_pool.give_back(ctx);
        found.extend(pending.into_sorted());
        found.sort_unstable();
        found.truncate(k);
        self.scored(found)
    }

    /// Exact brute-force top-`k` over all live slots, best first. A query of the wrong dimension
    /// finds nothing.
    pub fn search_exact(&self, query: &[f32], k: usize) -> Vec<(u32, f32)> {
        if k == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let q = self.space.query(query);
        let mut top = TopK::new(k);
        for slot in 0..self.rows.len() {
            if self.is_removed(slot) {
                continue;
            }
            if let Some(row) = self.rows.row(slot) {
                top.push(Cand { key: self.space.key_exact(&q, row), slot });
            }
        }
        self.scored(top.into_sorted())
    }

    fn scored(&self, cands: Vec<Cand>) -> Vec<(u32, f32)> {
        cands.into_iter().map(|c| (c.slot, self.space.score(c.key))).collect()
    }

    #[inline]
    fn is_removed(&self, slot: u32) -> bool {
        self.states.get(slot).is_none_or(|s| s.load(Ordering::Acquire) & REMOVED != 0)
    }

    /// Claims the next slot for linking, if any was added and not claimed yet.
    fn claim_next(&self) -> Option<u32> {
        let len = self.rows.len();
        self.next_claim.fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| (c < len).then_some(c + 1)).ok()
    }

    /// Moves the watermark past every slot that is linked or removed.
    fn advance_watermark(&self) {
        let len = self.rows.len();
        loop {
            let w = self.linked_watermark.load(Ordering::Acquire);
            let done =
                w < len && self.states.get(w).is_some_and(|s| s.load(Ordering::Acquire) & (REMOVED | LINKED) != 0);
            if !done {
                return;
            }
            // Losing the race means another thread advanced it; just look again.
            let _ = self.linked_watermark.compare_exchange(w, w + 1, Ordering::AcqRel, Ordering::Acquire);
        }
    }
}
