//! One collection in memory: its configuration, the vector index and the point table.
//!
//! Invariant: slot `s` of the point table and slot `s` of the [`VectorIndex`] describe the same
//! point. Both are only changed by [`Collection::apply_upsert`] / [`Collection::apply_delete`] /
//! [`Collection::apply_set_payload`], which the engine calls under its single writer lock in log
//! order, so the slot sequences never drift apart. Readers take the table's read lock briefly;
//! the index is internally synchronised and is searched without any table lock held.

use std::collections::HashMap;

use parking_lot::RwLock;
use vectorizer_sdk_types as wire;

use crate::index::VectorIndex;
use crate::model::{CollectionConfig, Point};

/// Per-slot metadata: the point's id and payload, or `None` once the slot was replaced or removed.
#[derive(Debug, Clone)]
pub(crate) struct SlotMeta {
    pub(crate) id: Box<str>,
    pub(crate) payload: Option<Box<str>>,
}

/// Id -> slot map plus per-slot metadata.
#[derive(Debug, Default)]
pub(crate) struct PointTable {
    pub(crate) by_id: HashMap<Box<str>, u32>,
    pub(crate) slots: Vec<Option<SlotMeta>>,
}

/// A collection: configuration, vectors + HNSW graph, and point table.
#[derive(Debug)]
pub(crate) struct Collection {
    pub(crate) config: CollectionConfig,
    pub(crate) index: VectorIndex,
    pub(crate) table: RwLock<PointTable>,
}

impl Collection {
    /// An empty collection.
    pub(crate) fn new(config: CollectionConfig) -> Self {
        let index = VectorIndex::new(config.dimension as usize, config.metric, config.hnsw);
        Self { config, index, table: RwLock::new(PointTable::default()) }
    }

    /// Rebuilds a collection from its parts (snapshot load). The caller has checked that the table
    /// and the index have the same number of slots.
    pub(crate) fn from_parts(config: CollectionConfig, index: VectorIndex, table: PointTable) -> Self {
        Self { config, index, table: RwLock::new(table) }
    }

    /// Number of live points.
    pub(crate) fn len(&self) -> usize {
        self.table.read().by_id.len()
    }

    /// Whether `id` is currently stored.
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.table.read().by_id.contains_key(id)
    }

    /// Inserts or replaces points, in order (a later duplicate id in the batch wins). Returns the
    /// number of points written.
    pub(crate) fn apply_upsert(&self, points: Vec<Point>) -> u64 {
        let mut table = self.table.write();
        let mut written = 0u64;
        for point in points {
            if let Some(old) = table.by_id.get(point.id.as_str()).copied() {
                self.index.remove(old);
                if let Some(meta) = table.slots.get_mut(old as usize) {
                    *meta = None;
                }
            }
            let slot = self.index.add(&point.vector);
            debug_assert_eq!(slot as usize, table.slots.len(), "index and table slots drifted");
            let id: Box<str> = point.id.into_boxed_str();
            table.slots.push(Some(SlotMeta { id: id.clone(), payload: point.payload }));
            table.by_id.insert(id, slot);
            written += 1;
        }
        written
    }

    /// Removes the given ids; unknown ids are ignored. Returns how many were removed.
    pub(crate) fn apply_delete(&self, ids: &[String]) -> u64 {
        let mut table = self.table.write();
        let mut removed = 0u64;
        for id in ids {
            if let Some(slot) = table.by_id.remove(id.as_str()) {
                self.index.remove(slot);
                if let Some(meta) = table.slots.get_mut(slot as usize) {
                    *meta = None;
                }
                removed += 1;
            }
        }
        removed
    }

    /// Replaces the payload of `id`; returns 1 if the point exists, else 0.
    pub(crate) fn apply_set_payload(&self, id: &str, payload: Option<Box<str>>) -> u64 {
        let mut table = self.table.write();
        let Some(slot) = table.by_id.get(id).copied() else { return 0 };
        match table.slots.get_mut(slot as usize) {
            Some(Some(meta)) => {
                meta.payload = payload;
                1
            }
            _ => 0,
        }
    }

    /// The id and payload of a live slot.
    pub(crate) fn slot_meta(&self, slot: u32) -> Option<SlotMeta> {
        self.table.read().slots.get(slot as usize).cloned().flatten()
    }

    /// Public description of this collection.
    pub(crate) fn info(&self) -> wire::CollectionInfo {
        let live = self.len() as u64;
        wire::CollectionInfo {
            name: self.config.name.clone(),
            dimension: self.config.dimension,
            metric: self.config.metric,
            hnsw: self.config.hnsw,
            vector_count: live,
            indexed_count: (self.index.linked_count() as u64).min(live),
        }
    }
}

impl Collection {
    /// blake3 over the config and every live point (id, vector bits, payload) in id order.
    /// Two collections with equal digests hold the same data, whatever their slot layout.
    pub(crate) fn digest(&self) -> (u64, String) {
        let mut hasher = blake3::Hasher::new();
        let config = crate::codec::encode_op_to_vec(&crate::model::Op::CreateCollection(self.config.clone()));
        hasher.update(&config);
        let table = self.table.read();
        let mut ids: Vec<(&str, u32)> = table.by_id.iter().map(|(id, slot)| (&**id, *slot)).collect();
        ids.sort_unstable();
        for (id, slot) in &ids {
            hasher.update(&(id.len() as u32).to_le_bytes());
            hasher.update(id.as_bytes());
            if let Some(vector) = self.index.vector(*slot) {
                for v in vector {
                    hasher.update(&v.to_bits().to_le_bytes());
                }
            }
            match table.slots.get(*slot as usize).cloned().flatten().and_then(|m| m.payload) {
                Some(p) => {
                    hasher.update(&[1]);
                    hasher.update(&(p.len() as u32).to_le_bytes());
                    hasher.update(p.as_bytes());
                }
                None => {
                    hasher.update(&[0]);
                }
            }
        }
        (ids.len() as u64, hasher.finalize().to_hex().to_string())
    }
}
