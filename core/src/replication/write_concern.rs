//! Per-write durability: wait until a write's offset is durable on as many nodes as requested.
//!
//! Invariant: a node counts only when its live session acknowledged the offset as durable (the
//! replica acknowledges only fsynced offsets); the master counts itself because the write path
//! returns only after its own fsync. Membership is fixed, not "whoever is connected now": without a
//! cluster it is the master plus every replica it has ever registered, with a cluster the
//! configured voters; so losing replicas can never shrink a majority.

use std::time::{Duration, Instant};

use crate::error::{CoreError, Result};
use crate::replication::node::Shared;

/// How many nodes must hold a write before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteConcern {
    /// The master alone (the default, asynchronous replication).
    #[default]
    One,
    /// More than half of the voting nodes.
    Majority,
    /// Every voting node.
    All,
}

impl WriteConcern {
    /// Parses `1`, `majority` or `all`.
    pub fn parse(field: &str, text: &str) -> Result<Self> {
        match text {
            "1" => Ok(Self::One),
            "majority" => Ok(Self::Majority),
            "all" => Ok(Self::All),
            other => Err(CoreError::invalid(field, format!("expected 1, majority or all, got {other:?}"))),
        }
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::One => "1",
            Self::Majority => "majority",
            Self::All => "all",
        }
    }

    /// Nodes required out of `voters` (master included).
    pub fn required(self, voters: usize) -> usize {
        match self {
            Self::One => 1,
            Self::Majority => voters / 2 + 1,
            Self::All => voters,
        }
    }
}

/// Waits until `offset` is durable on the nodes `w` requires, or fails after `timeout` with
/// [`CoreError::WriteConcernTimeout`] saying how many it reached. `members` restricts the voting
/// replicas (cluster mode) and also fixes their number.
pub async fn wait(
    shared: &Shared,
    offset: u64,
    w: WriteConcern,
    timeout: Duration,
    members: Option<&[String]>,
) -> Result<()> {
    let voters = 1 + members.map_or_else(|| shared.registry.known(), <[String]>::len);
    let needed = w.required(voters);
    let started = Instant::now();
    let signal = shared.registry.ack_signal();
    loop {
        let notified = signal.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let reached = 1 + shared.registry.durable_at(offset, members);
        if reached >= needed {
            return Ok(());
        }
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
            let reached = 1 + shared.registry.durable_at(offset, members);
            if reached >= needed {
                return Ok(());
            }
            return Err(CoreError::WriteConcernTimeout {
                offset,
                w: w.as_str().to_owned(),
                needed,
                reached,
                timeout_ms: timeout.as_millis() as u64,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_counts() {
        assert_eq!(WriteConcern::One.required(3), 1);
        assert_eq!(WriteConcern::Majority.required(1), 1);
        assert_eq!(WriteConcern::Majority.required(2), 2);
        assert_eq!(WriteConcern::Majority.required(3), 2);
        assert_eq!(WriteConcern::Majority.required(4), 3);
        assert_eq!(WriteConcern::All.required(3), 3);
        assert!(WriteConcern::parse("w", "two").is_err());
        assert_eq!(WriteConcern::parse("w", "majority").expect("parse"), WriteConcern::Majority);
    }
}
