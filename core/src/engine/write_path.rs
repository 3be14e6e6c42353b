//! The write path in its three steps, so a caller can run each where it is cheapest:
//! [`Engine::prepare_upsert`] and friends (validate and encode, no lock), [`Engine::commit`] or
//! [`Engine::commit_applied`] or [`Engine::try_commit_nowait`] (under the writer lock: re-check,
//! append, apply), and
//! [`Engine::finish_write`] / [`Engine::finish_write_async`] (wait until the offset is durable,
//! then acknowledge).
//!
//! Invariants:
//! - A [`PreparedWrite`] holds the op and its encoding; its [`Precondition`] is checked again
//!   under the writer lock against the state of that moment, so what validation saw and what is
//!   applied can differ only in ways the precondition accepts (a collection deleted and re-created
//!   since validation fails the upsert).
//! - Apply order == log order: both happen under the writer lock.
//! - An [`AppliedWrite`] is visible to readers (and streamed to replicas) but acknowledged only by
//!   [`Engine::finish_write`] (or its async twin), which returns after the offset is durable per
//!   the fsync policy.
//! - [`Engine::try_commit_nowait`] never waits: not for the writer lock, and not for an fsync (it
//!   declines an append that would close the log segment, since closing one fsyncs it). It is
//!   meant for async callers with small writes; anything it declines goes to
//!   [`Engine::commit_applied`] on a thread that may block.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use vectorizer_sdk_types as wire;

use super::collection::Collection;
use super::state::State;
use super::{Engine, WriteGate, now_ms};
use crate::codec;
use crate::error::{CoreError, Result};
use crate::model::{self, Op};

/// What must still hold, under the writer lock, for a prepared op to be applied.
#[derive(Debug)]
enum Precondition {
    /// Create: no collection of the op's name.
    CollectionAbsent,
    /// Delete a collection, delete points: the op's collection exists.
    CollectionExists,
    /// Upsert: the op's collection is the very object the points were validated against.
    SameCollection(Arc<Collection>),
    /// Set a payload: this point of the op's collection exists.
    PointExists(String),
}

/// A validated, encoded write waiting for the writer lock.
#[derive(Debug)]
pub struct PreparedWrite {
    op: Op,
    bytes: Vec<u8>,
    precondition: Precondition,
}

impl PreparedWrite {
    fn new(op: Op, precondition: Precondition) -> Self {
        let bytes = codec::encode_op_to_vec(&op);
        Self { op, bytes, precondition }
    }

    /// Size of the encoded op (what the log record carries).
    pub fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    fn check(&self, state: &State) -> Result<()> {
        let name = self.op.collection();
        match &self.precondition {
            Precondition::CollectionAbsent if state.exists(name) => {
                Err(CoreError::CollectionExists { name: name.to_owned() })
            }
            Precondition::CollectionAbsent => Ok(()),
            Precondition::CollectionExists => state.get(name).map(drop),
            Precondition::SameCollection(validated) => match state.get(name) {
                Ok(current) if Arc::ptr_eq(&current, validated) => Ok(()),
                _ => Err(CoreError::CollectionNotFound { name: name.to_owned() }),
            },
            Precondition::PointExists(id) => {
                if state.get(name)?.contains(id) {
                    Ok(())
                } else {
                    Err(CoreError::PointNotFound { collection: name.to_owned(), id: id.clone() })
                }
            }
        }
    }
}

/// A write appended and applied (visible), not yet acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a write is acknowledged only through Engine::finish_write"]
pub struct AppliedWrite {
    pub offset: u64,
    pub affected: u64,
}

/// What [`Engine::try_commit_nowait`] did.
#[derive(Debug)]
pub enum NowaitCommit {
    /// Appended and applied.
    Applied(AppliedWrite),
    /// Refused (precondition, shutdown, replica role, log failure); nothing was written.
    Failed(CoreError),
    /// Not attempted without waiting (writer lock busy, or the append would close a segment):
    /// hand the write back to [`Engine::commit_applied`] on a thread that may block.
    WouldBlock(PreparedWrite),
}

impl Engine {
    /// Validates a create-collection request.
    pub fn prepare_create_collection(&self, req: &wire::CreateCollectionRequest) -> Result<PreparedWrite> {
        let config = model::validate_create(req)?;
        Ok(PreparedWrite::new(Op::CreateCollection(config), Precondition::CollectionAbsent))
    }

    /// Validates a delete-collection request.
    pub fn prepare_delete_collection(&self, name: &str) -> Result<PreparedWrite> {
        model::validate_collection_name("name", name)?;
        Ok(PreparedWrite::new(Op::DeleteCollection { name: name.to_owned() }, Precondition::CollectionExists))
    }

    /// Validates an upsert against the collection's current configuration.
    pub fn prepare_upsert(&self, collection: &str, req: wire::UpsertRequest) -> Result<PreparedWrite> {
        let coll = self.state.current().get(collection)?;
        let points = model::validate_points(&coll.config, req.vectors, &self.config.limits)?;
        let op = Op::Upsert { collection: collection.to_owned(), points };
        Ok(PreparedWrite::new(op, Precondition::SameCollection(coll)))
    }

    /// Validates a delete-points request.
    pub fn prepare_delete_points(&self, collection: &str, req: &wire::DeletePointsRequest) -> Result<PreparedWrite> {
        model::validate_ids(&req.ids, &self.config.limits)?;
        let op = Op::Delete { collection: collection.to_owned(), ids: req.ids.clone() };
        Ok(PreparedWrite::new(op, Precondition::CollectionExists))
    }

    /// Validates a set-payload request.
    pub fn prepare_set_payload(
        &self,
        collection: &str,
        id: &str,
        payload: Option<&wire::Payload>,
    ) -> Result<PreparedWrite> {
        model::validate_point_id("id", id)?;
        let payload = payload.map(|p| model::encode_payload("payload", p, &self.config.limits)).transpose()?;
        let op = Op::SetPayload { collection: collection.to_owned(), id: id.to_owned(), payload };
        Ok(PreparedWrite::new(op, Precondition::PointExists(id.to_owned())))
    }

    /// The whole write, blocking: commit, then wait for durability.
    pub fn commit(&self, prepared: PreparedWrite) -> Result<wire::WriteResponse> {
        let applied = self.commit_applied(prepared)?;
        self.finish_write(applied)
    }

    /// Commits, waiting for the writer lock (and for the fsync of a segment it closes) but not for
    /// durability; the caller acknowledges through [`Engine::finish_write_async`] (or
    /// [`Engine::finish_write`]).
    pub fn commit_applied(&self, prepared: PreparedWrite) -> Result<AppliedWrite> {
        let applied = {
            let mut gate = self.gate.lock();
            self.commit_gated(&mut gate, prepared)?
        };
        self.after_commit();
        Ok(applied)
    }

    /// Commits without waiting for anything (see the module invariants); the caller then
    /// acknowledges through [`Engine::finish_write_async`] (or [`Engine::finish_write`]).
    pub fn try_commit_nowait(&self, prepared: PreparedWrite) -> NowaitCommit {
        let Some(mut gate) = self.gate.try_lock() else {
            return NowaitCommit::WouldBlock(prepared);
        };
        // Under the writer lock nothing else appends (replicated applies take it too), so the
        // answer still holds at the append.
        if !self.log.fits_active_segment(prepared.bytes.len()) {
            return NowaitCommit::WouldBlock(prepared);
        }
        let result = self.commit_gated(&mut gate, prepared);
        drop(gate);
        match result {
            Ok(applied) => {
                self.after_commit();
                NowaitCommit::Applied(applied)
            }
            Err(e) => NowaitCommit::Failed(e),
        }
    }

    /// Waits until the write is durable per the fsync policy (group commit: one fsync serves every
    /// waiter), then acknowledges it. A failed fsync stops the engine's writes.
    pub fn finish_write(&self, applied: AppliedWrite) -> Result<wire::WriteResponse> {
        let durable = self.log.wait_durable(applied.offset);
        self.acknowledge(applied, durable)
    }

    /// [`Engine::finish_write`] for async callers: waiting for another writer's fsync holds no
    /// thread (`OpLog::wait_durable_async`).
    pub async fn finish_write_async(&self, applied: AppliedWrite) -> Result<wire::WriteResponse> {
        let durable = self.log.wait_durable_async(applied.offset).await;
        self.acknowledge(applied, durable)
    }

    fn acknowledge(&self, applied: AppliedWrite, durable: Result<()>) -> Result<wire::WriteResponse> {
        let AppliedWrite { offset, affected } = applied;
        if let Err(e) = durable {
            let mut gate = self.gate.lock();
            gate.failed = Some(format!("fsync failed at offset {offset}: {e}; restart the node"));
            tracing::error!(offset, error = %e, "fsync failed; refusing further writes");
            return Err(e);
        }
        Ok(wire::WriteResponse { offset, affected })
    }

    /// Re-checks, appends and applies, under the writer lock.
    fn commit_gated(&self, gate: &mut WriteGate, prepared: PreparedWrite) -> Result<AppliedWrite> {
        if gate.closed {
            return Err(CoreError::Unavailable { reason: "the node is shutting down".into() });
        }
        if let Some(reason) = &gate.failed {
            return Err(CoreError::Unavailable { reason: reason.clone() });
        }
        if let super::NodeRole::Replica { master_http } = &*self.role.read() {
            return Err(CoreError::ReadOnlyReplica { master: master_http.clone() });
        }
        let state = self.state.current();
        prepared.check(&state)?;
        let offset = self.log.append(self.epoch(), now_ms(), &prepared.bytes)?;
        match state.apply(offset, prepared.op) {
            Ok(affected) => {
                // Counted when applied, like a replicated op: a caller that stops waiting for the
                // acknowledgement (a client gone) does not make the snapshot schedule miss it.
                self.ops_since_snapshot.fetch_add(1, Ordering::SeqCst);
                Ok(AppliedWrite { offset, affected })
            }
            Err(e) => {
                gate.failed = Some(format!("applying op {offset} failed: {e}; restart the node"));
                tracing::error!(offset, error = %e, "apply failed after append; refusing further writes");
                Err(e)
            }
        }
    }

    /// Wakes the linkers for what was just applied (outside the writer lock).
    fn after_commit(&self) {
        if let Some(workers) = self.workers.lock().as_ref() {
            workers.notify_linkers();
        }
    }
}
