//! A description of the machine a benchmark ran on (CPU, memory, kernel, disk fsync cost), printed at
//! the top of every report so numbers are never read without their context.
//!
//! Invariant: everything here is read from the running system (`/proc`, a real fsync probe in the
//! directory the nodes write to); unknown values print as "n/a".

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use super::measure::median;

/// Lines describing the machine.
pub fn describe(data_parent: &Path) -> Vec<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("n/a".to_owned(), |(_, v)| v.trim().to_owned());
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or("n/a".to_owned(), |kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned();
    let fsync = match fsync_probe(data_parent, 50) {
        Some(ms) => format!("{ms:.2} ms median for a 4 KiB write + fdatasync in {}", data_parent.display()),
        None => "n/a".into(),
    };
    vec![format!("cpu: {cpus} x {model}"), format!("memory: {mem_gib}; kernel {kernel}"), format!("disk: {fsync}")]
}

/// Median milliseconds of `n` (4 KiB append + fdatasync) in a temporary file under `dir`.
pub fn fsync_probe(dir: &Path, n: usize) -> Option<f64> {
    let tmp = tempfile::Builder::new().prefix("fsync-probe-").tempfile_in(dir).ok()?;
    let mut file = tmp.as_file();
    let block = [0u8; 4096];
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        file.write_all(&block).ok()?;
        file.sync_data().ok()?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Some(median(&times))
}
