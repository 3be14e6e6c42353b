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
//!
//! Every node also counts its layer-0 in-links (`in0`: how many layer-0 list entries name it).
//! [`Links::merge0`] never removes a node's last in-link while it can keep it instead, so a linked
//! node cannot become unreachable on layer 0 through pruning (without this, 12 graphs of 10k nodes
//! had 1 such node in all with one linking thread, 5-6 with two or four). Decrements happen only through a
//! compare-and-swap that refuses to go from 1 to 0, so two lists pruning the same node at the same
//! moment cannot both drop it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::{Mutex, RwLock};

use super::store::{AtomicTable, Chunked};

/// Per-slot node data besides the layer-0 record.
#[derive(Default)]
struct Node {
    /// Serialises writers of the layer-0 record.
    write0: Mutex<()>,
    /// Lists of layers `1..=level`; set once when the node is prepared.
    upper: OnceLock<Box<[RwLock<Vec<u32>>]>>,
    /// Layer-0 list entries naming this node (see the module docs).
    in0: AtomicU32,
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

    /// Rewrites the list of `slot` on upper `layer` (>= 1) with `edit`, which receives the current
    /// ids; at most [`Links::cap`] of them are kept. Holds that list's lock (only) while `edit`
    /// runs. No effect if the node has no such layer. Layer 0 is written by [`Links::merge0`] and
    /// [`Links::load`] only, which keep its in-link counts.
    pub(crate) fn update(&self, slot: u32, layer: usize, edit: impl FnOnce(&mut Vec<u32>)) {
        if let Some(list) = self.upper(slot, layer) {
            let mut list = list.write();
            edit(&mut list);
            list.truncate(self.m);
        }
    }

    /// Loading only, before anyone else can see these lists: sets `slot`'s list on `layer` to
    /// `ids` (at most the capacity), counting no in-links; the loader then sets every node's
    /// layer-0 count with [`Links::set_in0_count`]. No effect if the node has no such layer.
    pub(crate) fn load(&self, slot: u32, layer: usize, ids: &[u32]) {
        if layer == 0 {
            if let Some((_, record)) = self.node0(slot) {
                Self::store0(record, &ids[..ids.len().min(self.m0)]);
            }
        } else {
            self.update(slot, layer, |list| {
                list.clear();
                list.extend_from_slice(ids);
            });
        }
    }

    /// Loading only: the number of layer-0 list entries naming `slot`.
    pub(crate) fn set_in0_count(&self, slot: u32, count: u32) {
        if let Some(c) = self.in0(slot) {
            c.store(count, Ordering::Release);
        }
    }

    /// Layer 0: adds the `new` ids that are not `slot` and not yet listed to `slot`'s list. If the
    /// list then holds more than [`Links::cap`]`(0)` ids, `select` receives them all and returns
    /// the ones to keep, best first, at most the capacity. An id it drops whose only in-link is
    /// this list stays, in place of the last kept id that has another in-link. Only if every kept
    /// id is the last in-link of its node does a dropped one lose its last in-link. Holds this
    /// list's lock (only) while `select` runs. No effect on a slot that is not a graph node.
    pub(crate) fn merge0(&self, slot: u32, new: &[u32], select: impl FnOnce(&[u32]) -> Vec<u32>) {
        let Some((node, record)) = self.node0(slot) else {
            return;
        };
        let _guard = node.write0.lock();
        let mut members = Vec::with_capacity(self.m0 + new.len());
        self.read(slot, 0, &mut members);
        let old_len = members.len();
        for &n in new {
            if n != slot && !members.contains(&n) {
                members.push(n);
            }
        }
        if members.len() == old_len {
            return;
        }
        let list = if members.len() <= self.m0 {
            members[old_len..].iter().for_each(|&n| self.count_in0(n));
            members
        } else {
            let mut kept = select(&members);
            kept.truncate(self.m0);
            self.shrink0(&members, old_len, kept)
        };
        Self::store0(record, &list);
    }

    /// The list that replaces `members` (of which the first `old_len` were listed before) when
    /// `kept` is the selection; settles the in-link counts of everything that enters or leaves.
    fn shrink0(&self, members: &[u32], old_len: usize, mut kept: Vec<u32>) -> Vec<u32> {
        let was_listed = |id: u32| members[..old_len].contains(&id);
        // Leaving the list: an old entry is released (refused if it is the node's last in-link);
        // a new one was never counted, and only matters if nothing links to its node yet.
        let mut last_links = Vec::new();
        for &id in members.iter().filter(|id| !kept.contains(id)) {
            let only_link = if was_listed(id) { !self.release_in0(id) } else { self.in0_count(id) == 0 };
            if only_link {
                last_links.push(id);
            }
        }
        for id in last_links {
            if kept.len() < self.m0 {
                kept.push(id);
                continue;
            }
            let evictable = |other: u32| {
                if was_listed(other) { self.release_in0(other) } else { self.in0_count(other) > 0 }
            };
            match (0..kept.len()).rev().find(|&i| evictable(kept[i])) {
                Some(i) => kept[i] = id,
                // Every kept id is its node's last in-link too: `id` loses its last one.
                None if was_listed(id) => {
                    if let Some(c) = self.in0(id) {
                        c.fetch_sub(1, Ordering::AcqRel);
                    }
                }
                None => {}
            }
        }
        for &id in kept.iter().filter(|&&id| !was_listed(id)) {
            self.count_in0(id);
        }
        kept
    }

    /// The node data and layer-0 record of `slot` if it is a graph node (prepared).
    fn node0(&self, slot: u32) -> Option<(&Node, &[AtomicU32])> {
        let node = self.nodes.get(slot)?;
        node.upper.get()?;
        Some((node, self.layer0.record(slot)?))
    }

    /// The number of layer-0 list entries naming `slot` (exact when no list is being written).
    pub(crate) fn in0_count(&self, slot: u32) -> u32 {
        self.in0(slot).map_or(0, |c| c.load(Ordering::Acquire))
    }

    fn in0(&self, slot: u32) -> Option<&AtomicU32> {
        self.nodes.get(slot).map(|n| &n.in0)
    }

    fn count_in0(&self, slot: u32) {
        if let Some(c) = self.in0(slot) {
            c.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Uncounts one entry naming `slot` unless it is the last one; `true` if it did.
    fn release_in0(&self, slot: u32) -> bool {
        self.in0(slot)
            .is_some_and(|c| c.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n > 1).then(|| n - 1)).is_ok())
    }

    /// Writes `ids` (at most `m0`) as a layer-0 record: the ids first, then the count (release).
    fn store0(record: &[AtomicU32], ids: &[u32]) {
        for (cell, &id) in record[1..].iter().zip(ids) {
            cell.store(id, Ordering::Relaxed);
        }
        record[0].store(ids.len() as u32, Ordering::Release);
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
        links.load(1, 0, &[0, 2, 0, 2, 0]);
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

    /// A list of capacity 2 on slot 0; slots 1..=5 are nodes.
    fn five_nodes() -> Links {
        let links = Links::new(2, 2);
        for slot in 0..6 {
            links.reserve(slot);
            links.prepare(slot, 0);
        }
        links
    }

    fn list0(links: &Links, slot: u32) -> Vec<u32> {
        let mut out = Vec::new();
        links.read(slot, 0, &mut out);
        out
    }

    #[test]
    fn merge0_keeps_a_last_in_link_instead_of_one_with_another() {
        let links = five_nodes();
        links.merge0(0, &[1, 2], |_| unreachable!("fits"));
        links.merge0(3, &[2], |_| unreachable!("fits")); // 2 has a second in-link, 1 does not
        assert_eq!((links.in0_count(1), links.in0_count(2)), (1, 2));
        // The heuristic would keep 4 and 2 and drop 1: 1 stays, in place of 2.
        links.merge0(0, &[4], |members| {
            assert_eq!(members, [1, 2, 4]);
            vec![4, 2]
        });
        assert_eq!(list0(&links, 0), [4, 1]);
        assert_eq!((links.in0_count(1), links.in0_count(2), links.in0_count(4)), (1, 1, 1));
        // A new id nobody links to yet, dropped by the heuristic, would take the place of a kept
        // id with another in-link; 4 and 1 have none, so 5 stays out.
        links.merge0(0, &[5], |_| vec![4, 1]);
        assert_eq!(list0(&links, 0), [4, 1]);
        assert_eq!(links.in0_count(5), 0, "only when every kept id is a last in-link");
        // Once 4 has another in-link, the same merge evicts 4 for 5.
        links.merge0(3, &[4], |_| unreachable!("fits"));
        links.merge0(0, &[5], |_| vec![4, 1]);
        assert_eq!(list0(&links, 0), [5, 1]);
        assert_eq!((links.in0_count(4), links.in0_count(5)), (1, 1));
    }

    #[test]
    fn merge0_counts_what_enters_and_leaves() {
        let links = five_nodes();
        links.merge0(0, &[1, 2, 0, 1], |_| unreachable!("fits")); // itself and repeats are skipped
        assert_eq!(list0(&links, 0), [1, 2]);
        links.merge0(4, &[1, 2], |_| unreachable!("fits"));
        // Both 1 and 2 now have two in-links: the heuristic's choice stands.
        links.merge0(0, &[3], |_| vec![3]);
        assert_eq!(list0(&links, 0), [3]);
        let counts: Vec<u32> = (0..6).map(|s| links.in0_count(s)).collect();
        assert_eq!(counts, [0, 1, 1, 1, 0, 0]);
    }
}
