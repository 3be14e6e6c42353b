//! Stats overhead: the same workloads on a master with two replicas, `stats_enabled` true vs false,
//! plus a control side with stats on again, rotating the order every round so drift in the
//! machine's load hits every side alike. The control's ratio to `on` is what two identical sides
//! give here: a margin smaller than their difference is not resolved by this machine.
//!
//! Invariant: every round starts a fresh cluster per side (same data, same ids); the master's CPU
//! time and RSS are read from `/proc` around each workload, so the comparison does not rest on
//! wall-clock throughput alone (which a loaded 2-core machine makes noisy).

use std::time::Duration;

use vectorizer_tests::Node;

use crate::cluster::{Setup, wait_attached};
use crate::common::measure::{process_cpu, process_rss};
use crate::load::{self, LoadResult, OpBodies, Workload};

/// One side (stats on or off) of one round.
#[derive(Debug, Clone)]
pub struct SideRun {
    pub paced: LoadResult,
    pub max: LoadResult,
    /// Master CPU microseconds per operation during the paced / max workloads.
    pub paced_cpu_us: f64,
    pub max_cpu_us: f64,
    /// Master RSS when the replicas were attached, after the paced workload (the same operations
    /// on both sides, so the one to compare) and after both workloads (the max workload writes as
    /// many operations as the side manages, so that RSS also follows its throughput).
    pub rss_before: u64,
    pub rss_after_paced: u64,
    pub rss_after: u64,
}

/// Parameters of the comparison.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub rounds: usize,
    pub rate: f64,
    pub paced_secs: f64,
    pub max_secs: f64,
    pub paced_writers: usize,
    pub max_writers: usize,
}

/// The sides of every round: stats on, stats off, and a control that is stats on again (an A/A
/// pair with `on`, which shows how far two identical sides differ on this machine).
#[derive(Debug, Clone, Default)]
pub struct Sides {
    pub on: Vec<SideRun>,
    pub off: Vec<SideRun>,
    pub control: Vec<SideRun>,
}

/// Runs `rounds` x (on, off, control), rotating the order every round.
pub fn run(p: Params, bodies: &OpBodies) -> Sides {
    #[derive(Clone, Copy)]
    enum Side {
        On,
        Off,
        Control,
    }
    let mut sides = Sides::default();
    for round in 0..p.rounds {
        let mut order = [Side::On, Side::Off, Side::Control];
        order.rotate_left(round % 3);
        for side in order {
            let stats_enabled = !matches!(side, Side::Off);
            let name = match side {
                Side::On => "on",
                Side::Off => "off",
                Side::Control => "control (on)",
            };
            eprintln!("stats overhead: round {}/{}, stats {name}...", round + 1, p.rounds);
            let run = one_side(p, bodies, Setup { stats_enabled, fsync: "os", master_env: &[] });
            match side {
                Side::On => sides.on.push(run),
                Side::Off => sides.off.push(run),
                Side::Control => sides.control.push(run),
            }
        }
    }
    sides
}

fn cpu_us_per_op(master: &Node, f: impl FnOnce() -> LoadResult) -> (LoadResult, f64) {
    let pid = master.pid().expect("master runs");
    let before = process_cpu(pid);
    let result = f();
    let after = process_cpu(pid);
    let us = match (before, after) {
        (Some(a), Some(b)) => (b - a).as_secs_f64() * 1e6 / result.ops as f64,
        _ => f64::NAN,
    };
    (result, us)
}

fn one_side(p: Params, bodies: &OpBodies, setup: Setup) -> SideRun {
    let master = setup.master();
    let replicas = [setup.replica(&master), setup.replica(&master)];
    wait_attached(&master, &replicas.iter().collect::<Vec<_>>(), "attach-");
    let pid = master.pid().expect("master runs");
    let rss_before = process_rss(pid).unwrap_or(0);
    let workload = |prefix: &'static str, writers| Workload {
        addr: master.http_addr(),
        bodies,
        prefix,
        writers,
        send_log: None,
        max_offset: None,
        stop: None,
    };
    let (paced, paced_cpu_us) = cpu_us_per_op(&master, || {
        load::paced(&workload("paced-", p.paced_writers), p.rate, Duration::from_secs_f64(p.paced_secs))
    });
    let rss_after_paced = process_rss(pid).unwrap_or(0);
    let (max, max_cpu_us) = cpu_us_per_op(&master, || {
        load::max_throughput(&workload("max-", p.max_writers), Duration::from_secs_f64(p.max_secs))
    });
    let rss_after = process_rss(pid).unwrap_or(0);
    SideRun { paced, max, paced_cpu_us, max_cpu_us, rss_before, rss_after_paced, rss_after }
}
