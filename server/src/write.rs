//! The write path of every REST write: the cluster lease gate, the engine write, and the
//! per-request durability `?w=1|majority|all&timeout_ms=N`.
//!
//! Invariants:
//! - In cluster mode a master without a valid controller lease answers 503 `no_quorum` and
//!   writes nothing; with `w` above 1 the lease is checked again before acknowledging, so a
//!   write is never acknowledged at majority by a master that may already have been replaced.
//! - A `w` above 1 answers only after that many voting nodes (this master included) hold the
//!   write durable, or 504 `write_concern_timeout` saying how many did (the write itself stays
//!   applied on the nodes that have it).
//! - Bad query parameters are a 400 naming the parameter, checked before anything is written.
//! - A write whose request body is at most [`INLINE_WRITE_MAX_BODY_BYTES`] is validated, appended
//!   and applied on the async worker that parsed it, when the engine's writer lock is free and the
//!   append does not close a log segment (`Engine::try_commit_nowait`); otherwise, and for larger
//!   bodies, the commit runs on the blocking pool. Every write then awaits its fsync (`fsync:
//!   always`) without holding a thread: one waiter leads each fsync on the blocking pool, the others
//!   wait on a `Notify` (group commit). Either way the write is acknowledged only once durable.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use vectorizer_core::CoreError;
use vectorizer_core::engine::{AppliedWrite, Engine, NodeRole, NowaitCommit, PreparedWrite};
use vectorizer_core::replication::write_concern::{self, WriteConcern};
use vectorizer_sdk_types::{ErrorCode, WriteResponse};

use crate::error::ApiError;
use crate::state::AppState;

/// Largest request body whose write runs on the async worker (see the module invariants). The
/// validation and encoding it takes cost less than parsing the body did, and the append writes a
/// log record of about that size to the page cache. The same bound as a replica's inline applies.
pub const INLINE_WRITE_MAX_BODY_BYTES: usize = 64 * 1024;

/// Largest accepted `timeout_ms`.
pub const MAX_WRITE_TIMEOUT_MS: u64 = 300_000;

/// `?w=` and `?timeout_ms=` of a write request (defaults from `replication.default_w` and
/// `replication.write_timeout_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    pub w: WriteConcern,
    pub timeout: Duration,
}

impl WriteOptions {
    /// Parses the query string of a write route; `defaults` fill what is absent.
    pub fn parse(query: Option<&str>, defaults: WriteOptions) -> Result<Self, ApiError> {
        let mut opts = defaults;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "w" => {
                    opts.w = WriteConcern::parse("w", value).map_err(ApiError::from)?;
                }
                "timeout_ms" => {
                    let ms =
                        value.parse::<u64>().ok().filter(|ms| (1..=MAX_WRITE_TIMEOUT_MS).contains(ms)).ok_or_else(
                            || {
                                ApiError::from(CoreError::invalid(
                                    "timeout_ms",
                                    format!("expected an integer in 1..={MAX_WRITE_TIMEOUT_MS}, got {value:?}"),
                                ))
                            },
                        )?;
                    opts.timeout = Duration::from_millis(ms);
                }
                other => {
                    return Err(ApiError::from(CoreError::invalid(
                        other,
                        "unknown query parameter (write routes accept w and timeout_ms)",
                    )));
                }
            }
        }
        Ok(opts)
    }
}

/// The query parameters of a write route as the OpenAPI document describes them (documentation
/// only: requests are parsed by [`WriteOptions::parse`], which also refuses unknown parameters).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by the OpenAPI derive, never constructed
pub struct WriteQuery {
    /// Durability: `1` (default), `majority` or `all` voting nodes hold the write durable before the answer
    w: Option<String>,
    /// How long to wait for `w` (1..=300000, default `replication.write_timeout_ms`)
    timeout_ms: Option<u64>,
}

impl FromRequestParts<AppState> for WriteOptions {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Self::parse(parts.uri.query(), state.write_defaults)
    }
}

/// Where a write may run: see the module invariants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePlace {
    /// Try the async worker first (a body of at most [`INLINE_WRITE_MAX_BODY_BYTES`]).
    InlineIfFree,
    /// The blocking pool.
    Blocking,
}

impl WritePlace {
    /// The place for a write whose request body is `body_len` bytes.
    pub fn for_body(body_len: usize) -> Self {
        if body_len <= INLINE_WRITE_MAX_BODY_BYTES { Self::InlineIfFree } else { Self::Blocking }
    }
}

/// Runs the write that `prepare` validates under the lease gate, and waits for the requested
/// durability.
pub async fn write<F>(
    state: &AppState,
    opts: WriteOptions,
    place: WritePlace,
    prepare: F,
) -> Result<WriteResponse, ApiError>
where
    F: FnOnce(&Engine) -> Result<PreparedWrite, CoreError> + Send + 'static,
{
    check_lease(state)?;
    let applied = match place {
        WritePlace::InlineIfFree => commit_inline_if_free(state, prepare).await?,
        WritePlace::Blocking => state.run(move |engine| engine.commit_applied(prepare(engine)?)).await?,
    };
    let written = state.engine.finish_write_async(applied).await.map_err(ApiError::from)?;
    if opts.w == WriteConcern::One {
        return Ok(written);
    }
    let Some(replication) = &state.replication else {
        // A single node without replication: it is every voter there is.
        return Ok(written);
    };
    let members = state.cluster_members.as_deref();
    write_concern::wait(replication.shared(), written.offset, opts.w, opts.timeout, members).await?;
    check_lease(state)?;
    Ok(written)
}

/// Validates, appends and applies on this worker when nothing would block; a write that could not
/// be committed without waiting is committed on the blocking pool instead.
async fn commit_inline_if_free<F>(state: &AppState, prepare: F) -> Result<AppliedWrite, ApiError>
where
    F: FnOnce(&Engine) -> Result<PreparedWrite, CoreError> + Send + 'static,
{
    match state.run_inline(|engine| Ok(engine.try_commit_nowait(prepare(engine)?)))? {
        NowaitCommit::Applied(applied) => Ok(applied),
        NowaitCommit::Failed(e) => Err(ApiError::from(e)),
        NowaitCommit::WouldBlock(prepared) => state.run(move |engine| engine.commit_applied(prepared)).await,
    }
}

/// Cluster mode, on the master: 503 `no_quorum` unless the controller lease is valid.
fn check_lease(state: &AppState) -> Result<(), ApiError> {
    let Some(controller) = &state.cluster else { return Ok(()) };
    if state.engine.role() == NodeRole::Master && !controller.may_accept_writes() {
        return Err(ApiError::new(
            ErrorCode::NoQuorum,
            "this master holds no valid lease from the cluster controller (it cannot reach a controller majority, \
             or a master change is in progress); the write was not acknowledged — retry, or ask GET /api/v1/cluster \
             for the current master",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: WriteOptions = WriteOptions { w: WriteConcern::One, timeout: Duration::from_secs(5) };

    #[test]
    fn parses_w_and_timeout() {
        assert_eq!(WriteOptions::parse(None, DEFAULTS).expect("none"), DEFAULTS);
        let o = WriteOptions::parse(Some("w=majority&timeout_ms=250"), DEFAULTS).expect("parse");
        assert_eq!(o, WriteOptions { w: WriteConcern::Majority, timeout: Duration::from_millis(250) });
        assert_eq!(WriteOptions::parse(Some("w=all"), DEFAULTS).expect("all").w, WriteConcern::All);
    }

    #[test]
    fn bad_parameters_name_the_field() {
        for (query, field) in [
            ("w=2", "w"),
            ("timeout_ms=0", "timeout_ms"),
            ("timeout_ms=abc", "timeout_ms"),
            ("timeout_ms=300001", "timeout_ms"),
            ("wait=1", "wait"),
        ] {
            let err = WriteOptions::parse(Some(query), DEFAULTS).expect_err(query);
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{query}");
            assert!(err.message.starts_with(field), "{query}: {}", err.message);
        }
    }
}
