//! The segmented operation log and snapshot files.
//!
//! (Being built: see the contract in `docs/dev/CONTRACTS.md`, section "storage".)
