//! Waiting for a condition with a deadline instead of sleeping a fixed time.
//!
//! Invariant: a poll either returns the condition's value or panics naming what it waited for and how
//! long; the interval between attempts grows from 5 ms to 100 ms.

use std::time::{Duration, Instant};

/// Calls `check` until it returns `Some`, at most for `timeout`; panics with `what` on timeout.
#[track_caller]
pub fn poll_until<T>(timeout: Duration, what: &str, check: impl FnMut() -> Option<T>) -> T {
    match try_poll_until(timeout, check) {
        Some(value) => value,
        None => panic!("timed out after {timeout:?} waiting for: {what}"),
    }
}

/// Like [`poll_until`] but returns `None` on timeout.
pub fn try_poll_until<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
