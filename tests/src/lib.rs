//! Harness for cross-process tests (spawning `vectorizer` binaries, TCP fault proxy).
//!
//! (Being built.)
