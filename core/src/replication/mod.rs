//! Master/replica replication: protocol, master and replica sessions, stats and health.
//!
//! See `docs/REPLICATION.md` (user view) and `docs/dev/REPLICATION-DESIGN.md` (internal contracts).
//!
//! | file | job |
//! |---|---|
//! | `frame` | wire format of every message, bounded decoding |
//! | `conn` | framed, byte-counted TCP connections with deadlines |
//! | `auth` | HMAC challenge-response |
//! | `history` | epoch history and the partial-vs-full sync decision |
//! | `health` | status machine and lag definitions |
//! | `registry` | master: facts about every replica |
//! | `link` | replica: facts about the link to the master |
//! | `stats` | the v1.2.0 status document |
//! | `persist` | the state file (node id, role, history, counters) |
//! | `node` | the runtime: role changes, listener, client, ticks |
//! | `master/` | master sessions (handshake, full sync, stream, acks) |
//! | `replica/` | replica client (connect, sync, apply, ack) |

pub mod auth;
pub mod config;
pub mod conn;
pub mod frame;
pub mod health;
pub mod history;
pub mod link;
pub mod master;
pub mod node;
pub mod persist;
pub mod registry;
pub mod replica;
pub mod stats;
pub mod write_concern;

#[cfg(test)]
mod tests;

pub use config::ReplicationConfig;
pub use node::Replication;
pub use write_concern::WriteConcern;
