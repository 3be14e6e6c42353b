//! Probing members over the controller transport: health for the view, positions for the choice
//! of a new master, and the "already formed?" answer for the bootstrap guard.
//!
//! Invariant: an [`Observation`] records only what a probe actually returned (with the instant it
//! returned); a failed probe marks the member unreachable but keeps its last known position, which
//! the view reports together with its age.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cluster::controller::Inner;
use crate::cluster::hooks::NodePosition;
use crate::cluster::raft_types::NodeId;
use crate::cluster::wire::{ProbeReply, Request, Response};
use crate::error::CoreError;

/// What this node last learnt about a member.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observation {
    pub position: Option<NodePosition>,
    /// When the member last answered.
    pub last_ok: Option<Instant>,
    /// Whether the most recent probe failed.
    pub last_failed: bool,
}

/// Probes every other member concurrently (each within `deadline`) and returns the answers,
/// keyed by node id, plus this node's own answer.
pub(crate) async fn probe_all(inner: &Inner, deadline: Duration) -> BTreeMap<NodeId, ProbeReply> {
    let peers: Vec<NodeId> = inner.transport.peers().collect();
    let calls = peers.iter().map(|&id| async move { (id, probe_one(inner, id, deadline).await) });
    let results = futures::future::join_all(calls).await;
    let mut replies = BTreeMap::new();
    {
        let mut obs = inner.observations.lock();
        let now = Instant::now();
        for (id, result) in results {
            let o = obs.entry(id).or_default();
            match result {
                Ok(reply) => {
                    o.position = Some(reply.position);
                    o.last_ok = Some(now);
                    o.last_failed = false;
                    replies.insert(id, reply);
                }
                Err(e) => {
                    tracing::debug!(peer = id, error = %e, "controller probe failed");
                    o.last_failed = true;
                }
            }
        }
    }
    replies.insert(inner.me, inner.local_probe().await);
    replies
}

async fn probe_one(inner: &Inner, id: NodeId, deadline: Duration) -> crate::error::Result<ProbeReply> {
    match inner.transport.call_once(id, &Request::Probe, deadline).await? {
        Response::Probe(reply) if reply.node_id == id => Ok(reply),
        other => Err(CoreError::ProtocolViolation {
            peer: format!("controller node {id}"),
            detail: format!("unexpected answer to a probe: {other:?}"),
        }),
    }
}

/// Probes every member every `probe_interval` until shutdown.
pub(crate) async fn run(inner: Arc<Inner>) {
    let interval = inner.config.probe_interval();
    loop {
        let started = Instant::now();
        probe_all(&inner, interval).await;
        if !inner.sleep(interval.saturating_sub(started.elapsed())).await {
            return;
        }
    }
}
