//! Small filesystem helpers for crash safety: fsync of files and directories, atomic publication
//! of a finished file by rename, and I/O error mapping that always names the file.
//!
//! Invariant: a file created, renamed or removed by storage code is followed by an fsync of its
//! directory before the operation is reported as done, so the directory entry survives a crash.

use std::fs::{File, OpenOptions};
use std::path::Path;

use crate::error::{CoreError, Result};

/// Maps an `io::Error` on `path` to [`CoreError::Io`].
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CoreError + '_ {
    move |source| CoreError::io(path, source)
}

/// fsyncs a directory so that entries created, renamed or removed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let handle = File::open(dir).map_err(io_err(dir))?;
    handle.sync_all().map_err(io_err(dir))
}

/// Creates `dir` (and parents) if needed, fsyncing the parent when the directory is new.
pub(crate) fn create_dir_durable(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Atomically replaces `to` with `from` (both in the same directory) and fsyncs the directory.
/// The caller must have fsynced `from`'s contents first.
pub(crate) fn rename_durable(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(io_err(to))?;
    sync_parent(to)
}

/// fsyncs the directory holding `path`.
pub(crate) fn sync_parent(path: &Path) -> Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => sync_dir(parent),
        None => sync_dir(Path::new(".")),
    }
}

/// Removes a file; a file that is already gone is not an error. Does not fsync the directory.
pub(crate) fn remove_file_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CoreError::io(path, e)),
    }
}

/// Reads exactly `buf.len()` bytes at `pos`, or fewer only at end of file; returns how many.
pub(crate) fn read_at_most(file: &File, path: &Path, buf: &mut [u8], pos: u64) -> Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], pos + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CoreError::io(path, e)),
        }
    }
    Ok(done)
}

/// Counts every fsync/fdatasync the log issues on files and directories (exposed as
/// `OpLog::fsync_count` for tests and metrics).
#[derive(Debug, Default)]
pub(crate) struct FsyncCounter(std::sync::atomic::AtomicU64);

impl FsyncCounter {
    /// Total syncs issued so far.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn bump(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// fdatasync: data and the metadata needed to read it back (file size), not timestamps.
    pub(crate) fn sync_data(&self, file: &File, path: &Path) -> Result<()> {
        self.bump();
        file.sync_data().map_err(io_err(path))
    }

    /// fsync of a file including all metadata.
    pub(crate) fn sync_all(&self, file: &File, path: &Path) -> Result<()> {
        self.bump();
        file.sync_all().map_err(io_err(path))
    }

    /// fsync of a directory (entries created, renamed or removed).
    pub(crate) fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.bump();
        sync_dir(dir)
    }

    /// Creates a new empty file (failing if it exists) and makes it and its directory entry durable.
    pub(crate) fn create_new(&self, path: &Path) -> Result<File> {
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(path).map_err(io_err(path))?;
        self.sync_all(&file, path)?;
        match path.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(parent) => self.sync_dir(parent)?,
            None => self.sync_dir(Path::new("."))?,
        }
        Ok(file)
    }
}
