//! An experiment knob for a shared machine: with `BENCH_RENICE=<nice>` (e.g. `-10`, needs root), the
//! benchmark process and every node it starts run at that nice value, approximating an idle machine
//! by letting them win the CPU over other users' work. Results taken this way must say so.
//!
//! Invariant: without `BENCH_RENICE` nothing changes; with it, every thread that exists when
//! [`renice`] runs gets the value (Linux nice values are per thread; threads created later inherit
//! it from their creator).

/// Environment variable with the nice value.
pub const RENICE_ENV: &str = "BENCH_RENICE";

/// The requested nice value, if any.
pub fn requested() -> Option<i32> {
    std::env::var(RENICE_ENV).ok()?.parse().ok()
}

/// Sets the nice value of every thread of process `pid` if `BENCH_RENICE` is set.
pub fn renice(pid: u32) {
    let Some(nice) = requested() else { return };
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<libc::id_t>().ok()) else { continue };
        // SAFETY: setpriority(2) with a thread id read from /proc; failure only leaves the priority as it was.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) };
        if rc != 0 {
            eprintln!("{RENICE_ENV}: setpriority({tid}, {nice}) failed: {}", std::io::Error::last_os_error());
        }
    }
}
