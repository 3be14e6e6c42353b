//! Replica health: the status machine and the lag definitions, as pure functions of measured facts.
//!
//! Invariant: status and lag are *derived* when read from facts recorded as they happen (link up,
//! sync in progress, last frame received, acknowledged offset, append time of an op) — never
//! stored guesses. The same functions serve the REST API, `/metrics` and the transition logger, so
//! every view of a replica agrees.

use std::time::Duration;

use vectorizer_sdk_types::ReplicaStatus;

/// Thresholds of the status machine (all configurable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthConfig {
    /// Lag above this makes a streaming replica `Lagging`.
    pub lagging_threshold: Duration,
    /// No frame from the peer for this long makes it `Disconnected` (and the link is closed).
    pub disconnect_timeout: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self { lagging_threshold: Duration::from_millis(1000), disconnect_timeout: Duration::from_secs(60) }
    }
}

/// Facts about one replication link at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkFacts {
    /// A TCP session is established and authenticated.
    pub link_up: bool,
    /// A full or partial sync has started and not completed.
    pub syncing: bool,
    /// Wall-clock ms of the last frame received from the peer (0 = never).
    pub last_heard_ms: u64,
    /// Current lag in ms (see [`master_view_lag_ms`] / [`replica_view_lag_ms`]).
    pub lag_ms: u64,
}

/// The spec's status machine: Disconnected > Syncing > Lagging > Connected.
pub fn status(facts: LinkFacts, now_ms: u64, cfg: &HealthConfig) -> ReplicaStatus {
    let silent_for = now_ms.saturating_sub(facts.last_heard_ms);
    if !facts.link_up || silent_for > cfg.disconnect_timeout.as_millis() as u64 {
        ReplicaStatus::Disconnected
    } else if facts.syncing {
        ReplicaStatus::Syncing
    } else if facts.lag_ms > cfg.lagging_threshold.as_millis() as u64 {
        ReplicaStatus::Lagging
    } else {
        ReplicaStatus::Connected
    }
}

/// Master's view of a replica's lag: 0 when it acknowledged the master's last offset, else the age
/// (master clock) of the oldest operation it has not acknowledged.
/// `oldest_unacked_append_ms` is the append timestamp of record `acked + 1`.
pub fn master_view_lag_ms(acked: u64, master_last: u64, oldest_unacked_append_ms: Option<u64>, now_ms: u64) -> u64 {
    if acked >= master_last {
        return 0;
    }
    oldest_unacked_append_ms.map_or(0, |t| now_ms.saturating_sub(t))
}

/// Replica's own lag: time since the last instant it was known to be caught up with its master
/// (`None` = never caught up since it first connected: lag counts from `since_ms`).
pub fn replica_view_lag_ms(caught_up_at_ms: Option<u64>, since_ms: u64, now_ms: u64, caught_up_now: bool) -> u64 {
    if caught_up_now {
        return 0;
    }
    now_ms.saturating_sub(caught_up_at_ms.unwrap_or(since_ms))
}

/// Whether a status counts toward `connected_replicas` and the active set (acks for write concern).
pub fn is_active(status: ReplicaStatus) -> bool {
    status != ReplicaStatus::Disconnected
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: HealthConfig =
        HealthConfig { lagging_threshold: Duration::from_millis(1000), disconnect_timeout: Duration::from_secs(60) };

    fn facts(link_up: bool, syncing: bool, last_heard_ms: u64, lag_ms: u64) -> LinkFacts {
        LinkFacts { link_up, syncing, last_heard_ms, lag_ms }
    }

    #[test]
    fn status_machine_follows_the_spec() {
        let now = 100_000;
        assert_eq!(status(facts(true, false, now - 10_000, 5), now, &CFG), ReplicaStatus::Connected);
        assert_eq!(
            status(facts(true, false, now, 1000), now, &CFG),
            ReplicaStatus::Connected,
            "threshold is exclusive"
        );
        assert_eq!(status(facts(true, false, now, 1001), now, &CFG), ReplicaStatus::Lagging);
        assert_eq!(status(facts(true, true, now, 50_000), now, &CFG), ReplicaStatus::Syncing);
        assert_eq!(status(facts(false, false, now, 0), now, &CFG), ReplicaStatus::Disconnected);
        assert_eq!(status(facts(true, false, now - 60_000, 0), now, &CFG), ReplicaStatus::Connected);
        assert_eq!(status(facts(true, false, now - 60_001, 0), now, &CFG), ReplicaStatus::Disconnected);
        assert!(!is_active(ReplicaStatus::Disconnected));
        assert!(is_active(ReplicaStatus::Lagging));
    }

    #[test]
    fn master_lag_is_age_of_oldest_unacked_op() {
        assert_eq!(master_view_lag_ms(10, 10, Some(1), 5_000), 0);
        assert_eq!(master_view_lag_ms(9, 10, Some(4_000), 5_000), 1_000);
        assert_eq!(master_view_lag_ms(12, 10, None, 5_000), 0, "acked beyond last (after restart) is caught up");
    }

    #[test]
    fn replica_lag_grows_from_last_caught_up_instant() {
        assert_eq!(replica_view_lag_ms(Some(1_000), 0, 1_000, true), 0);
        assert_eq!(replica_view_lag_ms(Some(1_000), 0, 4_000, false), 3_000);
        assert_eq!(replica_view_lag_ms(Some(1_000), 0, 9_000, false), 8_000, "keeps growing");
        assert_eq!(replica_view_lag_ms(None, 2_000, 2_500, false), 500);
    }
}
