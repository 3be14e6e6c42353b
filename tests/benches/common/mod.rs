//! Code shared by the product benchmarks (`e2e`, `replication`): a keep-alive HTTP client, the REST
//! calls they make, and measurement helpers for a shared machine.

pub mod api;
pub mod keepalive;
pub mod machine;
pub mod measure;
pub mod priority;
pub mod profile;
