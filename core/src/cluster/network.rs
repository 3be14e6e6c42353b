//! openraft's network ([`RaftNetworkFactory`] / [`RaftNetwork`]) over our [`Transport`].
//!
//! Invariant: each Raft RPC runs under openraft's deadline (`RPCOption::hard_ttl`) on a connection
//! owned by one replication stream; failures to reach a node map to `Unreachable` (openraft backs
//! off), failures on an established connection to `Network`, and errors returned by the remote
//! Raft to `RemoteError`.

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{EmptyNode, RaftNetwork, RaftNetworkFactory};

use crate::cluster::raft_types::{NodeId, TypeConfig};
use crate::cluster::transport::Transport;
use crate::cluster::wire::{Conn, Request, Response};
use crate::error::CoreError;

/// Shortest deadline given to a Raft RPC, whatever openraft asks (a handshake needs two round trips).
const MIN_RPC_DEADLINE: Duration = Duration::from_millis(20);

type RpcResult<T, E = openraft::error::Infallible> = Result<T, RPCError<NodeId, EmptyNode, RaftError<NodeId, E>>>;

/// Creates one [`PeerNetwork`] per replication stream / vote round.
#[derive(Debug, Clone)]
pub struct NetworkFactory {
    transport: Arc<Transport>,
}

impl NetworkFactory {
    pub fn new(transport: Arc<Transport>) -> Self {
        Self { transport }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: NodeId, _node: &EmptyNode) -> PeerNetwork {
        PeerNetwork { transport: self.transport.clone(), target, conn: None }
    }
}

/// The client side of Raft RPCs to one node.
#[derive(Debug)]
pub struct PeerNetwork {
    transport: Arc<Transport>,
    target: NodeId,
    conn: Option<Conn>,
}

impl PeerNetwork {
    async fn rpc<E: std::error::Error>(
        &mut self,
        req: Request,
        option: &RPCOption,
    ) -> Result<Response, RPCError<NodeId, EmptyNode, RaftError<NodeId, E>>> {
        let had_conn = self.conn.is_some();
        let deadline = option.hard_ttl().max(MIN_RPC_DEADLINE);
        match self.transport.call(&mut self.conn, self.target, &req, deadline).await {
            Ok(resp) => Ok(resp),
            Err(e) => Err(match e {
                // Not connected (or timed out while connecting): back off.
                CoreError::PeerTimeout { .. } | CoreError::PeerIo { .. } | CoreError::PeerRefused { .. }
                    if !had_conn =>
                {
                    RPCError::Unreachable(Unreachable::new(&e))
                }
                CoreError::PeerTimeout { .. } => RPCError::Unreachable(Unreachable::new(&e)),
                other => RPCError::Network(NetworkError::new(&other)),
            }),
        }
    }

    fn unexpected<E: std::error::Error>(&self, resp: &Response) -> RPCError<NodeId, EmptyNode, RaftError<NodeId, E>> {
        let err = CoreError::ProtocolViolation {
            peer: format!("controller node {}", self.target),
            detail: format!("unexpected response {resp:?}"),
        };
        RPCError::Network(NetworkError::new(&err))
    }
}

impl RaftNetwork<TypeConfig> for PeerNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        match self.rpc(Request::AppendEntries(rpc), &option).await? {
            Response::AppendEntries(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(self.unexpected(&other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        match self.rpc(Request::InstallSnapshot(rpc), &option).await? {
            Response::InstallSnapshot(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(self.unexpected(&other)),
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<NodeId>, option: RPCOption) -> RpcResult<VoteResponse<NodeId>> {
        match self.rpc(Request::Vote(rpc), &option).await? {
            Response::Vote(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(self.unexpected(&other)),
        }
    }
}
