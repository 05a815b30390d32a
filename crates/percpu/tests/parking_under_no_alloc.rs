//! parking_lot_core allocates its hash table on the first park or unpark in a
//! process. A `PercpuRwSem` write unlock always asks it to wake parked
//! readers, so the first write of a process allocated there, and under a
//! caller's `no_alloc` scope (a notifier chain's `register` links its node in
//! one) the validator blamed the caller. The lock's parking runs as its own
//! internals: nothing is reported.
//!
//! One test in this binary, so this write is the process's first contact with
//! parking_lot_core.

use kernsync_lockdep::{capture, no_alloc, CheckedAlloc, LockClass};
use kernsync_percpu::PercpuRwSem;

#[global_allocator]
static ALLOC: CheckedAlloc = CheckedAlloc::new(std::alloc::System);

static HOTPLUG: LockClass = LockClass::new("cpu_hotplug_lock");

#[test]
fn first_write_of_the_process_parks_nothing_on_the_callers_account() {
    let lock = PercpuRwSem::with_class(0u32, &HOTPLUG);
    // The reader's slot is claimed outside: a thread's first read may
    // allocate (documented), later ones never do.
    drop(lock.read());
    let ((), reports) = capture(|| {
        no_alloc(|| {
            *lock.write() += 1;
            drop(lock.read());
        })
    });
    assert!(
        reports.is_empty(),
        "parking_lot_core's own allocations were blamed on the caller: {reports:#?}"
    );
    assert_eq!(*lock.read(), 1);
}
