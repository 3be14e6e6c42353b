//! The set of collections and the deterministic application of operations to it.
//!
//! Invariant: [`State::apply`] is a pure function of (current state, op). It is used for live
//! writes, log replay at start-up and (later) replicated operations, so all three produce the same
//! state from the same log. Validation against user limits happens before an op is built (see
//! [`crate::engine::write`]); `apply` only rejects ops that contradict the state, which for a log
//! written by this engine means corruption or divergence.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::engine::collection::Collection;
use crate::error::{CoreError, Result};
use crate::model::{Op, validate_vector};

/// All collections of a node, by name (ordered, so listings and snapshots are deterministic).
#[derive(Debug, Default)]
pub(crate) struct State {
    collections: RwLock<BTreeMap<String, Arc<Collection>>>,
}

impl State {
    /// Builds a state from collections loaded from a snapshot.
    pub(crate) fn from_collections(collections: Vec<Collection>) -> Self {
        let map = collections.into_iter().map(|c| (c.config.name.clone(), Arc::new(c))).collect();
        Self { collections: RwLock::new(map) }
    }

    /// The collection called `name`.
    pub(crate) fn get(&self, name: &str) -> Result<Arc<Collection>> {
        self.collections
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| CoreError::CollectionNotFound { name: name.to_owned() })
    }

    /// Whether a collection called `name` exists.
    pub(crate) fn exists(&self, name: &str) -> bool {
        self.collections.read().contains_key(name)
    }

    /// Every collection, ordered by name.
    pub(crate) fn all(&self) -> Vec<Arc<Collection>> {
        self.collections.read().values().cloned().collect()
    }

    /// Applies one operation; returns the number of points it affected.
    /// `offset` is only used to name the op in errors.
    pub(crate) fn apply(&self, offset: u64, op: Op) -> Result<u64> {
        let inconsistent = |detail: String| CoreError::InconsistentLog { offset, detail };
        match op {
            Op::CreateCollection(config) => {
                let mut map = self.collections.write();
                if map.contains_key(&config.name) {
                    return Err(inconsistent(format!("collection '{}' created twice", config.name)));
                }
                map.insert(config.name.clone(), Arc::new(Collection::new(config)));
                Ok(0)
            }
            Op::DeleteCollection { name } => match self.collections.write().remove(&name) {
                Some(_) => Ok(0),
                None => Err(inconsistent(format!("deletes unknown collection '{name}'"))),
            },
            Op::Upsert { collection, points } => {
                let coll = self.get(&collection).map_err(|e| inconsistent(e.to_string()))?;
                for (i, p) in points.iter().enumerate() {
                    validate_vector(&coll.config, &format!("points[{i}].vector"), &p.vector)
                        .map_err(|e| inconsistent(e.to_string()))?;
                }
                Ok(coll.apply_upsert(points))
            }
            Op::Delete { collection, ids } => {
                let coll = self.get(&collection).map_err(|e| inconsistent(e.to_string()))?;
                Ok(coll.apply_delete(&ids))
            }
            Op::SetPayload { collection, id, payload } => {
                let coll = self.get(&collection).map_err(|e| inconsistent(e.to_string()))?;
                Ok(coll.apply_set_payload(&id, payload))
            }
        }
    }
}

/// The current [`State`], replaceable as a whole (a replica's full sync swaps in a new one).
///
/// Readers take a cheap `Arc` clone and keep using the state they got even if it is replaced
/// meanwhile, so no reader ever sees a half-loaded collection set.
#[derive(Debug)]
pub(crate) struct StateCell(RwLock<Arc<State>>);

impl StateCell {
    pub(crate) fn new(state: State) -> Self {
        Self(RwLock::new(Arc::new(state)))
    }

    /// The state as of now.
    pub(crate) fn current(&self) -> Arc<State> {
        self.0.read().clone()
    }

    /// Replaces the whole state (the caller holds the engine's writer lock).
    pub(crate) fn replace(&self, state: State) {
        *self.0.write() = Arc::new(state);
    }
}
