//! Cross-process tests against the real `vectorizer` binary (build it first:
//! `cargo build -p vectorizer-server`, or set `VECTORIZER_BIN`).

mod bad_input;
mod cluster_mode;
mod common;
mod crud;
mod durability;
mod observability;
mod process;
mod proxy;
mod recall;
mod replication;
mod scheduling;
