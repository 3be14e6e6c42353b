//! Integration tests of the Rust client: fixture parsing (migration), routing against scripted
//! loopback servers, and live tests against real `vectorizer` processes (`VECTORIZER_BIN`).

mod cluster;
mod fixtures;
mod live;
mod routing;
mod support;
