//! Vectorizer server: configuration, the axum REST API and the CLI.
//!
//! (Being built: see `docs/dev/CONTRACTS.md`, section "server".)
