//! The node's threads ask the OS for what `runtime.time_slice_us` and the linker priority promise,
//! read back from the running process with `sched_getattr(2)` (Linux >= 6.12 only: older kernels
//! have no per-thread slice, and the test says so and returns).

use vectorizer_core::os_thread::{ThreadScheduling, kernel_has_time_slices, thread_scheduling};
use vectorizer_tests::{Node, NodeOptions};

/// Name and scheduling of every thread of process `pid`.
fn threads_of(pid: u32) -> Vec<(String, ThreadScheduling)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).expect("task dir").flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse::<i32>().ok()) else { continue };
        let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default().trim().to_owned();
        // A thread may exit between the listing and the call (an idle blocking-pool thread).
        if let Ok(sched) = thread_scheduling(tid) {
            out.push((name, sched));
        }
    }
    out
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
    let runtime: Vec<_> = threads.iter().filter(|(name, _)| name.starts_with("tokio-")).collect();
    let linkers: Vec<_> = threads.iter().filter(|(name, _)| name.starts_with("vz-linker")).collect();
    assert!(!runtime.is_empty() && !linkers.is_empty(), "threads: {threads:?}");
    for (_, sched) in &runtime {
        assert_eq!(sched.time_slice_ns, expected_runtime_ns, "runtime thread, slice {slice_us:?}: {threads:?}");
        assert_eq!(sched.nice, 0, "runtime thread keeps its nice value: {threads:?}");
    }
    for (_, sched) in &linkers {
        assert_eq!(sched.time_slice_ns, os_default_ns, "a linker keeps the OS default slice: {threads:?}");
        assert_eq!(sched.nice, 10, "a linker runs 10 nice steps lower: {threads:?}");
    }
}

#[test]
fn runtime_threads_get_the_configured_slice_and_linkers_the_default() {
    if !kernel_has_time_slices() {
        eprintln!("skipped: this kernel predates per-thread time slices (Linux 6.12)");
        return;
    }
    // This test's own thread never asked for a slice: it has the OS default.
    let os_default_ns = thread_scheduling(0).expect("sched_getattr of the test thread").time_slice_ns;
    check(None, 100_000, os_default_ns);
    check(Some(2_500), 2_500_000, os_default_ns);
    check(Some(0), os_default_ns, os_default_ns);
}
