//! Vector storage and the HNSW graph of one collection.
//!
//! (Being built: see the contract in `docs/dev/CONTRACTS.md`, section "index".)
