//! Measuring on a shared machine: medians of repeated runs, load average, a process's CPU time and
//! resident memory from `/proc`, and a plain-text table.
//!
//! Invariant: every number printed comes from a measurement in this run; a value that could not be
//! measured is shown as "n/a", never estimated.

use std::fmt::Write as _;
use std::time::Duration;

/// Median of `values` (mean of the two middle values for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 }
}

/// The `p`-th percentile (0..=100) by nearest rank; NaN when empty.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Spread of repeated measurements: (max - min) / median, as a fraction.
pub fn spread(values: &[f64]) -> f64 {
    let m = median(values);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    if m == 0.0 || values.len() < 2 { 0.0 } else { (max - min) / m }
}

/// The 1/5/15-minute load averages from `/proc/loadavg`.
pub fn loadavg() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|s| s.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// The load averages as text.
pub fn loadavg_text() -> String {
    match loadavg() {
        Some([a, b, c]) => format!("{a:.2} {b:.2} {c:.2}"),
        None => "n/a".into(),
    }
}

/// CPU time (user + system) consumed so far by process `pid`, from `/proc/<pid>/stat`.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after it start past the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    ticks_to_duration(utime + stime)
}

/// Resident memory of process `pid` in bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn process_rss(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time consumed by the calling process (all threads), e.g. the benchmark's own clients.
pub fn self_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec and the clock exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(u64::try_from(ts.tv_sec).unwrap_or(0), u32::try_from(ts.tv_nsec).unwrap_or(0))
}

/// A plain-text table with right-aligned columns after the first.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self { header: header.into_iter().map(Into::into).collect(), rows: Vec::new() }
    }

    /// Adds a row (as many cells as columns).
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The table as Markdown (also readable as plain text).
    pub fn render(&self) -> String {
        let cols = self.header.len();
        let mut width = vec![0; cols];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate().take(cols) {
                width[i] = width[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, row: &[String]| {
            out.push('|');
            for (i, w) in width.iter().enumerate() {
                let cell = row.get(i).map(String::as_str).unwrap_or("");
                if i == 0 {
                    let _ = write!(out, " {cell:<w$} |");
                } else {
                    let _ = write!(out, " {cell:>w$} |");
                }
            }
            out.push('\n');
        };
        line(&mut out, &self.header);
        out.push('|');
        for (i, w) in width.iter().enumerate() {
            let dashes = "-".repeat(*w);
            if i == 0 {
                let _ = write!(out, " {dashes} |");
            } else {
                let _ = write!(out, " {}:|", &dashes[..]);
            }
        }
        out.push('\n');
        for row in &self.rows {
            line(&mut out, row);
        }
        out
    }
}

/// `x` with thousands separators (rounded), e.g. `12,345`.
pub fn thousands(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let n = x.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A ratio as `1.23x`.
pub fn ratio(x: f64) -> String {
    if x.is_finite() { format!("{x:.2}x") } else { "n/a".into() }
}

/// Milliseconds with adaptive precision.
pub fn ms(d: f64) -> String {
    if !d.is_finite() {
        "n/a".into()
    } else if d < 10.0 {
        format!("{d:.2} ms")
    } else if d < 1000.0 {
        format!("{d:.0} ms")
    } else {
        format!("{:.2} s", d / 1000.0)
    }
}

/// CPU time (user + system) of the live threads of process `pid` whose name starts with `prefix`
/// (`/proc/<pid>/task/*/stat`; threads that already exited are not counted).
pub fn threads_cpu(pid: u32, prefix: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let (Some(u), Some(s)) = (fields.get(11), fields.get(12)) else { continue };
        let (Ok(u), Ok(s)) = (u.parse::<u64>(), s.parse::<u64>()) else { continue };
        total += ticks_to_duration(u + s)?;
    }
    Some(total)
}

fn ticks_to_duration(ticks: u64) -> Option<Duration> {
    // SAFETY: sysconf with a valid name has no preconditions.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_sec = u64::try_from(per_sec).ok().filter(|t| *t > 0)?;
    Some(Duration::from_secs_f64(ticks as f64 / per_sec as f64))
}
