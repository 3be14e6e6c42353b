//! Optional profiling of a node during one benchmark phase: with `BENCH_PERF=<dir>` set (and optionally
//! `BENCH_PERF_FREQ=<Hz>`, `BENCH_PERF_PHASES=<phase name prefix>`), `perf record`
//! attaches to the server process for the phase and writes `<dir>/<phase>.perf.data`.
//!
//! Invariant: without `BENCH_PERF` nothing is spawned and the benchmark is unchanged; with it, the
//! recording stops (SIGINT, then waited for) before the phase's result is returned, so the profile
//! covers exactly the phase. Read with `perf report -i <file> --no-children --sort comm,sym`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Environment variable naming the directory for profiles.
pub const PERF_ENV: &str = "BENCH_PERF";
/// Environment variable with the sampling frequency in Hz (default 499).
pub const PERF_FREQ_ENV: &str = "BENCH_PERF_FREQ";
/// Environment variable restricting profiling to phases whose name starts with it (e.g. `search-`).
pub const PERF_PHASES_ENV: &str = "BENCH_PERF_PHASES";

/// A running `perf record`.
#[derive(Debug)]
pub struct Profiler {
    child: Child,
    path: PathBuf,
}

impl Profiler {
    /// Starts recording process `pid` as `phase` if `BENCH_PERF` is set.
    pub fn start(pid: u32, phase: &str) -> Option<Profiler> {
        let dir = PathBuf::from(std::env::var_os(PERF_ENV)?);
        if std::env::var(PERF_PHASES_ENV).is_ok_and(|prefix| !phase.starts_with(&prefix)) {
            return None;
        }
        std::fs::create_dir_all(&dir).ok()?;
        let path = dir.join(format!("{phase}.perf.data"));
        let freq = std::env::var(PERF_FREQ_ENV).unwrap_or_else(|_| "499".into());
        let child = Command::new("perf")
            .args(["record", "-F", &freq, "--call-graph", "dwarf,16384", "-p", &pid.to_string(), "-o"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(child) => {
                // perf needs a moment to attach to every thread.
                std::thread::sleep(Duration::from_millis(300));
                Some(Profiler { child, path })
            }
            Err(e) => {
                eprintln!("BENCH_PERF: cannot start perf: {e}");
                None
            }
        }
    }

    /// Stops recording and waits for the file to be written.
    pub fn stop(mut self) {
        let Ok(pid) = libc::pid_t::try_from(self.child.id()) else { return };
        // SAFETY: kill(2) on the perf process we spawned and have not reaped yet.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let _ = self.child.wait();
        eprintln!("profile written to {}", self.path.display());
    }
}
