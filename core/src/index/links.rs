//! Neighbour lists of every slot on every layer.
//!
//! Layer 0 (visited by every search, holding nearly all links) is a flat table: one record of
//! `1 + m0` atomics per slot (count, then ids), found by address arithmetic alone, read without
//! any lock. Writers hold the slot's mutex and store the ids before publishing the count, so a
//! reader racing a rewrite may see a mix of old and new ids, but every id it sees is a published
//! slot that was a neighbour at some point: harmless for a graph walk. Upper layers (about one
//! node in `M`) keep a `RwLock<Vec<u32>>` per layer, created when the node is prepared.
//!
//! Invariant: a slot is a graph node iff it was prepared (`level` is `Some`); only prepared
//! slots' ids are ever written into lists, and a thread holds at most one list lock at a time.

use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use parking_lot::{Mutex, RwLock};

use super::store::{AtomicTable, Chunked};

/// Per-slot node data besides the layer-0 record.
#[derive(Default)]
struct Node {
    /// Serialises writers of the layer-0 record.
    write0: Mutex<()>,
    /// Lists of layers `1..=level`; set once when the node is prepared.
    upper: OnceLock<Box<[RwLock<Vec<u32>>]>>,
}

pub(crate) struct Links {
    m: usize,
    m0: usize,
    layer0: AtomicTable,
    nodes: Chunked<Node>,
}

impl Links {
    /// Lists with room for `m0` links on layer 0 and `m` above.
    pub(crate) fn new(m: usize, m0: usize) -> Self {
        Self { m, m0, layer0: AtomicTable::new(1 + m0), nodes: Chunked::new() }
    }

    /// Capacity of a list on `layer`.
    pub(crate) fn cap(&self, layer: usize) -> usize {
        if layer == 0 { self.m0 } else { self.m }
    }

    /// Makes `slot` addressable (called before the slot is published).
    pub(crate) fn reserve(&self, slot: u32) {
        self.layer0.reserve(slot);
        self.nodes.reserve(slot);
    }

    /// Turns `slot` into a graph node with (empty) lists on layers `0..=level`. Idempotent.
    pub(crate) fn prepare(&self, slot: u32, level: usize) {
        if let Some(node) = self.nodes.get(slot) {
            node.upper.get_or_init(|| (0..level).map(|_| RwLock::new(Vec::with_capacity(self.m))).collect());
        }
    }

    /// The level of a prepared node, `None` for other slots.
    pub(crate) fn level(&self, slot: u32) -> Option<usize> {
        self.nodes.get(slot).and_then(|n| n.upper.get()).map(|u| u.len())
    }

    /// Copies the neighbours of `slot` on `layer` into `out` (empty if it has no such layer).
    /// Lock-free on layer 0, see the module docs.
    #[inline]
    pub(crate) fn read(&self, slot: u32, layer: usize, out: &mut Vec<u32>) {
        out.clear();
        if layer == 0 {
            if let Some(record) = self.layer0.record(slot) {
                let count = (record[0].load(Ordering::Acquire) as usize).min(self.m0);
                out.extend(record[1..=count].iter().map(|id| id.load(Ordering::Relaxed)));
            }
        } else if let Some(list) = self.upper(slot, layer) {
            out.extend_from_slice(&list.read());
        }
    }

    /// Like [`Links::read`] but consistent: waits for a writer of the list to finish.
    pub(crate) fn read_consistent(&self, slot: u32, layer: usize, out: &mut Vec<u32>) {
        if layer == 0 {
            let _guard = self.nodes.get(slot).map(|n| n.write0.lock());
            self.read(slot, 0, out);
        } else {
            self.read(slot, layer, out);
        }
    }

    /// Hint: start loading the layer-0 record of `slot` into cache.
    #[inline]
    pub(crate) fn prefetch0(&self, slot: u32) {
        self.layer0.prefetch(slot);
    }

    /// Rewrites the list of `slot` on `layer` with `edit`, which receives the current ids and must
    /// leave at most [`Links::cap`] of them. Holds that list's lock (only) while `edit` runs.
    /// No effect if the node has no such layer.
    pub(crate) fn update(&self, slot: u32, layer: usize, edit: impl FnOnce(&mut Vec<u32>)) {
        if layer == 0 {
            let (Some(node), Some(record)) = (self.nodes.get(slot), self.layer0.record(slot)) else {
                return;
            };
            if node.upper.get().is_none() {
                return;
            }
            let _guard = node.write0.lock();
            let mut ids = Vec::with_capacity(self.m0 + 1);
            self.read(slot, 0, &mut ids);
            edit(&mut ids);
            ids.truncate(self.m0);
            for (cell, &id) in record[1..].iter().zip(&ids) {
                cell.store(id, Ordering::Relaxed);
            }
            record[0].store(ids.len() as u32, Ordering::Release);
        } else if let Some(list) = self.upper(slot, layer) {
            let mut list = list.write();
            edit(&mut list);
            list.truncate(self.m);
        }
    }

    fn upper(&self, slot: u32, layer: usize) -> Option<&RwLock<Vec<u32>>> {
        self.nodes.get(slot)?.upper.get()?.get(layer.checked_sub(1)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_per_layer() {
        let links = Links::new(2, 4);
        for slot in 0..3 {
            links.reserve(slot);
        }
        assert_eq!(links.level(1), None);
        links.prepare(1, 2);
        links.prepare(1, 5); // idempotent: the first level stays
        assert_eq!(links.level(1), Some(2));
        links.update(1, 0, |ids| ids.extend([0, 2, 0, 2, 0]));
        links.update(1, 2, |ids| ids.push(0));
        links.update(1, 3, |ids| ids.push(0)); // no layer 3: ignored
        let mut out = Vec::new();
        links.read(1, 0, &mut out);
        assert_eq!(out, vec![0, 2, 0, 2], "truncated to the layer-0 capacity");
        links.read_consistent(1, 2, &mut out);
        assert_eq!(out, vec![0]);
        links.read(1, 1, &mut out);
        assert!(out.is_empty());
        links.read(1, 3, &mut out);
        assert!(out.is_empty());
        links.read(7, 0, &mut out);
        assert!(out.is_empty(), "unreserved slot");
    }
}
