//! The deadlock Linux 4.14-rc1's lockdep found, in Rust: five locks (one of
//! them a wait) on four threads, and no pair of them ever taken in both
//! orders.
//!
//! A CPU coming online holds `cpu_hotplug_lock` (write) and waits for
//! kdevtmpfs to make its device node; kdevtmpfs makes it under the `/dev`
//! inode lock; `ls` reads `/dev` under that inode lock and faults on its
//! buffer, taking `mmap_lock` (read); and the i915 userptr ioctl, holding
//! `mmap_lock` (write) and `mm_lock`, allocates a work queue for its MMU
//! notifier, which reads `cpu_hotplug_lock`. Each path runs alone, on a
//! thread of its own, one after another: nothing waits, nothing hangs. The
//! validator still reports the cycle the four would close if they ran at
//! once, naming both sites of every edge. (The splat had seven entries; the
//! chain is simplified. The shared paths are in `examples/hotplug/mod.rs`;
//! the ioctl is below, and fixed in `examples/hotplug_fixed.rs`.)
//!
//! Run: `cargo run --example hotplug_deadlock` (prints the validator's
//! reports and exits 0; it exits non-zero if validation is compiled in and
//! the cycle is not reported).

use std::collections::HashSet;
use std::process::ExitCode;

use kernsync::lockdep::{graph, set_action, Action, Report, ReportKind};

mod hotplug;
use hotplug::{Kernel, Mm, CYCLE};

/// `i915_gem_userptr_ioctl` -> `i915_gem_userptr_init__mmu_notifier`, as in
/// 4.14-rc1: the MMU notifier is made (its work queue allocated) with
/// `mmap_lock` and `mm_lock` held.
fn i915_gem_userptr_ioctl(k: &'static Kernel, mm: &'static Mm) {
    let _mmap = mm.mmap_lock.write(); // mmu_notifier_register() wants it for write
    let mut mn = k.dev_priv.mm_lock.lock();
    if mn.is_none() {
        let prepared = hotplug::i915_mmu_notifier_create(k, mm); // cpus_read_lock()
        *mn = Some(mm.notifiers.register(prepared));
    }
}

/// Runs the four paths; the reports raised.
pub fn run() -> Vec<Report> {
    hotplug::run(i915_gem_userptr_ioctl)
}

fn main() -> ExitCode {
    set_action(Action::Warn); // the default action panics on a report
    println!(
        "Four paths run one after another, each on its own thread: nothing waits.\n\
         cpuhp/1     holds cpu_hotplug_lock (write), waits for (complete)req.done\n\
         kdevtmpfs   holds (complete)req.done, takes inode->i_rwsem (write)\n\
         ls          holds inode->i_rwsem (read), faults: mm->mmap_lock (read)\n\
         prime_mmap  holds mm->mmap_lock (write) and dev_priv->mm_lock, allocates\n\
         \x20           a work queue: cpu_hotplug_lock (read)\n\
         No two of these locks are ever taken in both orders, yet the four paths\n\
         deadlock if they run at once."
    );
    // Each path's thread captures its reports (to check them below); they
    // are printed as warn mode would print them.
    let reports = run();
    if !hotplug::validating() {
        return ExitCode::SUCCESS;
    }
    println!("The validator:\n");
    for r in &reports {
        eprintln!("{r}");
    }

    // Check what the text above claims.
    let five = reports.iter().filter(|r| names_the_cycle(r)).count();
    let others: Vec<&Report> = reports.iter().filter(|r| !names_the_cycle(r)).collect();
    let stray = others.iter().any(|r| {
        r.kind() != ReportKind::CircularDependency || r.classes().iter().any(|c| !CYCLE.contains(c))
    });
    let edges: HashSet<(usize, usize)> = graph().edges.iter().map(|e| (e.from, e.to)).collect();
    let inverted_pair = edges.iter().any(|&(a, b)| edges.contains(&(b, a)));
    if five != 1 || stray || inverted_pair {
        println!(
            "\nUNEXPECTED: {five} report(s) of the five-lock cycle (expected 1), {} other(s){}",
            others.len(),
            if inverted_pair {
                ", and a pair of locks taken in both orders"
            } else {
                ""
            }
        );
        return ExitCode::FAILURE;
    }
    println!("\nThe cycle through all five was reported, with both sites of every edge.");
    for r in others {
        println!(
            "Also reported: {} (prime_mmap holds mmap_lock as well as mm_lock, so its read of \
             cpu_hotplug_lock closes a cycle through each).",
            r.classes().join(" -> ")
        );
    }
    println!("The fix, preallocating the notifier: cargo run --example hotplug_fixed");
    ExitCode::SUCCESS
}

/// Whether `r` reports the circular dependency through the five classes of
/// [`CYCLE`], in its order, with a code site at both ends of every edge.
pub fn names_the_cycle(r: &Report) -> bool {
    let classes = r.classes();
    let mut rotations = (0..CYCLE.len()).map(|i| CYCLE.iter().cycle().skip(i).take(CYCLE.len()));
    r.kind() == ReportKind::CircularDependency
        && classes.len() == CYCLE.len()
        && rotations.any(|rot| rot.eq(classes.iter()))
        && r.edges()
            .iter()
            .all(|d| d.held_at.location().is_some() && d.taken_at.location().is_some())
}
