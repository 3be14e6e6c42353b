//! Finding the `vectorizer` binary under test.
//!
//! Invariant: the binary is taken from `VECTORIZER_BIN` when set, else from the cargo target directory
//! the running test executable was built into; a missing binary is a panic that says how to build it.

use std::path::PathBuf;
use std::sync::OnceLock;

/// Environment variable naming the binary explicitly.
pub const BIN_ENV: &str = "VECTORIZER_BIN";

/// Path of the `vectorizer` binary (resolved once per test process).
#[track_caller]
pub fn vectorizer_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(locate) {
        Ok(path) => path.clone(),
        Err(message) => panic!("{message}"),
    }
}

fn locate() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(BIN_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{BIN_ENV}={} does not name a file", path.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate the test executable: {e}"))?;
    // Test executables live in target/<triple>/<profile>/deps/; binaries one level up.
    let mut tried = Vec::new();
    for dir in exe.ancestors().skip(1).take(3) {
        let candidate = dir.join("vectorizer");
        if candidate.is_file() {
            return Ok(candidate);
        }
        tried.push(candidate.display().to_string());
    }
    Err(format!(
        "the vectorizer binary was not found (looked at {}). Run `cargo build -p vectorizer-server` first, \
         or set {BIN_ENV} to its path.",
        tried.join(", ")
    ))
}
