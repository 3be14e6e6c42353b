//! Master/replica replication: protocol, master and replica sessions, stats and health.
//!
//! See `docs/REPLICATION.md` (user view) and `docs/dev/REPLICATION-DESIGN.md` (internal contracts).
//! Files: `frame` (wire format), `auth` (HMAC challenge-response), `history` (epoch history and the
//! partial-sync decision).

pub mod auth;
pub mod frame;
pub mod health;
pub mod history;
pub mod persist;
