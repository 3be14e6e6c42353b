//! Conversions between JavaScript values and the wire types.
//!
//! Invariants: results reach JavaScript as plain objects produced by serialising the typed
//! `vectorizer_sdk_types` value (so their shape is exactly the generated `types.d.ts`: snake_case
//! fields, `null` where the wire has null, unknown fields dropped); arguments are plain objects
//! deserialised into the wire request types (a mismatch is an `invalid_argument` error).

use napi::bindgen_prelude::*;
use napi::sys;
use serde::Serialize;
use serde::de::DeserializeOwned;
use vectorizer_client::{ClientError, invalid_argument};

use crate::error::js_error;

/// The outcome of one client call, converted to a resolved value or a rejection on the JS thread.
pub struct Reply<T>(pub std::result::Result<T, ClientError>);

impl<T: Serialize> ToNapiValue for Reply<T> {
    unsafe fn to_napi_value(env: sys::napi_env, reply: Self) -> Result<sys::napi_value> {
        match reply.0 {
            Ok(value) => {
                let json = serde_json::to_value(value)
                    .map_err(|e| Error::new(Status::GenericFailure, format!("serialising a result: {e}")))?;
                // SAFETY: called by napi on the JS thread with its live env.
                unsafe { serde_json::Value::to_napi_value(env, json) }
            }
            // SAFETY: as above.
            Err(err) => Err(unsafe { js_error(env, &err) }),
        }
    }
}

impl<T> TypeName for Reply<T> {
    fn type_name() -> &'static str {
        "Reply"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

/// Deserialises a JS argument (already converted to JSON) into a wire request type.
pub(crate) fn from_js<T: DeserializeOwned>(
    argument: &'static str,
    value: serde_json::Value,
) -> std::result::Result<T, ClientError> {
    serde_json::from_value(value).map_err(|e| invalid_argument(argument, e.to_string()))
}
