//! Messages of the controller transport and their framing.
//!
//! Frame on the wire: `u32 length (LE) | JSON body`. Invariant: a length above the reader's cap
//! ([`HANDSHAKE_MAX_BYTES`] before authentication, [`MAX_MESSAGE_BYTES`] after) is rejected before
//! anything is allocated, and a body that does not decode closes the connection with
//! [`CoreError::ProtocolViolation`] — decoding never panics.
//!
//! Exchange on every connection (the dialer is the client):
//! 1. client -> [`Hello`] (version, its id, the id it meant to reach, a nonce)
//! 2. server -> [`ServerHello::Challenge`] (its id, its nonce, its proof) or `Refused`
//! 3. client checks the id and the proof, -> [`ClientProof`]
//! 4. server -> [`Admission::Welcome`] or `Refused`
//! 5. then any number of [`Request`] -> [`Response`] pairs, one at a time.

use std::time::Duration;

use openraft::error::InstallSnapshotError;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cluster::hooks::NodePosition;
use crate::cluster::raft_types::{NodeId, RaftError, TypeConfig};
use crate::cluster::state::{Command, Outcome};
use crate::error::{CoreError, Result};
use crate::replication::frame::{NONCE_BYTES, PROOF_BYTES};

/// Version of this protocol; a peer speaking another one is refused.
pub const PROTOCOL_VERSION: u16 = 1;
/// Frame cap before the peer is authenticated.
pub const HANDSHAKE_MAX_BYTES: usize = 4 * 1024;
/// Frame cap after authentication (a batch of log entries or one snapshot chunk, JSON-encoded).
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

/// Step 1: the dialer introduces itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub version: u16,
    pub from: NodeId,
    /// The node the dialer meant to reach; a listener with another id refuses.
    pub to: NodeId,
    pub nonce: [u8; NONCE_BYTES],
}

/// Step 2.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ServerHello {
    Challenge { node_id: NodeId, nonce: [u8; NONCE_BYTES], proof: [u8; PROOF_BYTES] },
    Refused(Refusal),
}

/// Step 3.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientProof {
    pub proof: [u8; PROOF_BYTES],
}

/// Step 4.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Admission {
    Welcome,
    Refused(Refusal),
}

/// Why a listener refused a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    Version {
        ours: u16,
        theirs: u16,
    },
    /// The dialer meant to reach `dialed` but this listener is `actual` (wrong address in a config).
    WrongNode {
        dialed: NodeId,
        actual: NodeId,
    },
    /// The dialer claims an id that is not in this node's `cluster.nodes`.
    UnknownPeer {
        id: NodeId,
    },
    /// The dialer claims this node's own id (a node never talks to itself).
    SelfConnection {
        id: NodeId,
    },
    /// The dialer's proof does not match the shared secret.
    AuthFailed,
}

impl Refusal {
    /// Stable code, used in [`CoreError::PeerRefused`].
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Version { .. } => "version_mismatch",
            Refusal::WrongNode { .. } => "wrong_node",
            Refusal::UnknownPeer { .. } => "unknown_peer",
            Refusal::SelfConnection { .. } => "self_connection",
            Refusal::AuthFailed => "auth_failed",
        }
    }

    /// Human-readable explanation.
    pub fn message(&self) -> String {
        match self {
            Refusal::Version { ours, theirs } => format!("protocol version {theirs} is not {ours}"),
            Refusal::WrongNode { dialed, actual } => {
                format!("dialed node {dialed} but this is node {actual}: check cluster.nodes addresses")
            }
            Refusal::UnknownPeer { id } => format!("node {id} is not in cluster.nodes"),
            Refusal::SelfConnection { id } => format!("node {id} dialed itself"),
            Refusal::AuthFailed => "wrong cluster.auth_secret".into(),
        }
    }
}

/// A request after authentication.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum Request {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// Where do you stand? (health, failover choice, bootstrap guard)
    Probe,
    /// Commit this command (sent to the controller leader).
    Propose(Command),
    /// Appoint this master, fencing the current one first (sent to the controller leader).
    Appoint {
        master_id: NodeId,
        reason: String,
    },
}

impl Request {
    /// Short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Request::AppendEntries(_) => "AppendEntries",
            Request::Vote(_) => "Vote",
            Request::InstallSnapshot(_) => "InstallSnapshot",
            Request::Probe => "Probe",
            Request::Propose(_) => "Propose",
            Request::Appoint { .. } => "Appoint",
        }
    }
}

/// The answer to a [`Request`], same variant.
#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    AppendEntries(std::result::Result<AppendEntriesResponse<NodeId>, RaftError>),
    Vote(std::result::Result<VoteResponse<NodeId>, RaftError>),
    InstallSnapshot(std::result::Result<InstallSnapshotResponse<NodeId>, RaftError<InstallSnapshotError>>),
    Probe(ProbeReply),
    Propose(std::result::Result<Outcome, RemoteFailure>),
    Appoint(std::result::Result<Outcome, RemoteFailure>),
}

/// A node's answer to a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReply {
    pub node_id: NodeId,
    pub position: NodePosition,
    /// Whether the node's controller has any Raft state (vote or log): it belongs to a formed group.
    pub initialized: bool,
    pub term: u64,
    pub leader: Option<NodeId>,
}

/// Why a forwarded proposal failed on the remote node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RemoteFailure {
    /// The remote node is not the controller leader (any more).
    NotLeader { leader: Option<NodeId> },
    /// Anything else (timeout, shutdown, no eligible replica ...).
    Failed { message: String },
}

/// One framed connection; `peer` names the other side in errors.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    peer: String,
}

impl Conn {
    pub fn new(stream: TcpStream, peer: String) -> Self {
        let _ = stream.set_nodelay(true);
        Self { stream, peer }
    }

    pub fn peer(&self) -> &str {
        &self.peer
    }

    pub fn set_peer(&mut self, peer: String) {
        self.peer = peer;
    }

    /// Writes one message.
    pub async fn send<T: Serialize>(&mut self, msg: &T) -> Result<()> {
        let body = serde_json::to_vec(msg).map_err(|e| CoreError::decode(format!("encoding a message: {e}")))?;
        if body.len() > MAX_MESSAGE_BYTES {
            return Err(CoreError::TooLarge {
                field: "controller message".into(),
                actual: body.len(),
                limit: MAX_MESSAGE_BYTES,
            });
        }
        let mut frame = Vec::with_capacity(4 + body.len());
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame).await.map_err(|e| self.io(e))
    }

    /// Reads one message of at most `max` bytes, waiting at most `deadline` for all of it.
    pub async fn recv<T: DeserializeOwned>(&mut self, max: usize, deadline: Duration) -> Result<T> {
        match tokio::time::timeout(deadline, self.recv_inner(max)).await {
            Ok(r) => r,
            Err(_) => Err(CoreError::PeerTimeout { peer: self.peer.clone(), after_ms: deadline.as_millis() as u64 }),
        }
    }

    async fn recv_inner<T: DeserializeOwned>(&mut self, max: usize) -> Result<T> {
        let mut prefix = [0u8; 4];
        self.read_exact(&mut prefix).await?;
        let len = u32::from_le_bytes(prefix) as usize;
        if len == 0 || len > max {
            return Err(CoreError::ProtocolViolation {
                peer: self.peer.clone(),
                detail: format!("frame of {len} bytes outside 1..={max}"),
            });
        }
        let mut body = vec![0u8; len];
        self.read_exact(&mut body).await?;
        serde_json::from_slice(&body)
            .map_err(|e| CoreError::ProtocolViolation { peer: self.peer.clone(), detail: format!("bad message: {e}") })
    }

    async fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        match self.stream.read_exact(buf).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(CoreError::PeerClosed { peer: self.peer.clone() })
            }
            Err(e) => Err(self.io(e)),
        }
    }

    fn io(&self, source: std::io::Error) -> CoreError {
        CoreError::PeerIo { peer: self.peer.clone(), source }
    }
}
