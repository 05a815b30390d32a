//! `hotplug_deadlock`, fixed as i915 fixed it after 4.14-rc1 (by
//! preallocating the MMU notifier): the notifier and its work queue are made
//! *before* `mmap_lock` is taken, and registering it under `mmap_lock` and
//! `mm_lock` only links the prepared node, allocating nothing.
//!
//! The same four paths run one after another, each on a thread of its own;
//! only the i915 userptr ioctl differs (compare it with the one in
//! `examples/hotplug_deadlock.rs`). `cpu_hotplug_lock` is now read with no
//! lock held, so the edge that closed the cycle is gone: no report. With
//! kernsync-notifier the split is the API: `prepare` allocates, `register`
//! cannot (it runs in the validator's `no_alloc`).
//!
//! Run: `cargo run --example hotplug_fixed` (exits non-zero if anything is
//! reported).

use std::process::ExitCode;

use kernsync::lockdep::{set_action, Action, Report};

mod hotplug;
use hotplug::{Kernel, Mm};

/// `i915_gem_userptr_ioctl` -> `i915_gem_userptr_init__mmu_notifier`,
/// fixed: the notifier is made with no lock held, then registered under
/// `mmap_lock` and `mm_lock` without allocating.
fn i915_gem_userptr_ioctl(k: &'static Kernel, mm: &'static Mm) {
    // Preallocate: the work queue (cpus_read_lock()) and the notifier's node.
    let prepared = hotplug::i915_mmu_notifier_create(k, mm);
    let _mmap = mm.mmap_lock.write(); // mmu_notifier_register() wants it for write
    let mut mn = k.dev_priv.mm_lock.lock();
    if mn.is_none() {
        *mn = Some(mm.notifiers.register(prepared)); // links it; allocates nothing
    }
    // Had another thread registered first, `prepared` would be dropped
    // unused here, after the locks (declared after it) are released.
}

/// Runs the four paths; the reports raised.
pub fn run() -> Vec<Report> {
    hotplug::run(i915_gem_userptr_ioctl)
}

fn main() -> ExitCode {
    set_action(Action::Warn); // the default action panics on a report
    println!(
        "The four paths of hotplug_deadlock, one after another on their own threads,\n\
         with the fix: prime_mmap allocates its work queue (cpu_hotplug_lock, read)\n\
         before it takes mm->mmap_lock, and registers the prepared notifier under\n\
         mm->mmap_lock and dev_priv->mm_lock without allocating."
    );
    let reports = run();
    if !hotplug::validating() {
        return ExitCode::SUCCESS;
    }
    for r in &reports {
        eprintln!("{r}");
    }
    if !reports.is_empty() {
        println!("UNEXPECTED: {} report(s)", reports.len());
        return ExitCode::FAILURE;
    }
    println!("No report: nothing reads cpu_hotplug_lock under mmap_lock any more.");
    ExitCode::SUCCESS
}
