//! Per-thread scheduling hints for the Linux scheduler (EEVDF): a lower priority for background
//! work and a shorter time slice for request handling. Elsewhere both are no-ops.
//!
//! Invariant: each function changes only the calling thread, and a refusal by the OS (a seccomp
//! filter, an old kernel) is returned, never a panic; callers log it and carry on.

/// Raises the nice value of the calling thread by `steps` (at most to 19).
pub fn lower_priority(steps: i32) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain syscalls; `__errno_location` points to this thread's errno; on Linux
        // `PRIO_PROCESS` with a thread id reads or changes that thread only.
        unsafe {
            let tid = libc::gettid() as libc::id_t;
            *libc::__errno_location() = 0;
            let current = libc::getpriority(libc::PRIO_PROCESS, tid);
            let failed = (current == -1 && *libc::__errno_location() != 0)
                || libc::setpriority(libc::PRIO_PROCESS, tid, (current + steps).min(19)) != 0;
            if failed { Err(std::io::Error::last_os_error()) } else { Ok(()) }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = steps;
        Ok(())
    }
}

/// `struct sched_attr` of `sched_setattr(2)` (the first version, 48 bytes, is enough).
#[cfg(target_os = "linux")]
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

/// Asks for a time slice of `nanos` for the calling thread (0: the OS default), keeping its
/// policy (`SCHED_OTHER`) and nice value. Linux >= 6.12 clamps it to 0.1..=100 ms; a thread with a
/// shorter slice than the running one may preempt it when it wakes, instead of waiting for the
/// running one's slice to end. Threads and processes created afterwards inherit it.
pub fn set_time_slice(nanos: u64) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let nice = thread_scheduling(0)?.nice;
        let attr = SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            policy: libc::SCHED_OTHER as u32,
            nice,
            runtime: nanos,
            ..SchedAttr::default()
        };
        // SAFETY: `attr` is a valid, initialised `sched_attr` whose `size` field is its own size;
        // pid 0 is the calling thread; the kernel only reads it.
        let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0u32) };
        if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = nanos;
        Ok(())
    }
}

/// A thread's scheduling as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadScheduling {
    pub nice: i32,
    /// The thread's time slice in nanoseconds (the OS default unless the thread asked for one).
    pub time_slice_ns: u64,
}

/// Reads the scheduling of thread `tid` of any process (0: the calling thread) with
/// `sched_getattr(2)`; an error if the thread does not exist (any more) or on other systems.
pub fn thread_scheduling(tid: i32) -> std::io::Result<ThreadScheduling> {
    #[cfg(target_os = "linux")]
    {
        let mut attr = SchedAttr::default();
        let size = std::mem::size_of::<SchedAttr>() as u32;
        // SAFETY: the kernel writes at most `size` bytes into `attr`, which is that large.
        let rc = unsafe { libc::syscall(libc::SYS_sched_getattr, tid, &mut attr as *mut SchedAttr, size, 0u32) };
        if rc == 0 {
            Ok(ThreadScheduling { nice: attr.nice, time_slice_ns: attr.runtime })
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = tid;
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "per-thread scheduling is read on Linux only"))
    }
}

/// Whether the running kernel honours a time slice asked for by a `SCHED_OTHER` thread (Linux
/// 6.12 and later); older kernels accept the call and ignore the value.
pub fn kernel_has_time_slices() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (6, 12)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn own_nice() -> i32 {
        thread_scheduling(0).expect("sched_getattr").nice
    }

    fn own_slice() -> u64 {
        thread_scheduling(0).expect("sched_getattr").time_slice_ns
    }

    #[test]
    fn lowering_the_priority_affects_only_the_calling_thread() {
        let before = own_nice();
        let lowered = std::thread::spawn(|| {
            let start = own_nice();
            lower_priority(3).expect("setpriority");
            (start, own_nice())
        })
        .join()
        .expect("thread");
        assert_eq!(lowered.1, (lowered.0 + 3).min(19), "the thread's own nice value");
        assert_eq!(own_nice(), before, "other threads keep theirs");
    }

    #[test]
    fn the_time_slice_is_the_calling_threads_and_keeps_its_nice_value() {
        if !kernel_has_time_slices() {
            eprintln!("skipped: this kernel predates per-thread time slices (Linux 6.12)");
            return;
        }
        let before = own_slice();
        let (slice, nice_before, nice_after, reset) = std::thread::spawn(|| {
            lower_priority(2).expect("setpriority");
            let nice_before = own_nice();
            set_time_slice(250_000).expect("sched_setattr");
            let slice = own_slice();
            let nice_after = own_nice();
            set_time_slice(0).expect("sched_setattr");
            (slice, nice_before, nice_after, own_slice())
        })
        .join()
        .expect("thread");
        assert_eq!(slice, 250_000, "the slice asked for");
        assert_eq!(nice_after, nice_before, "the nice value is kept");
        assert_eq!(reset, before, "0 gives the OS default back");
        assert_eq!(own_slice(), before, "other threads keep theirs");
    }
}
