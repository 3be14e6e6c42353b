//! One `Router` per resource; [`crate::app::app`] merges them.
//!
//! Invariant: handlers only parse the request, call one engine operation through
//! [`crate::state::AppState::run`] and map the result; no business rule lives here.

pub mod admin;
pub mod collections;
pub mod health;
pub mod points;
pub mod replication;
pub mod search;
pub mod snapshots;
