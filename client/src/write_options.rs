//! Per-write durability: the `?w=1|majority|all&timeout_ms=N` query every write route accepts.
//!
//! Invariants: only options that are set reach the query string (unset ones keep the server's
//! configured defaults, and a call without options sends exactly what older clients sent);
//! `timeout_ms` is checked against the server's bounds before anything is sent; a request that
//! carries `timeout_ms` may take that much longer than the client's timeout, so the server's own
//! `write_concern_timeout` answer (which says how many nodes hold the write) arrives before the
//! client gives up.

use std::time::Duration;

use crate::error::{ClientError, Result};
use crate::transport::RequestOptions;

/// Largest `timeout_ms` the server accepts (`1..=300000`).
pub const MAX_WRITE_TIMEOUT_MS: u64 = 300_000;

/// How many voting nodes (the master included) must hold a write durable before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteConcern {
    /// The master alone (the server's usual default: asynchronous replication).
    One,
    /// More than half of the voting nodes.
    Majority,
    /// Every voting node.
    All,
}

impl WriteConcern {
    /// Parses the wire spelling: `"1"`, `"majority"` or `"all"`.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "1" => Ok(Self::One),
            "majority" => Ok(Self::Majority),
            "all" => Ok(Self::All),
            other => Err(ClientError::InvalidArgument {
                argument: "w",
                reason: format!("expected 1, \"majority\" or \"all\", got {other:?}"),
            }),
        }
    }

    /// The wire spelling (`1`, `majority`, `all`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::One => "1",
            Self::Majority => "majority",
            Self::All => "all",
        }
    }
}

/// Options of one write (`create_collection_with`, `delete_collection_with`, `upsert_with`,
/// `delete_with`). `WriteOptions::default()` sends neither parameter.
///
/// The write is acknowledged once `w` voting nodes hold it durable; if that does not happen
/// within `timeout_ms` the call fails with `write_concern_timeout` (HTTP 504) — the write itself
/// stays applied on the nodes that have it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// `?w=`; `None` keeps the server's `replication.default_w`.
    pub w: Option<WriteConcern>,
    /// `?timeout_ms=` (1..=300000); `None` keeps the server's `replication.write_timeout_ms`.
    pub timeout_ms: Option<u64>,
}

impl WriteOptions {
    /// Requests write concern `w`.
    pub fn w(mut self, w: WriteConcern) -> Self {
        self.w = Some(w);
        self
    }

    /// Waits at most `ms` milliseconds for the write concern (checked when the write is sent).
    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// The query parameters and extra request time, or `invalid_argument` naming `timeout_ms`.
    pub(crate) fn to_request(self) -> Result<RequestOptions> {
        let mut options = RequestOptions::default();
        if let Some(w) = self.w {
            options.query.push(("w", w.as_str().to_owned()));
        }
        if let Some(ms) = self.timeout_ms {
            if !(1..=MAX_WRITE_TIMEOUT_MS).contains(&ms) {
                return Err(ClientError::InvalidArgument {
                    argument: "timeout_ms",
                    reason: format!("expected an integer in 1..={MAX_WRITE_TIMEOUT_MS}, got {ms}"),
                });
            }
            options.query.push(("timeout_ms", ms.to_string()));
            options.extra_timeout = Duration::from_millis(ms);
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sends_nothing() {
        let options = WriteOptions::default().to_request().expect("default");
        assert!(options.query.is_empty());
        assert_eq!(options.extra_timeout, Duration::ZERO);
    }

    #[test]
    fn set_options_become_query_pairs_and_extra_time() {
        let options = WriteOptions::default().w(WriteConcern::Majority).timeout_ms(250).to_request().expect("ok");
        assert_eq!(options.query, [("w", "majority".to_owned()), ("timeout_ms", "250".to_owned())]);
        assert_eq!(options.extra_timeout, Duration::from_millis(250));
        let only_w = WriteOptions::default().w(WriteConcern::One).to_request().expect("ok");
        assert_eq!(only_w.query, [("w", "1".to_owned())]);
    }

    #[test]
    fn out_of_range_timeouts_name_timeout_ms() {
        for ms in [0, MAX_WRITE_TIMEOUT_MS + 1] {
            let err = WriteOptions::default().timeout_ms(ms).to_request().expect_err("out of range");
            assert!(matches!(err, ClientError::InvalidArgument { argument: "timeout_ms", .. }), "{err}");
        }
        assert!(WriteOptions::default().timeout_ms(MAX_WRITE_TIMEOUT_MS).to_request().is_ok());
    }

    #[test]
    fn write_concern_round_trips_its_wire_spelling() {
        for w in [WriteConcern::One, WriteConcern::Majority, WriteConcern::All] {
            assert_eq!(WriteConcern::parse(w.as_str()).expect("parse"), w);
        }
        for bad in ["2", "MAJORITY", "", "0"] {
            let err = WriteConcern::parse(bad).expect_err(bad);
            assert!(matches!(err, ClientError::InvalidArgument { argument: "w", .. }), "{err}");
        }
    }
}
