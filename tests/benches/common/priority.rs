//! An experiment knob for a shared machine: with `BENCH_RENICE=<shift>` (e.g. `-10`, needs root),
//! the benchmark process and every node it starts run `shift` nice steps from where they were,
//! approximating an idle machine by letting them win the CPU over other users' work. Results taken
//! this way must say so.
//!
//! Invariant: without `BENCH_RENICE` nothing changes; with it, every thread that exists when
//! [`renice`] runs moves by the same shift, so differences between threads (the server's HNSW
//! linker threads run 10 steps below its request handling) are kept (Linux nice values are per
//! thread; threads created later inherit their creator's).

/// Environment variable with the nice value.
pub const RENICE_ENV: &str = "BENCH_RENICE";

/// The requested shift, if any.
pub fn requested() -> Option<i32> {
    std::env::var(RENICE_ENV).ok()?.parse().ok()
}

/// Shifts the nice value of every thread of process `pid` if `BENCH_RENICE` is set.
pub fn renice(pid: u32) {
    let Some(shift) = requested() else { return };
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<libc::id_t>().ok()) else { continue };
        // getpriority(2) returns -1 both for nice -1 and on error: errno tells them apart.
        // SAFETY: errno is thread-local; getpriority/setpriority take a thread id read from /proc,
        // and a failure only leaves the priority as it was.
        let current = unsafe {
            *libc::__errno_location() = 0;
            libc::getpriority(libc::PRIO_PROCESS, tid)
        };
        if current == -1 && std::io::Error::last_os_error().raw_os_error() != Some(0) {
            continue; // the thread is gone
        }
        let nice = (current + shift).clamp(-20, 19);
        // SAFETY: as above.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) };
        if rc != 0 {
            eprintln!("{RENICE_ENV}: setpriority({tid}, {nice}) failed: {}", std::io::Error::last_os_error());
        }
    }
}
