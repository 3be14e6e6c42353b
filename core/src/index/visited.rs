//! Reusable scratch space for graph searches: a visited bitset plus the heaps.
//!
//! Invariant: a slot is "visited" iff its bit is set; every word with a set bit is listed in
//! `touched`, so starting a new search clears only what the last one touched. One bit per slot
//! keeps the set of a 100k-slot index in 12.5 KiB (first-level cache), and the sparse reset keeps
//! a search's cost independent of the index size. Contexts are pooled so a search allocates
//! nothing in the steady state.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use parking_lot::Mutex;

/// A candidate: a slot and its key (lower is better). Ordered by key, then by slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cand {
    pub key: f32,
    pub slot: u32,
}

impl PartialEq for Cand {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Cand {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.total_cmp(&other.key).then(self.slot.cmp(&other.slot))
    }
}

/// Scratch space of one search or one linking batch.
#[derive(Default)]
pub(crate) struct SearchCtx {
    bits: Vec<u64>,
    touched: Vec<u32>,
    /// Frontier of a layer search, nearest first.
    pub cands: BinaryHeap<Reverse<Cand>>,
    /// Best results so far, worst on top.
    pub top: BinaryHeap<Cand>,
    /// Copy of one neighbour list (so no lock is held while computing distances).
    pub neighbours: Vec<u32>,
}

impl SearchCtx {
    /// Starts a new, empty visited set able to hold slots `< limit`.
    pub(crate) fn reset(&mut self, limit: u32) {
        for &w in &self.touched {
            self.bits[w as usize] = 0;
        }
        self.touched.clear();
        let words = (limit as usize).div_ceil(64);
        if self.bits.len() < words {
            self.bits.resize(words, 0);
        }
        self.cands.clear();
        self.top.clear();
    }

    /// Marks `slot` visited; returns false if it already was, or if it is beyond the `limit` of
    /// `reset` (such slots were published after the search started and are not walked).
    #[inline]
    pub(crate) fn visit(&mut self, slot: u32) -> bool {
        let (word, bit) = ((slot / 64) as usize, 1u64 << (slot % 64));
        match self.bits.get_mut(word) {
            Some(w) if *w & bit == 0 => {
                if *w == 0 {
                    self.touched.push(word as u32);
                }
                *w |= bit;
                true
            }
            _ => false,
        }
    }

    #[inline]
    pub(crate) fn is_visited(&self, slot: u32) -> bool {
        self.bits.get((slot / 64) as usize).is_some_and(|w| w & (1u64 << (slot % 64)) != 0)
    }
}

/// A pool of contexts shared by all threads of one index.
#[derive(Default)]
pub(crate) struct CtxPool {
    free: Mutex<Vec<SearchCtx>>,
}

impl CtxPool {
    pub(crate) fn take(&self) -> SearchCtx {
        self.free.lock().pop().unwrap_or_default()
    }

    pub(crate) fn give_back(&self, ctx: SearchCtx) {
        self.free.lock().push(ctx);
    }
}

/// The best `k` candidates seen so far.
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Cand>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        Self { k, heap: BinaryHeap::with_capacity(k.min(4096) + 1) }
    }

    #[inline]
    pub(crate) fn push(&mut self, cand: Cand) {
        if self.heap.len() < self.k {
            self.heap.push(cand);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && cand < *worst
        {
            *worst = cand;
        }
    }

    /// The candidates, best first.
    pub(crate) fn into_sorted(self) -> Vec<Cand> {
        self.heap.into_sorted_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visited_set_resets_sparsely() {
        let mut ctx = SearchCtx::default();
        ctx.reset(1000);
        assert!(ctx.visit(3) && ctx.visit(64) && ctx.visit(999));
        assert!(!ctx.visit(3) && ctx.is_visited(64) && !ctx.is_visited(65));
        assert!(!ctx.visit(1024), "beyond the limit");
        ctx.reset(2000);
        assert!(!ctx.is_visited(3) && !ctx.is_visited(64) && !ctx.is_visited(999));
        assert!(ctx.visit(1999) && ctx.visit(3));
    }
}
