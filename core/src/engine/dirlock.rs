//! Exclusive lock on a data directory, so two processes never write the same log.
//!
//! Invariant: while a [`DirLock`] is alive, no other process holds an `flock` on `<data_dir>/LOCK`.
//! The kernel releases the lock when the process dies (including `kill -9`), so a crash never
//! leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{CoreError, Result};

/// Held for the lifetime of the engine.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock or fails with a clear error if another process has the directory open.
    pub(crate) fn acquire(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| CoreError::io(data_dir, e))?;
        let path = data_dir.join("LOCK");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| CoreError::io(&path, e))?;
        // SAFETY: `flock` is called on a file descriptor owned by `file`, which outlives the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::WouldBlock {
                return Err(CoreError::Unavailable {
                    reason: format!("data directory {} is in use by another vectorizer process", data_dir.display()),
                });
            }
            return Err(CoreError::io(&path, err));
        }
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_same_dir_is_refused_until_first_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = DirLock::acquire(dir.path()).expect("first lock");
        let err = DirLock::acquire(dir.path()).expect_err("second lock must fail");
        assert!(err.to_string().contains("in use"), "{err}");
        drop(first);
        DirLock::acquire(dir.path()).expect("lock after release");
    }
}
