//! Mutual challenge-response authentication of controller connections (HMAC-SHA256).
//!
//! Invariant: the secret never crosses the wire; each side proves knowledge of it over both
//! nonces and both node ids, with a role tag, so a proof cannot be replayed on another connection,
//! reflected back to its sender, or moved to another pair of nodes. Proofs are compared in
//! constant time. Nonces come from [`crate::replication::auth::new_nonce`].

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use crate::replication::auth::new_nonce;
use crate::replication::frame::{NONCE_BYTES, PROOF_BYTES};

/// Domain separation from the replication protocol's proofs.
const CONTEXT: &[u8] = b"vectorizer-cluster-v1";

type HmacSha256 = Hmac<Sha256>;

/// Which side of the handshake a proof comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The node that accepted the connection.
    Server,
    /// The node that dialed.
    Client,
}

/// Everything a proof is bound to.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub client_id: u64,
    pub server_id: u64,
    pub client_nonce: [u8; NONCE_BYTES],
    pub server_nonce: [u8; NONCE_BYTES],
}

/// The proof `side` sends for this connection.
pub fn proof(secret: &[u8], side: Side, b: &Binding) -> [u8; PROOF_BYTES] {
    mac(secret, side, b).finalize().into_bytes().into()
}

/// Whether `proof` is the right proof of `side` (constant-time comparison).
pub fn verify(secret: &[u8], side: Side, b: &Binding, proof: &[u8; PROOF_BYTES]) -> bool {
    mac(secret, side, b).verify_slice(proof).is_ok()
}

fn mac(secret: &[u8], side: Side, b: &Binding) -> HmacSha256 {
    // HMAC accepts keys of any length, including empty.
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(CONTEXT);
    mac.update(match side {
        Side::Server => b"server",
        Side::Client => b"client",
    });
    mac.update(&b.client_id.to_le_bytes());
    mac.update(&b.server_id.to_le_bytes());
    mac.update(&b.client_nonce);
    mac.update(&b.server_nonce);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_are_bound_to_secret_side_ids_and_nonces() {
        let b = Binding { client_id: 1, server_id: 2, client_nonce: new_nonce(), server_nonce: new_nonce() };
        let p = proof(b"s", Side::Client, &b);
        assert!(verify(b"s", Side::Client, &b, &p));
        assert!(!verify(b"t", Side::Client, &b, &p), "secret");
        assert!(!verify(b"s", Side::Server, &b, &p), "reflection");
        assert!(!verify(b"s", Side::Client, &Binding { client_id: 3, ..b }, &p), "client id");
        assert!(!verify(b"s", Side::Client, &Binding { server_id: 3, ..b }, &p), "server id");
        assert!(!verify(b"s", Side::Client, &Binding { server_nonce: new_nonce(), ..b }, &p), "nonce");
    }
}
