//! The node's threads ask the OS for what `runtime.time_slice_us` and the linker priority promise,
//! read back from the running process with `sched_getattr(2)` (Linux >= 6.12 only: older kernels
//! have no per-thread slice, and the test says so and returns).

use vectorizer_tests::{Node, NodeOptions};

/// `struct sched_attr` (the first 48 bytes, all `sched_getattr` needs to fill).
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

/// One thread of a process: its name, nice value and time slice in nanoseconds.
#[derive(Debug)]
struct ThreadSched {
    name: String,
    nice: i32,
    slice_ns: u64,
}

fn sched_of(tid: i64) -> Option<(i32, u64)> {
    let mut attr = SchedAttr::default();
    let size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: the kernel writes at most `size` bytes into `attr`, which is that large.
    let rc = unsafe { libc::syscall(libc::SYS_sched_getattr, tid, &mut attr as *mut SchedAttr, size, 0u32) };
    (rc == 0).then_some((attr.nice, attr.runtime))
}

fn threads_of(pid: u32) -> Vec<ThreadSched> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).expect("task dir").flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse::<i64>().ok()) else { continue };
        let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default().trim().to_owned();
        // A thread may exit between the listing and the call (an idle blocking-pool thread).
        if let Some((nice, slice_ns)) = sched_of(tid) {
            out.push(ThreadSched { name, nice, slice_ns });
        }
    }
    out
}

fn kernel_has_custom_slices() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (6, 12)
}

/// Starts a node with `slice_us` (None: the default), then checks every runtime thread's slice
/// and that the linkers kept the OS default slice at a lower priority.
fn check(slice_us: Option<u64>, expected_runtime_ns: u64, os_default_ns: u64) {
    let mut opts = NodeOptions::default();
    if let Some(us) = slice_us {
        opts = opts.env("VECTORIZER__RUNTIME__TIME_SLICE_US", us.to_string());
    }
    let node = Node::start(opts);
    let threads = threads_of(node.pid().expect("node runs"));
    let runtime: Vec<_> = threads.iter().filter(|t| t.name.starts_with("tokio-")).collect();
    let linkers: Vec<_> = threads.iter().filter(|t| t.name.starts_with("vz-linker")).collect();
    assert!(!runtime.is_empty() && !linkers.is_empty(), "threads: {threads:?}");
    for t in &runtime {
        assert_eq!(t.slice_ns, expected_runtime_ns, "runtime thread, slice {slice_us:?}: {threads:?}");
        assert_eq!(t.nice, 0, "runtime thread keeps its nice value: {threads:?}");
    }
    for t in &linkers {
        assert_eq!(t.slice_ns, os_default_ns, "a linker keeps the OS default slice: {threads:?}");
        assert_eq!(t.nice, 10, "a linker runs 10 nice steps lower: {threads:?}");
    }
}

#[test]
fn runtime_threads_get_the_configured_slice_and_linkers_the_default() {
    if !kernel_has_custom_slices() {
        eprintln!("skipped: this kernel predates per-thread time slices (Linux 6.12)");
        return;
    }
    // This test's own thread never asked for a slice: it has the OS default.
    let (_, os_default_ns) = sched_of(0).expect("sched_getattr of the test thread");
    check(None, 100_000, os_default_ns);
    check(Some(2_500), 2_500_000, os_default_ns);
    check(Some(0), os_default_ns, os_default_ns);
}
