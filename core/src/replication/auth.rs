//! Challenge-response authentication of replicas: HMAC-SHA256 over a fresh nonce.
//!
//! Invariant: the secret never crosses the wire; a proof is bound to one nonce and one replica id,
//! so a captured proof cannot be replayed on another connection; proofs are compared in constant
//! time.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::replication::frame::{NONCE_BYTES, PROOF_BYTES};

/// Domain separation so a proof cannot be confused with any other HMAC use of the same secret.
const CONTEXT: &[u8] = b"vectorizer-repl-v1";

type HmacSha256 = Hmac<Sha256>;

/// A fresh random nonce for one handshake.
pub fn new_nonce() -> [u8; NONCE_BYTES] {
    let mut nonce = [0u8; NONCE_BYTES];
    rand::rng().fill_bytes(&mut nonce);
    nonce
}

/// The proof a replica sends for `nonce`.
pub fn proof(secret: &[u8], nonce: &[u8; NONCE_BYTES], replica_id: &str) -> [u8; PROOF_BYTES] {
    mac(secret, nonce, replica_id).finalize().into_bytes().into()
}

/// Whether `proof` is right for `nonce` and `replica_id` (constant-time comparison).
pub fn verify(secret: &[u8], nonce: &[u8; NONCE_BYTES], replica_id: &str, proof: &[u8; PROOF_BYTES]) -> bool {
    mac(secret, nonce, replica_id).verify_slice(proof).is_ok()
}

fn mac(secret: &[u8], nonce: &[u8; NONCE_BYTES], replica_id: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, including empty.
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(CONTEXT);
    mac.update(nonce);
    mac.update(replica_id.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_secret_verifies_wrong_ones_do_not() {
        let nonce = new_nonce();
        let p = proof(b"s3cret", &nonce, "r1");
        assert!(verify(b"s3cret", &nonce, "r1", &p));
        assert!(!verify(b"other", &nonce, "r1", &p));
        assert!(!verify(b"s3cret", &nonce, "r2", &p), "bound to the replica id");
        assert!(!verify(b"s3cret", &new_nonce(), "r1", &p), "bound to the nonce");
        assert!(!verify(b"", &nonce, "r1", &p));
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(new_nonce(), new_nonce());
    }
}
