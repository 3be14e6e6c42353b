//! Harness for cross-process tests: real `vectorizer` binaries on loopback ports, a blocking HTTP
//! client, deadline polling and a TCP fault proxy.
//!
//! - [`binary`]: finds the binary under test (`VECTORIZER_BIN`, else next to the test executable;
//!   build it first with `cargo build -p vectorizer-server`).
//! - [`node`]: [`Node::start`] spawns `vectorizer serve` on a temporary data dir and port 0, waits for
//!   the ready line, captures stderr to a file; [`Node::kill9`], [`Node::terminate`],
//!   [`Node::restart`] (same data dir), plus helpers to damage data files.
//! - [`http`]: [`Http`], one request per connection, every failure an `io::Error`.
//! - [`poll`]: [`poll_until`] instead of fixed sleeps.
//! - [`proxy`]: [`Proxy`] with exact per-direction byte counters, delay, stall, cut, refuse and a
//!   one-shot byte corruption.
//! - [`cluster`]: replication clusters ([`ReplSettings::master`], [`ReplSettings::replica`],
//!   [`ReplSettings::replica_via_proxy`]), typed status reads, digest convergence waits, RSS.
//! - [`failover`]: cluster-mode clusters ([`failover::FailoverCluster`]) with every link between
//!   two nodes behind its own proxy (isolate a node, cut its replication), SIGSTOP / SIGCONT.
//!
//! Typical use:
//! ```no_run
//! use vectorizer_tests::{Node, NodeOptions};
//! let mut node = Node::start(NodeOptions::default().args(["--fsync", "always"]));
//! assert_eq!(node.http().get("/health").expect("health").status, 200);
//! node.kill9();
//! node.restart();
//! ```

pub mod binary;
pub mod cluster;
pub mod failover;
pub mod http;
pub mod node;
pub mod poll;
pub mod proxy;

pub use binary::vectorizer_bin;
pub use cluster::{ProxiedReplica, ReplSettings};
pub use http::{Http, Response};
pub use node::{Node, NodeOptions, StartFailure};
pub use poll::{poll_until, try_poll_until};
pub use proxy::{Direction, Proxy};
