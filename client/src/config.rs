//! Client configuration: endpoints, credentials, timeout, read routing and vector encoding.
//!
//! Invariant: a built [`ClientConfig`] holds at least one endpoint, each an absolute `http(s)` URL
//! without query or fragment, normalised to end without a trailing slash.

use std::time::Duration;

use reqwest::Url;

use crate::error::{ClientError, Result};
use crate::vector_encoding::VectorEncoding;

/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where reads (searches, gets, lists) are sent. Writes always go to the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadPreference {
    /// Every read goes to the master (read-your-writes).
    #[default]
    Master,
    /// Reads go to a replica (round robin) when one is known, else to the master.
    /// A replica may lag: reads can miss the newest writes.
    PreferReplica,
}

impl ReadPreference {
    /// Parses the names used by the bindings: `"master"` or `"prefer_replica"`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "master" => Ok(Self::Master),
            "prefer_replica" => Ok(Self::PreferReplica),
            other => Err(ClientError::InvalidArgument {
                argument: "read_preference",
                reason: format!("expected \"master\" or \"prefer_replica\", got {other:?}"),
            }),
        }
    }
}

/// Everything a [`crate::Client`] needs; build with [`ClientConfig::new`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub(crate) endpoints: Vec<Url>,
    pub(crate) api_key: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) read_preference: ReadPreference,
    pub(crate) vector_encoding: VectorEncoding,
}

impl ClientConfig {
    /// A configuration for one or more endpoints (`http://host:port`, any node of one cluster).
    pub fn new<I, S>(endpoints: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let endpoints = endpoints.into_iter().map(|e| parse_endpoint(e.as_ref())).collect::<Result<Vec<_>>>()?;
        if endpoints.is_empty() {
            return Err(ClientError::NoEndpoints);
        }
        Ok(Self {
            endpoints,
            api_key: None,
            timeout: DEFAULT_TIMEOUT,
            read_preference: ReadPreference::Master,
            vector_encoding: VectorEncoding::Array,
        })
    }

    /// Sends `Authorization: Bearer <key>` with every request.
    pub fn api_key(mut self, key: Option<String>) -> Self {
        self.api_key = key;
        self
    }

    /// Per-request timeout (connect + send + receive). Must be > 0.
    pub fn timeout(mut self, timeout: Duration) -> Result<Self> {
        if timeout.is_zero() {
            return Err(ClientError::InvalidArgument {
                argument: "timeout",
                reason: "must be greater than zero".into(),
            });
        }
        self.timeout = timeout;
        Ok(self)
    }

    /// Where reads are routed.
    pub fn read_preference(mut self, preference: ReadPreference) -> Self {
        self.read_preference = preference;
        self
    }

    /// How vectors are written in upsert and search bodies. Default [`VectorEncoding::Array`]
    /// (every server understands it); [`VectorEncoding::Base64`] costs the server far less CPU
    /// per vector but needs a server that accepts base64 vectors (older ones answer `malformed_json`).
    pub fn vector_encoding(mut self, encoding: VectorEncoding) -> Self {
        self.vector_encoding = encoding;
        self
    }

    /// The normalised endpoints, in the order given.
    pub fn endpoints(&self) -> Vec<String> {
        self.endpoints.iter().map(endpoint_name).collect()
    }
}

/// Parses `http://host:port` (a bare `host:port` gets `http://`).
pub(crate) fn parse_endpoint(raw: &str) -> Result<Url> {
    let trimmed = raw.trim();
    let with_scheme = if trimmed.contains("://") { trimmed.to_owned() } else { format!("http://{trimmed}") };
    let invalid = |reason: &str| ClientError::InvalidEndpoint { url: raw.to_owned(), reason: reason.to_owned() };
    let mut url = Url::parse(&with_scheme).map_err(|e| invalid(&e.to_string()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(invalid("scheme must be http or https"));
    }
    if url.host_str().is_none() {
        return Err(invalid("missing host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or fragment"));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

/// The endpoint as users wrote it, normalised (`http://127.0.0.1:6333`).
pub(crate) fn endpoint_name(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_normalised() {
        let cfg = ClientConfig::new(["127.0.0.1:1", "http://h:2/", "https://h:3/base/"]).expect("cfg");
        assert_eq!(cfg.endpoints(), ["http://127.0.0.1:1", "http://h:2", "https://h:3/base"]);
    }

    #[test]
    fn bad_endpoints_are_rejected() {
        assert!(matches!(ClientConfig::new(Vec::<String>::new()), Err(ClientError::NoEndpoints)));
        for bad in ["ftp://h:1", "http://", "http://h:1/?q=1"] {
            assert!(matches!(ClientConfig::new([bad]), Err(ClientError::InvalidEndpoint { .. })), "{bad}");
        }
    }

    #[test]
    fn zero_timeout_is_rejected() {
        let cfg = ClientConfig::new(["h:1"]).expect("cfg");
        assert!(cfg.timeout(Duration::ZERO).is_err());
    }
}
