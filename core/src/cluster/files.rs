//! Durable small files of the controller (`<data_dir>/cluster/`).
//!
//! Invariant: a file written with [`write_atomic`] holds, after any crash, either its previous or
//! its new content — never a mix: the bytes go to a temporary file that is fsynced, renamed over
//! the target, and the directory is fsynced so the rename itself is durable. Reads are bounded.
//! These functions block: async callers run them in `spawn_blocking`.

use std::io::Write;
use std::path::Path;

use crate::error::{CoreError, Result};

/// Replaces `dir/name` atomically and durably with `bytes`.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    {
        let mut f = std::fs::File::create(&tmp).map_err(|e| CoreError::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| CoreError::io(&tmp, e))?;
        f.sync_all().map_err(|e| CoreError::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| CoreError::io(&path, e))?;
    sync_dir(dir)
}

/// fsyncs a directory so that renames and creations inside it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = std::fs::File::open(dir).map_err(|e| CoreError::io(dir, e))?;
    d.sync_all().map_err(|e| CoreError::io(dir, e))
}

/// Reads `dir/name` if it exists; a file larger than `max` bytes is corruption.
pub fn read_bounded(dir: &Path, name: &str, max: u64) -> Result<Option<Vec<u8>>> {
    let path = dir.join(name);
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CoreError::io(&path, e)),
    };
    if meta.len() > max {
        return Err(CoreError::Corruption {
            path,
            offset: 0,
            detail: format!("{} bytes exceeds the {max} byte limit", meta.len()),
        });
    }
    std::fs::read(&path).map(Some).map_err(|e| CoreError::io(&path, e))
}

/// Parses JSON read from `dir/name`; a parse failure is corruption naming the file.
pub fn parse_json<T: serde::de::DeserializeOwned>(dir: &Path, name: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| CoreError::Corruption {
        path: dir.join(name),
        offset: e.column() as u64,
        detail: format!("line {}: {e}", e.line()),
    })
}

/// Serialises to JSON; our own types always serialise, a failure is reported against `dir/name`.
pub fn to_json<T: serde::Serialize>(dir: &Path, name: &str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| CoreError::io(dir.join(name), std::io::Error::other(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_bounded_read_refuses_big_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read_bounded(dir.path(), "f", 10).expect("read"), None);
        write_atomic(dir.path(), "f", b"one").expect("write");
        write_atomic(dir.path(), "f", b"two!").expect("write");
        assert_eq!(read_bounded(dir.path(), "f", 10).expect("read").as_deref(), Some(&b"two!"[..]));
        assert!(!dir.path().join("f.tmp").exists());
        let err = read_bounded(dir.path(), "f", 3).expect_err("too big");
        assert!(matches!(err, CoreError::Corruption { .. }), "{err}");
    }
}
