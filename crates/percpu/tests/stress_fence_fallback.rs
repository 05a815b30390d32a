//! Bounded stress of `PercpuRwSem` on the fallback protocol, forced with
//! `KERNSYNC_PERCPU_BARRIER=fence` (what a process gets without membarrier:
//! an old kernel, another OS, a seccomp profile that refuses it). Readers
//! then always take the slow path, with a real fence in each lock and
//! unlock. Checks that the fallback was chosen, then runs compact versions
//! of `stress_bounded`'s exclusion and hammer workloads: readers on every
//! core against two writers (no overlap, no torn view, no lost update), and
//! every write done within a bound among hammering readers.
//!
//! The barrier is chosen once per process, on first use, so this file holds
//! a single test that sets the variable before any lock is used.
#![cfg(not(loom))]

mod common;

use common::{cores, Shared, Watchdog, WATCHDOG};
use kernsync_percpu::{Barrier, PercpuRwSem};

#[test]
fn fence_fallback_excludes_and_lets_writers_in_bounded() {
    // Before anything in this process uses a lock (this is the binary's
    // only test): the first use reads the variable.
    std::env::set_var("KERNSYNC_PERCPU_BARRIER", "fence");
    assert_eq!(kernsync_percpu::barrier(), Barrier::Fence);
    let _watchdog = Watchdog::new("fence_fallback_excludes_and_lets_writers_in", WATCHDOG);
    let readers = cores();

    let lock = PercpuRwSem::new(Shared::new());
    let start = std::time::Instant::now();
    let stats = common::exclusion(&lock, readers, 2, 300, 1_000, 100_000_000);
    eprintln!(
        "fence: {readers} readers, 2 writers, {:?}: {stats:?}",
        start.elapsed()
    );
    assert_eq!(stats.writes, 600);
    assert!(stats.reads >= readers, "the readers did not read");
    assert!(
        stats.interleaved_reads > 0,
        "no read saw an intermediate generation: the two sides never interleaved"
    );

    let lock = PercpuRwSem::new(Shared::new());
    let stats = common::hammer(&lock, readers, 100, 500_000_000);
    eprintln!(
        "fence hammer ({readers} readers, 100 writes): max write latency {:?}, mean {:?}, {} reads",
        stats.max_latency, stats.mean_latency, stats.reads
    );
    assert!(stats.reads >= readers, "the readers did not read");
    assert_eq!(kernsync_percpu::barrier(), Barrier::Fence);
}
