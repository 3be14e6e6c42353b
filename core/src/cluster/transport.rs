//! Authenticated request/response connections between controller nodes.
//!
//! Invariants:
//! - Every connection starts with the mutual handshake of [`crate::cluster::wire`]: the listener
//!   refuses a dialer whose intended target is another node, whose id is unknown or is its own, or
//!   whose proof is wrong; the dialer refuses a listener that answers with another id or cannot
//!   prove the secret. A node therefore never exchanges Raft messages with itself, whatever the
//!   addresses in the configuration say.
//! - A node never dials itself ([`Transport::connect`] refuses the local id).
//! - Every RPC has a deadline covering connect, handshake, request and response; a connection is
//!   reused only after a request completed, so a cancelled or failed RPC never leaves a
//!   half-read response behind.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpStream;

use crate::cluster::auth::{self, Binding, Side};
use crate::cluster::config::ClusterConfig;
use crate::cluster::raft_types::NodeId;
use crate::cluster::wire::{
    Admission, ClientProof, Conn, HANDSHAKE_MAX_BYTES, Hello, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, Refusal, Request,
    Response, ServerHello,
};
use crate::error::{CoreError, Result};

/// Deadline of the handshake on the listening side.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(5);

/// This node's side of the controller network.
#[derive(Debug)]
pub struct Transport {
    me: NodeId,
    /// Raft addresses of every configured node (including this one).
    addrs: BTreeMap<NodeId, String>,
    secret: Vec<u8>,
    /// Fault injection for tests: while set, nothing is sent or accepted.
    isolated: AtomicBool,
}

impl Transport {
    pub fn new(me: NodeId, addrs: BTreeMap<NodeId, String>, secret: Option<&str>) -> Self {
        Self {
            me,
            addrs,
            secret: secret.map(|s| s.as_bytes().to_vec()).unwrap_or_default(),
            isolated: AtomicBool::new(false),
        }
    }

    pub fn from_config(config: &ClusterConfig) -> Self {
        let addrs = config.nodes.iter().map(|n| (n.id, n.raft.clone())).collect();
        Self::new(config.node_id, addrs, config.auth_secret.as_deref())
    }

    pub fn me(&self) -> NodeId {
        self.me
    }

    /// Ids of the other configured nodes.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.addrs.keys().copied().filter(move |id| *id != self.me)
    }

    /// Cuts this node off the controller network (tests: a partition) or reconnects it.
    pub fn set_isolated(&self, isolated: bool) {
        self.isolated.store(isolated, Ordering::SeqCst);
    }

    pub fn is_isolated(&self) -> bool {
        self.isolated.load(Ordering::SeqCst)
    }

    fn label(&self, id: NodeId) -> String {
        match self.addrs.get(&id) {
            Some(addr) => format!("controller node {id} at {addr}"),
            None => format!("controller node {id}"),
        }
    }

    fn isolated_error(&self, peer: String) -> CoreError {
        CoreError::PeerIo {
            peer,
            source: std::io::Error::new(std::io::ErrorKind::NotConnected, "this node is isolated (test partition)"),
        }
    }

    /// Dials `target` and authenticates both ways.
    pub async fn connect(&self, target: NodeId) -> Result<Conn> {
        let peer = self.label(target);
        if target == self.me {
            return Err(CoreError::ProtocolViolation { peer, detail: "a node never dials itself".into() });
        }
        let Some(addr) = self.addrs.get(&target) else {
            return Err(CoreError::invalid("cluster.nodes", format!("no node with id {target}")));
        };
        if self.is_isolated() {
            return Err(self.isolated_error(peer));
        }
        let stream = TcpStream::connect(addr).await.map_err(|e| CoreError::PeerIo { peer: peer.clone(), source: e })?;
        let mut conn = Conn::new(stream, peer.clone());
        let client_nonce = auth::new_nonce();
        conn.send(&Hello { version: PROTOCOL_VERSION, from: self.me, to: target, nonce: client_nonce }).await?;
        let (server_id, server_nonce, server_proof) =
            match conn.recv::<ServerHello>(HANDSHAKE_MAX_BYTES, HANDSHAKE_DEADLINE).await? {
                ServerHello::Challenge { node_id, nonce, proof } => (node_id, nonce, proof),
                ServerHello::Refused(r) => return Err(refused(peer, &r)),
            };
        if server_id != target {
            return Err(CoreError::ProtocolViolation {
                peer,
                detail: format!("answered as node {server_id}, expected node {target}: check cluster.nodes addresses"),
            });
        }
        let binding = Binding { client_id: self.me, server_id, client_nonce, server_nonce };
        if !auth::verify(&self.secret, Side::Server, &binding, &server_proof) {
            return Err(CoreError::ProtocolViolation {
                peer,
                detail: "did not prove the shared secret (cluster.auth_secret differs)".into(),
            });
        }
        conn.send(&ClientProof { proof: auth::proof(&self.secret, Side::Client, &binding) }).await?;
        match conn.recv::<Admission>(HANDSHAKE_MAX_BYTES, HANDSHAKE_DEADLINE).await? {
            Admission::Welcome => Ok(conn),
            Admission::Refused(r) => Err(refused(peer, &r)),
        }
    }

    /// Listening side of the handshake; returns the authenticated connection and the peer's id.
    pub async fn accept(&self, stream: TcpStream, remote: String) -> Result<(Conn, NodeId)> {
        let mut conn = Conn::new(stream, format!("controller peer at {remote}"));
        let hello: Hello = conn.recv(HANDSHAKE_MAX_BYTES, HANDSHAKE_DEADLINE).await?;
        let refusal = if hello.version != PROTOCOL_VERSION {
            Some(Refusal::Version { ours: PROTOCOL_VERSION, theirs: hello.version })
        } else if hello.to != self.me {
            Some(Refusal::WrongNode { dialed: hello.to, actual: self.me })
        } else if hello.from == self.me {
            Some(Refusal::SelfConnection { id: self.me })
        } else if !self.addrs.contains_key(&hello.from) {
            Some(Refusal::UnknownPeer { id: hello.from })
        } else {
            None
        };
        if let Some(r) = refusal {
            let err =
                CoreError::PeerRefused { peer: conn.peer().to_string(), code: r.code().into(), message: r.message() };
            let _ = conn.send(&ServerHello::Refused(r)).await;
            return Err(err);
        }
        conn.set_peer(format!("{} (from {remote})", self.label(hello.from)));
        let server_nonce = auth::new_nonce();
        let binding = Binding { client_id: hello.from, server_id: self.me, client_nonce: hello.nonce, server_nonce };
        let proof = auth::proof(&self.secret, Side::Server, &binding);
        conn.send(&ServerHello::Challenge { node_id: self.me, nonce: server_nonce, proof }).await?;
        let client: ClientProof = conn.recv(HANDSHAKE_MAX_BYTES, HANDSHAKE_DEADLINE).await?;
        if !auth::verify(&self.secret, Side::Client, &binding, &client.proof) {
            let r = Refusal::AuthFailed;
            let err =
                CoreError::PeerRefused { peer: conn.peer().to_string(), code: r.code().into(), message: r.message() };
            let _ = conn.send(&Admission::Refused(r)).await;
            return Err(err);
        }
        conn.send(&Admission::Welcome).await?;
        Ok((conn, hello.from))
    }

    /// One RPC on the connection kept in `slot` (dialing a new one if empty), all within
    /// `deadline`. The connection goes back into `slot` only if the RPC completed.
    pub async fn call(
        &self,
        slot: &mut Option<Conn>,
        target: NodeId,
        req: &Request,
        deadline: Duration,
    ) -> Result<Response> {
        let peer = self.label(target);
        if self.is_isolated() {
            *slot = None;
            return Err(self.isolated_error(peer));
        }
        let taken = slot.take();
        let work = async {
            let mut conn = match taken {
                Some(c) => c,
                None => self.connect(target).await?,
            };
            conn.send(req).await?;
            let resp: Response = conn.recv(MAX_MESSAGE_BYTES, deadline).await?;
            Ok::<_, CoreError>((conn, resp))
        };
        match tokio::time::timeout(deadline, work).await {
            Ok(Ok((conn, resp))) => {
                *slot = Some(conn);
                Ok(resp)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(CoreError::PeerTimeout { peer, after_ms: deadline.as_millis() as u64 }),
        }
    }

    /// One RPC on a fresh connection.
    pub async fn call_once(&self, target: NodeId, req: &Request, deadline: Duration) -> Result<Response> {
        let mut slot = None;
        self.call(&mut slot, target, req, deadline).await
    }
}

fn refused(peer: String, r: &Refusal) -> CoreError {
    CoreError::PeerRefused { peer, code: r.code().into(), message: r.message() }
}
