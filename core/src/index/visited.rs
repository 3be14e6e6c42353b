//! Reusable scratch space for graph searches: an epoch-stamped visited set plus the heaps.
//!
//! Invariant: a slot is "visited" iff its mark equals the current epoch; starting a new search
//! bumps the epoch, so clearing costs nothing except on wrap-around. Contexts are pooled so a
//! search allocates nothing in the steady state.

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
    marks: Vec<u32>,
    epoch: u32,
    /// Frontier of a layer search, nearest first.
    pub cands: BinaryHeap<Reverse<Cand>>,
    /// Best results so far, worst on top.
    pub top: BinaryHeap<Cand>,
    /// Copy of one neighbour list (so no lock is held while computing distances).
    pub neighbours: Vec<u32>,
}

impl SearchCtx {
    /// Starts a new visited set able to hold slots `< limit`.
    pub(crate) fn reset(&mut self, limit: u32) {
        if self.marks.len() < limit as usize {
            self.marks.resize(limit as usize, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
        self.cands.clear();
        self.top.clear();
    }

    /// Marks `slot` visited; returns false if it already was. `slot` must be `< limit` of `reset`.
    #[inline]
    pub(crate) fn visit(&mut self, slot: u32) -> bool {
        let mark = &mut self.marks[slot as usize];
        if *mark == self.epoch {
            false
        } else {
            *mark = self.epoch;
            true
        }
    }

    #[inline]
    pub(crate) fn is_visited(&self, slot: u32) -> bool {
        self.marks.get(slot as usize) == Some(&self.epoch)
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
