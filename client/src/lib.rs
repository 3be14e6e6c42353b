//! Async Rust client for the Vectorizer REST API.
//!
//! (Being built: see `docs/dev/CONTRACTS.md`, section "client".)
