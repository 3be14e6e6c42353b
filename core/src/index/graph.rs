//! The HNSW algorithms: level choice, layer search, neighbour selection, insertion.
//!
//! Invariant kept here: a node's layer lists are created (empty) before any other node can link
//! to it, and a thread holds at most one neighbour-list lock at a time, never while taking another.

use std::cmp::Reverse;
use std::sync::atomic::Ordering;

use super::distance::{Probe, Query, RecordProbe};
use super::visited::{Cand, SearchCtx};
use super::{Entry, MAX_LEVEL, REMOVED, VectorIndex};

/// Fixed seed mixed into the level hash (any constant works; fixed for reproducible graphs).
const LEVEL_SEED: u64 = 0x5EED_1DE7_0FC0_FFEE;

/// splitmix64: a fast, well-mixed 64-bit hash.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// How many neighbour rows are prefetched ahead of the one being compared.
const PREFETCH_AHEAD: usize = 4;

/// Parameters of one beam search on one layer.
#[derive(Clone, Copy)]
struct LayerSearch {
    /// Results kept.
    ef: usize,
    layer: usize,
    /// Slots `>= limit` were published after the search started and are ignored.
    limit: u32,
    /// Traverse removed slots but keep them out of the results.
    skip_removed: bool,
}

impl VectorIndex {
    /// The HNSW level of `slot`: `floor(-ln(u) * level_mult)` with `u` uniform in (0, 1].
    pub(super) fn level_of(&self, slot: u32) -> usize {
        let bits = mix64(u64::from(slot) ^ LEVEL_SEED) >> 11; // 53 random bits
        let u = (bits as f64 + 1.0) / (1u64 << 53) as f64;
        let level = (-u.ln() * self.level_mult).floor();
        if level >= MAX_LEVEL as f64 { MAX_LEVEL } else { level as usize }
    }

    /// Stored row (vector + auxiliary float) of a published slot.
    #[inline]
    pub(super) fn row(&self, slot: u32) -> &[f32] {
        self.rows.row(slot).expect("neighbour lists and entry points only hold published slots")
    }

    #[inline]
    fn key_to(&self, q: &impl Probe, slot: u32) -> f32 {
        q.key(&self.space, self.row(slot))
    }

    #[inline]
    fn removed_flag(&self, slot: u32) -> bool {
        self.states.get(slot).is_none_or(|s| s.load(Ordering::Acquire) & REMOVED != 0)
    }

    /// Greedy walk on one layer towards `q`, starting from `cur`.
    fn greedy(&self, q: &impl Probe, mut cur: Cand, layer: usize, limit: u32, ctx: &mut SearchCtx) -> Cand {
        loop {
            let mut moved = false;
            let mut neighbours = std::mem::take(&mut ctx.neighbours);
            self.links.read(cur.slot, layer, &mut neighbours);
            for &n in &neighbours {
                if n >= limit {
                    continue;
                }
                let c = Cand { key: self.key_to(q, n), slot: n };
                if c < cur {
                    cur = c;
                    moved = true;
                }
            }
            ctx.neighbours = neighbours;
            if !moved {
                return cur;
            }
        }
    }

    /// Beam search on one layer from `entry_points`; leaves the best `p.ef` results in `ctx.top`.
    /// With `p.skip_removed`, removed slots are traversed but never enter the results.
    fn search_layer(&self, q: &impl Probe, entry_points: &[Cand], p: LayerSearch, ctx: &mut SearchCtx) {
        let LayerSearch { ef, layer, limit, skip_removed } = p;
        ctx.reset(limit);
        for &e in entry_points {
            if ctx.visit(e.slot) {
                ctx.cands.push(Reverse(e));
                if !(skip_removed && self.removed_flag(e.slot)) {
                    ctx.top.push(e);
                }
            }
        }
        while ctx.top.len() > ef {
            ctx.top.pop();
        }
        let mut neighbours = std::mem::take(&mut ctx.neighbours);
        while let Some(Reverse(c)) = ctx.cands.pop() {
            if ctx.top.len() >= ef && ctx.top.peek().is_some_and(|worst| c.key > worst.key) {
                break;
            }
            self.links.read(c.slot, layer, &mut neighbours);
            neighbours.retain(|&n| n < limit && ctx.visit(n));
            // Rows are scattered in memory: keep a few loads in flight ahead of the arithmetic.
            for &n in neighbours.iter().take(PREFETCH_AHEAD) {
                self.rows.prefetch(n, self.space.walk_len());
            }
            for (i, &n) in neighbours.iter().enumerate() {
                if let Some(&ahead) = neighbours.get(i + PREFETCH_AHEAD) {
                    self.rows.prefetch(ahead, self.space.walk_len());
                }
                let key = self.key_to(q, n);
                let admit = ctx.top.len() < ef || ctx.top.peek().is_some_and(|worst| key < worst.key);
                if admit {
                    let cand = Cand { key, slot: n };
                    ctx.cands.push(Reverse(cand));
                    if !(skip_removed && self.removed_flag(n)) {
                        ctx.top.push(cand);
                        if ctx.top.len() > ef {
                            ctx.top.pop();
                        }
                    }
                }
            }
            // The next node to expand: start loading its list while the heap work finishes.
            if let Some(Reverse(next)) = ctx.cands.peek() {
                self.links.prefetch0(next.slot);
            }
        }
        ctx.neighbours = neighbours;
    }

    /// Graph part of a search: greedy descent, then a beam search on layer 0. Returns live hits,
    /// best first; leaves the layer-0 visited set in `ctx`.
    pub(super) fn search_graph(
        &self,
        q: &Query<'_>,
        entry: Entry,
        ef: usize,
        limit: u32,
        ctx: &mut SearchCtx,
    ) -> Vec<Cand> {
        let mut cur = Cand { key: self.key_to(q, entry.slot), slot: entry.slot };
        for layer in (1..=entry.level).rev() {
            cur = self.greedy(q, cur, layer, limit, ctx);
        }
        self.search_layer(q, &[cur], LayerSearch { ef, layer: 0, limit, skip_removed: true }, ctx);
        let mut found: Vec<Cand> = ctx.top.drain().collect();
        found.sort_unstable();
        found
    }

    /// HNSW neighbour selection heuristic: walks `sorted` (nearest first) and keeps a candidate
    /// only if it is closer to the base than to every candidate kept so far; at most `m`.
    fn select_neighbours(&self, sorted: &[Cand], m: usize) -> Vec<Cand> {
        let mut kept: Vec<Cand> = Vec::with_capacity(m);
        for &c in sorted {
            if kept.len() >= m {
                break;
            }
            let row = self.row(c.slot);
            if kept.iter().all(|k| self.space.key_codes(row, self.row(k.slot)) >= c.key) {
                kept.push(c);
            }
        }
        kept
    }

    /// Makes `slot` a graph node with empty lists; must happen before anyone can link to it.
    pub(super) fn prepare_node(&self, slot: u32) {
        self.links.prepare(slot, self.level_of(slot));
    }

    /// Links published, unlinked `slot` (prepared by [`VectorIndex::prepare_node`] and registered
    /// as in flight) into the graph. Several threads may insert at once.
    pub(super) fn insert(&self, slot: u32, ctx: &mut SearchCtx) {
        let level = self.level_of(slot);
        // Taken before any search: a node that leaves the in-flight list after this has published
        // its links first, so the searches below can find it through the graph; a node that joins
        // the list after this sees `slot` in its own snapshot. Reading the list only after a layer's
        // search left a window where two close nodes missed each other both ways.
        let concurrent: Vec<u32> = self.in_flight.lock().iter().copied().filter(|&o| o != slot).collect();
        let current = *self.entry.read();
        let entry = match current {
            Some(e) => e,
            None => {
                let mut guard = self.entry.write();
                match *guard {
                    Some(e) => e,
                    None => {
                        *guard = Some(Entry { slot, level });
                        return;
                    }
                }
            }
        };
        let limit = self.rows.len();
        let q = &RecordProbe(self.row(slot));
        let mut cur = Cand { key: self.key_to(q, entry.slot), slot: entry.slot };
        for layer in (level + 1..=entry.level).rev() {
            cur = self.greedy(q, cur, layer, limit, ctx);
        }
        let mut entry_points = vec![cur];
        for layer in (0..=level.min(entry.level)).rev() {
            let p = LayerSearch { ef: self.ef_construction, layer, limit, skip_removed: false };
            self.search_layer(q, &entry_points, p, ctx);
            let mut found: Vec<Cand> = ctx.top.drain().filter(|c| c.slot != slot).collect();
            // Nodes being linked by other threads right now cannot be found through the graph
            // yet; offer them as candidates so two close nodes inserted together still link up.
            for &other in &concurrent {
                if other < limit && self.level_of(other) >= layer && !found.iter().any(|c| c.slot == other) {
                    found.push(Cand { key: self.key_to(q, other), slot: other });
                }
            }
            found.sort_unstable();
            let chosen: Vec<u32> = self.select_neighbours(&found, self.m).iter().map(|c| c.slot).collect();
            // Merge rather than overwrite: a concurrent insert may already have linked to us.
            self.add_links(slot, &chosen, layer);
            for &n in &chosen {
                self.add_links(n, &[slot], layer);
            }
            if !found.is_empty() {
                entry_points = found;
            }
        }
        if level > entry.level {
            let mut guard = self.entry.write();
            if guard.is_none_or(|e| e.level < level) {
                *guard = Some(Entry { slot, level });
            }
        }
    }

    /// Adds `new` ids to the neighbours of `node` on `layer`, shrinking the list with the
    /// heuristic when it would exceed the layer's capacity. On layer 0 no node loses its last
    /// in-link this way (see [`super::links::Links::merge0`]).
    fn add_links(&self, node: u32, new: &[u32], layer: usize) {
        let cap = self.links.cap(layer);
        if layer == 0 {
            self.links.merge0(node, new, |members| self.prune(node, members, cap));
            return;
        }
        self.links.update(node, layer, |list| {
            for &n in new {
                if n != node && !list.contains(&n) {
                    list.push(n);
                }
            }
            if list.len() > cap {
                let kept = self.prune(node, list, cap);
                *list = kept;
            }
        });
    }

    /// The heuristic's choice of at most `cap` neighbours for `node` among `members`, best first.
    fn prune(&self, node: u32, members: &[u32], cap: usize) -> Vec<u32> {
        for &n in members {
            self.rows.prefetch(n, self.space.walk_len());
        }
        let base = self.row(node);
        let mut cands: Vec<Cand> =
            members.iter().map(|&n| Cand { key: self.space.key_codes(base, self.row(n)), slot: n }).collect();
        cands.sort_unstable();
        self.select_neighbours(&cands, cap).iter().map(|c| c.slot).collect()
    }
}
