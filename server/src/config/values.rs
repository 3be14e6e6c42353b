//! Leaf value types of the configuration and their parsers.
//!
//! Invariant: every value can be given either in its natural TOML type or as a string (environment
//! variables and CLI flags are always strings), and every rejection message states the expected form
//! and the value that was given, so the caller only has to prefix the key.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

use serde::de::{self, Deserializer, Visitor};
use vectorizer_core::storage::FsyncPolicy;

/// `storage.fsync`: `"always"`, `"os"` or `"every_ms:N"` (N >= 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsyncSetting(pub FsyncPolicy);

impl FsyncSetting {
    /// Parses the textual form; the error is the message shown after the key.
    pub fn parse(text: &str) -> Result<Self, String> {
        let expected = || format!(r#"expected "always", "os" or "every_ms:N" (N >= 1), got {text:?}"#);
        match text {
            "always" => Ok(Self(FsyncPolicy::Always)),
            "os" => Ok(Self(FsyncPolicy::Os)),
            _ => {
                let ms = text.strip_prefix("every_ms:").ok_or_else(expected)?;
                match ms.parse::<u64>() {
                    Ok(n) if n >= 1 => Ok(Self(FsyncPolicy::EveryMs(n))),
                    _ => Err(expected()),
                }
            }
        }
    }
}

impl fmt::Display for FsyncSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            FsyncPolicy::Always => f.write_str("always"),
            FsyncPolicy::Os => f.write_str("os"),
            FsyncPolicy::EveryMs(n) => write!(f, "every_ms:{n}"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for FsyncSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = d.deserialize_any(TextVisitor)?;
        Self::parse(&text).map_err(de::Error::custom)
    }
}

/// `log.format`: how log lines on stderr look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(format!(r#"expected "text" or "json", got {text:?}"#)),
        }
    }
}

impl<'de> serde::Deserialize<'de> for LogFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = d.deserialize_any(TextVisitor)?;
        Self::parse(&text).map_err(de::Error::custom)
    }
}

/// A listen address: `IP:PORT` (port 0 = ephemeral) or `HOSTNAME:PORT` resolved at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddr(pub SocketAddr);

impl ListenAddr {
    /// Parses `IP:PORT`, else resolves `HOST:PORT` and takes the first address.
    pub fn parse(text: &str) -> Result<Self, String> {
        let expected =
            || format!("expected an address like \"127.0.0.1:15002\" (port 0 = any free port), got {text:?}");
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(Self(addr));
        }
        // Only try name resolution for something shaped like host:port.
        if !text.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok()) {
            return Err(expected());
        }
        match text.to_socket_addrs() {
            Ok(mut addrs) => addrs.next().map(Self).ok_or_else(expected),
            Err(e) => Err(format!("{}: {e}", expected())),
        }
    }
}

impl<'de> serde::Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = d.deserialize_any(TextVisitor)?;
        Self::parse(&text).map_err(de::Error::custom)
    }
}

/// A peer address `host:port` (port 1..=65535), kept as text: it is resolved when connecting, so a
/// name may point somewhere else later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort(pub String);

impl HostPort {
    /// Checks the `host:port` shape.
    pub fn parse(text: &str) -> Result<Self, String> {
        let ok = text.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty()
                && !host.chars().any(char::is_whitespace)
                && port.parse::<u16>().is_ok_and(|p| p != 0)
                && !port.starts_with('+')
        });
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!("expected host:port with a port in 1..=65535 (e.g. \"10.0.0.5:7001\"), got {text:?}"))
        }
    }
}

/// A secret: never shown by `Debug` (configuration values end up in logs and panics).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// An optional `true`/`false` (TOML boolean or string).
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    d.deserialize_any(BoolVisitor).map(Some)
}

/// A `true`/`false` (TOML boolean or string).
pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    d.deserialize_any(BoolVisitor)
}

/// An optional [`u64`].
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    d.deserialize_any(U64Visitor).map(Some)
}

/// An optional string.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(TextVisitor).map(Some)
}

/// An optional listen address.
pub fn opt_listen_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ListenAddr>, D::Error> {
    let text = d.deserialize_any(TextVisitor)?;
    ListenAddr::parse(&text).map(Some).map_err(de::Error::custom)
}

/// An optional `host:port`.
pub fn opt_host_port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<HostPort>, D::Error> {
    let text = d.deserialize_any(TextVisitor)?;
    HostPort::parse(&text).map(Some).map_err(de::Error::custom)
}

/// An optional non-empty secret.
pub fn opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    let text = d.deserialize_any(TextVisitor)?;
    if text.is_empty() {
        return Err(de::Error::custom("expected a non-empty secret, got an empty string"));
    }
    Ok(Some(Secret(text)))
}

/// A string value (never a number or table).
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(TextVisitor)
}

/// A filesystem path (given as a string).
pub fn path<'de, D: Deserializer<'de>>(d: D) -> Result<std::path::PathBuf, D::Error> {
    d.deserialize_any(TextVisitor).map(std::path::PathBuf::from)
}

/// A non-negative integer, given as a TOML integer or a string of digits.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(U64Visitor)
}

/// Like [`u64`], for counts that index memory.
pub fn usize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v = d.deserialize_any(U64Visitor)?;
    usize::try_from(v).map_err(|_| de::Error::custom(format!("expected a non-negative integer, got {v} (too large)")))
}

struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Err(E::custom(format!("expected a string, got the number {v}")))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Err(E::custom(format!("expected a string, got the number {v}")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Err(E::custom(format!("expected a string, got the number {v}")))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Err(E::custom(format!("expected a string, got {v}")))
    }
}

struct BoolVisitor;

impl Visitor<'_> for BoolVisitor {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("true or false")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        match v.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(E::custom(format!("expected true or false, got {v:?}"))),
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        Err(E::custom(format!("expected true or false, got the number {v}")))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        Err(E::custom(format!("expected true or false, got the number {v}")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        Err(E::custom(format!("expected true or false, got the number {v}")))
    }
}

struct U64Visitor;

impl Visitor<'_> for U64Visitor {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative integer")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("expected a non-negative integer, got {v}")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        Err(E::custom(format!("expected a non-negative integer, got {v}")))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<u64, E> {
        Err(E::custom(format!("expected a non-negative integer, got {v}")))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        v.trim().parse::<u64>().map_err(|_| E::custom(format!("expected a non-negative integer, got {v:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_forms() {
        assert_eq!(FsyncSetting::parse("always"), Ok(FsyncSetting(FsyncPolicy::Always)));
        assert_eq!(FsyncSetting::parse("os"), Ok(FsyncSetting(FsyncPolicy::Os)));
        assert_eq!(FsyncSetting::parse("every_ms:25"), Ok(FsyncSetting(FsyncPolicy::EveryMs(25))));
        for bad in ["sometimes", "every_ms:", "every_ms:0", "every_ms:-3", "every_ms:x", "ALWAYS"] {
            let err = FsyncSetting::parse(bad).expect_err(bad);
            assert!(err.contains(r#""always", "os" or "every_ms:N""#) && err.contains(&format!("{bad:?}")), "{err}");
        }
        assert_eq!(FsyncSetting(FsyncPolicy::EveryMs(7)).to_string(), "every_ms:7");
    }

    #[test]
    fn host_port_forms() {
        for good in ["127.0.0.1:7001", "node-2.internal:1", "[::1]:65535"] {
            assert_eq!(HostPort::parse(good), Ok(HostPort(good.to_owned())), "{good}");
        }
        for bad in ["127.0.0.1", ":7001", "h:0", "h:65536", "h:+5", "a b:1", "h:x", ""] {
            let err = HostPort::parse(bad).expect_err(bad);
            assert!(err.starts_with("expected host:port") && err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn secrets_are_not_printed() {
        let s = Secret("hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn listen_addr_forms() {
        assert_eq!(ListenAddr::parse("127.0.0.1:0").map(|a| a.0.port()), Ok(0));
        assert!(ListenAddr::parse("[::1]:15002").is_ok());
        assert!(ListenAddr::parse("localhost:0").is_ok());
        for bad in ["127.0.0.1", "127.0.0.1:99999", ":80", "nonsense"] {
            let err = ListenAddr::parse(bad).expect_err(bad);
            assert!(err.contains("expected an address"), "{err}");
        }
    }
}
