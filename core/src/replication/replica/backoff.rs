//! Reconnect delays: exponential between `reconnect_min` and `reconnect_max`, with jitter.
//!
//! Invariant: every delay lies in `[min, max]`; the ceiling doubles after each failed attempt
//! (until `max`) and returns to `min` after a session that passed the handshake. The jitter draws
//! each delay from the upper half of the current ceiling, so replicas that lost the same master
//! at the same moment spread their reconnects without ever retrying faster than `min`.

use std::time::Duration;

use rand::Rng;

/// The delay sequence of one replication client.
#[derive(Debug, Clone)]
pub(super) struct Backoff {
    min: Duration,
    max: Duration,
    ceiling: Duration,
}

impl Backoff {
    /// A sequence between `min` and `max` (`max` below `min` is treated as `min`).
    pub(super) fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Self { min, max, ceiling: min }
    }

    /// The delay before the next attempt; doubles the ceiling for the one after.
    pub(super) fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling;
        self.ceiling = (ceiling * 2).min(self.max);
        let low = (ceiling / 2).max(self.min);
        if low >= ceiling {
            return ceiling;
        }
        let nanos = rand::rng().random_range(low.as_nanos()..=ceiling.as_nanos());
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Back to the shortest delay (after a session that got through the handshake).
    pub(super) fn reset(&mut self) {
        self.ceiling = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_within_bounds_and_reset() {
        let (min, max) = (Duration::from_millis(50), Duration::from_secs(2));
        let mut b = Backoff::new(min, max);
        let delays: Vec<Duration> = (0..12).map(|_| b.next_delay()).collect();
        assert_eq!(delays[0], min, "the first retry waits the minimum");
        for (i, d) in delays.iter().enumerate() {
            let ceiling = (min * 2u32.pow(i as u32)).min(max);
            assert!(*d >= min && *d <= max, "delay {i} = {d:?}");
            assert!(*d <= ceiling && *d >= (ceiling / 2).max(min), "delay {i} = {d:?}, ceiling {ceiling:?}");
        }
        assert!(delays[11] >= max / 2, "the ceiling reached the maximum");
        b.reset();
        assert_eq!(b.next_delay(), min);
    }

    #[test]
    fn inverted_bounds_use_the_minimum() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(10));
        assert_eq!(b.next_delay(), Duration::from_millis(100));
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }
}
