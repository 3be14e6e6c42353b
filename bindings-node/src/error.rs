//! Conversion of [`ClientError`] into a JavaScript `Error` with `code`, `status` and `master`.
//!
//! Invariant: every failure reaches JavaScript as an `Error` whose `code` is the error's stable
//! code (the server's code verbatim, or a client-side code such as `connection_failed`), whose
//! `status` is the HTTP status (or `null`), and whose `kind` names the SDK error class; the
//! class mapping is one exhaustive `match` (no wildcard).

use napi::bindgen_prelude::*;
use napi::sys;
use vectorizer_client::{ClientError, ErrorClass};

/// The SDK error class names, shared with the Python exception names (without the `Error` suffix).
fn kind(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::NotFound => "NotFound",
        ErrorClass::Conflict => "Conflict",
        ErrorClass::ReadOnlyReplica => "ReadOnlyReplica",
        ErrorClass::Validation => "Validation",
        ErrorClass::Connection => "Connection",
        ErrorClass::Timeout => "Timeout",
        ErrorClass::NoQuorum => "NoQuorum",
        ErrorClass::Server => "Server",
    }
}

/// Builds the JavaScript error object for `err` and returns it as a napi error that rejects
/// (or throws) with exactly that object.
///
/// # Safety
/// `env` must be the live environment of the current JavaScript thread.
pub(crate) unsafe fn js_error(env: sys::napi_env, err: &ClientError) -> Error {
    let env = Env::from_raw(env);
    let build = || -> Result<Error> {
        let mut obj = env.create_error(Error::new(Status::GenericFailure, err.to_string()))?;
        obj.set_named_property("code", err.code())?;
        obj.set_named_property("status", err.http_status().map(u32::from))?;
        obj.set_named_property("kind", kind(err.class()))?;
        obj.set_named_property("master", err.master_hint())?;
        Ok(Error::from(obj.to_unknown()))
    };
    build().unwrap_or_else(|failure| failure)
}
