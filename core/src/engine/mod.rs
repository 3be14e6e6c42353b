//! Collections in memory, the write path, search, snapshots and recovery.
//!
//! (Being built: see the contract in `docs/dev/CONTRACTS.md`, section "engine".)
