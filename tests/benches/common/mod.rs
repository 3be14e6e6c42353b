//! Code shared by the product benchmarks (`e2e`, `replication`): a keep-alive HTTP client, the REST
//! calls they make, and measurement helpers for a shared machine.

pub mod api;
pub mod keepalive;
pub mod machine;
pub mod measure;
pub mod priority;
pub mod profile;

use vectorizer_tests::NodeOptions;

/// Environment variable with extra `KEY=VALUE` pairs (comma-separated) for every node a benchmark
/// starts, for experiments such as `BENCH_NODE_ENV=VECTORIZER__STORAGE__PREALLOCATE=false` (the
/// harness drops inherited `VECTORIZER__*` variables).
pub const NODE_ENV: &str = "BENCH_NODE_ENV";

/// The header line naming the pairs of [`NODE_ENV`], if set.
pub fn node_env_line() -> Option<String> {
    std::env::var(NODE_ENV).ok().map(|extra| format!("- node environment ({NODE_ENV}): {extra}"))
}

/// `opts` with the pairs of [`NODE_ENV`] added.
pub fn with_node_env(mut opts: NodeOptions) -> NodeOptions {
    for pair in std::env::var(NODE_ENV).unwrap_or_default().split(',').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or_else(|| panic!("{NODE_ENV}: {pair:?} is not KEY=VALUE"));
        opts = opts.env(key, value);
    }
    opts
}
