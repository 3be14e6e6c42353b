//! Which endpoint is the master and which are replicas, learned from `/api/v1/replication/status`.
//!
//! Invariant: a [`Topology`] is a snapshot of one discovery round; it is replaced as a whole (never
//! patched), and is dropped whenever a call shows it is stale (connection failure, `read_only_replica`).

use reqwest::{Method, Url};
use vectorizer_sdk_types::{ReplicationRole, ReplicationStatus};

use crate::config::{endpoint_name, parse_endpoint};
use crate::error::{ClientError, Result};
use crate::transport::Transport;

/// Result of one discovery round.
#[derive(Debug, Clone)]
pub(crate) struct Topology {
    pub(crate) master: Option<Url>,
    pub(crate) replicas: Vec<Url>,
    /// Round-robin cursor for replica reads.
    next_replica: usize,
}

impl Topology {
    /// The next replica in round-robin order, if any is known.
    pub(crate) fn next_replica(&mut self) -> Option<Url> {
        if self.replicas.is_empty() {
            return None;
        }
        let url = self.replicas[self.next_replica % self.replicas.len()].clone();
        self.next_replica = self.next_replica.wrapping_add(1);
        Some(url)
    }
}

/// Asks every endpoint (concurrently) for its replication status and picks the master.
///
/// With several nodes claiming to be master (a failover in progress), the one with the highest
/// epoch wins; ties go to the earliest endpoint in the list. `hint` (a `host:port` named by a
/// `read_only_replica` error) is probed too when it is not one of `endpoints`.
pub(crate) async fn discover(transport: &Transport, endpoints: &[Url], hint: Option<&str>) -> Topology {
    let mut candidates: Vec<Url> = endpoints.to_vec();
    if let Some(url) = hint.and_then(|h| parse_endpoint(h).ok())
        && !candidates.iter().any(|c| endpoint_name(c) == endpoint_name(&url))
    {
        candidates.push(url);
    }
    let probes = candidates.iter().map(|url| {
        transport.call::<ReplicationStatus, ()>(url, Method::GET, &["api", "v1", "replication", "status"], None)
    });
    // Unreachable endpoints and unparseable answers are skipped: they are neither master nor replica.
    let answers: Vec<(usize, ReplicationStatus)> = futures::future::join_all(probes)
        .await
        .into_iter()
        .enumerate()
        .filter_map(|(index, answer)| answer.ok().map(|status| (index, status)))
        .collect();
    let epoch_of = |s: &ReplicationStatus| s.stats.as_ref().and_then(|st| st.epoch).unwrap_or(0);
    let mut master: Option<(usize, u64)> = None;
    let mut replicas = Vec::new();
    for (index, status) in &answers {
        match status.role {
            ReplicationRole::Master => {
                let epoch = epoch_of(status);
                if master.is_none_or(|(_, best)| epoch > best) {
                    master = Some((*index, epoch));
                }
            }
            ReplicationRole::Replica => replicas.push(candidates[*index].clone()),
        }
    }
    Topology { master: master.map(|(index, _)| candidates[index].clone()), replicas, next_replica: 0 }
}

/// The error for "discovery found no master".
pub(crate) fn no_master(endpoints: &[Url]) -> ClientError {
    ClientError::NoMaster { endpoints: endpoints.iter().map(endpoint_name).collect() }
}

/// The master of `topology`, or [`ClientError::NoMaster`] naming the endpoints that were asked.
pub(crate) fn require_master(topology: &Topology, endpoints: &[Url]) -> Result<Url> {
    topology.master.clone().ok_or_else(|| no_master(endpoints))
}
