//! Background threads of the engine: HNSW linkers and the periodic snapshotter.
//!
//! Invariant: workers never change what a search can see (linking only moves a vector from the
//! exact-scan tail into the graph), hold no engine lock while idle, and all stop and are joined by
//! [`Workers::stop`] before the engine's final fsync.
//!
//! **Priority.** Linker threads run at a lower OS priority than the rest of the process: on Linux
//! each raises its own nice value by `LINKER_NICE_STEPS` ([`os_thread::lower_priority`]; nice
//! values are per thread there), elsewhere they keep the default. Request handling then wins the
//! CPU whenever both are runnable, and the linkers use what is left: an acknowledged write is
//! searchable at once through the exact scan of unlinked vectors, so linking may lag behind ingest
//! without hiding anything. A nice value is a weight, not `SCHED_IDLE`: linkers still progress on
//! a busy machine (`SCHED_IDLE` linkers were measured and made the visibility tail several times
//! worse). Linkers and the snapshotter also return to the OS default time slice, which they would
//! otherwise inherit from the thread that opened the engine (the runtime's threads ask for a short
//! one: `server/src/main.rs`). Failures (e.g. a seccomp filter) are logged at debug level and
//! otherwise ignored.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::engine::Engine;
use crate::engine::state::StateCell;
use crate::os_thread;

/// Slots one linker links per collection before looking at the others (fairness).
const LINK_BATCH: usize = 256;
/// How much higher the linker threads' nice value is than the process's (each step is ~1.25x less
/// CPU weight, so 10 gives a linker about a tenth of the share of a busy request thread).
const LINKER_NICE_STEPS: i32 = 10;
/// How often the snapshotter re-evaluates its thresholds.
const SNAPSHOT_CHECK_EVERY: Duration = Duration::from_millis(500);

/// A wake-up signal with a generation counter, so a notification sent while nobody waits is not lost.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    generation: Mutex<u64>,
    cond: Condvar,
}

impl Signal {
    pub(crate) fn notify(&self) {
        *self.generation.lock() += 1;
        self.cond.notify_all();
    }

    fn generation(&self) -> u64 {
        *self.generation.lock()
    }

    /// Waits until the generation moves past `seen` or `timeout` passes.
    fn wait_past(&self, seen: u64, timeout: Duration) {
        let mut generation = self.generation.lock();
        if *generation == seen {
            let _ = self.cond.wait_for(&mut generation, timeout);
        }
    }
}

/// Handles of the running background threads.
#[derive(Debug)]
pub(crate) struct Workers {
    stop: Arc<AtomicBool>,
    link_signal: Arc<Signal>,
    stop_signal: Arc<Signal>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Workers {
    /// Starts `linkers` linker threads over `state` and the snapshotter for `engine`. Returns once
    /// every thread has set its scheduling (`background_priority`), so what runs from then on
    /// runs at the documented priority.
    pub(crate) fn start(linkers: usize, state: Arc<StateCell>, engine: Weak<Engine>) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let link_signal = Arc::new(Signal::default());
        let stop_signal = Arc::new(Signal::default());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let mut threads = Vec::new();
        for i in 0..linkers.max(1) {
            let (stop, signal, state, ready) = (stop.clone(), link_signal.clone(), state.clone(), ready_tx.clone());
            threads.push(std::thread::Builder::new().name(format!("vz-linker-{i}")).spawn(move || {
                background_priority(true);
                let _ = ready.send(());
                linker_loop(&stop, &signal, &state);
            })?);
        }
        let (stop2, signal2) = (stop.clone(), stop_signal.clone());
        threads.push(std::thread::Builder::new().name("vz-snapshotter".into()).spawn(move || {
            background_priority(false);
            let _ = ready_tx.send(());
            snapshot_loop(&stop2, &signal2, &engine)
        })?);
        for _ in 0..threads.len() {
            // An error means every sender is gone: a thread died before reporting; nothing to wait for.
            if ready_rx.recv().is_err() {
                break;
            }
        }
        Ok(Self { stop, link_signal, stop_signal, threads: Mutex::new(threads) })
    }

    /// Tells the linkers that new vectors are waiting.
    pub(crate) fn notify_linkers(&self) {
        self.link_signal.notify();
    }

    /// Stops and joins every thread. Idempotent.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.link_signal.notify();
        self.stop_signal.notify();
        let threads = std::mem::take(&mut *self.threads.lock());
        let me = std::thread::current().id();
        for t in threads {
            // The last `Arc<Engine>` may be dropped on the snapshotter itself; it exits on its own.
            if t.thread().id() == me {
                continue;
            }
            if t.join().is_err() {
                tracing::error!("a background engine thread panicked");
            }
        }
    }
}

/// Scheduling of a background thread: the OS default time slice (a thread inherits its creator's,
/// and the engine may be opened on a request thread with a short one), and for a linker the lower
/// priority. Refusals are logged at debug level.
fn background_priority(linker: bool) {
    if let Err(error) = os_thread::set_time_slice(0) {
        tracing::debug!(%error, "could not reset the background thread's time slice");
    }
    if linker && let Err(error) = os_thread::lower_priority(LINKER_NICE_STEPS) {
        tracing::debug!(%error, "could not lower the linker thread's priority");
    }
}

fn linker_loop(stop: &AtomicBool, signal: &Signal, state: &StateCell) {
    while !stop.load(Ordering::SeqCst) {
        let seen = signal.generation();
        let mut linked = 0;
        for coll in state.current().all() {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            linked += coll.index.link_pending(LINK_BATCH);
        }
        if linked == 0 {
            // Nothing to link: sleep until an upsert notifies (the timeout only bounds how long
            // a missed wake-up could delay linking; searches see unlinked vectors regardless).
            signal.wait_past(seen, Duration::from_secs(1));
        }
    }
}

fn snapshot_loop(stop: &AtomicBool, signal: &Signal, engine: &Weak<Engine>) {
    let mut last_attempt = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let seen = signal.generation();
        signal.wait_past(seen, SNAPSHOT_CHECK_EVERY);
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Some(engine) = engine.upgrade() else { return };
        if engine.snapshot_due(last_attempt.elapsed()) {
            last_attempt = Instant::now();
            if let Err(e) = engine.snapshot_now() {
                tracing::error!(error = %e, "periodic snapshot failed; will retry at the next threshold");
            }
        }
    }
}
