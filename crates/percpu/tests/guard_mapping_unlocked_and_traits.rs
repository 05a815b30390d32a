//! `PercpuRwSem`'s guards: a panic holding one unwinds the lock and the
//! held stack, they map to a part of the data and keep the lock, step out
//! of the lock and back with `unlocked`; the lock is `Send` and `Sync`, its
//! guards `Sync` but not `Send`, and its raw lock has reads, writes and
//! timeouts and nothing else.
//!
//! Most tests re-express a test of parking_lot 0.13 (`src/rwlock.rs`) or of
//! std (`library/std/src/sync/rwlock/tests.rs`) and name it in their first
//! comment; `PercpuRwSem` has no upgradable reads, downgrades, recursive
//! reads, fair unlocks or poisoning, and a waiting writer has preference
//! over new readers: where a peer's test relies on one of those, a comment
//! starting `Adaptation:` says what is checked instead. The behaviours
//! `PercpuRwSem` shares with `RwSem` are checked once for both, in the
//! facade's `tests/rw_lock_conformance.rs`.
//!
//! Reads are `Read` for the validator: a second `read()` of a lock the
//! thread already reads is reported. Only the tests that mean to do that do
//! it, inside `capture`. No test sleeps to wait for something to happen:
//! threads are sequenced with channels, joins and atomics, and a test that
//! must know a writer waits polls the lock's own state, with a bound.
#![cfg(not(loom))]

#[path = "common/rw_checks.rs"]
mod rw_checks;

use kernsync_percpu::{
    CheckedRawPercpuRwSem, MappedPercpuReadGuard, MappedPercpuWriteGuard, PercpuReadGuard,
    PercpuRwSem, PercpuWriteGuard,
};
use rw_checks::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;

#[test]
fn a_panic_holding_a_guard_on_this_thread_unwinds_the_lock_and_the_held_stack() {
    let lock = PercpuRwSem::new(vec![1]);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _r = lock.read();
        assert!(lock.is_read_held_by_current_thread());
        panic!("deliberate panic holding a read guard");
    }));
    assert!(r.is_err());
    assert!(!lock.is_read_held_by_current_thread());
    assert_nothing_held("after a panic holding a read guard");
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut w = lock.write();
        w.push(2);
        panic!("deliberate panic holding a write guard");
    }));
    assert!(r.is_err());
    assert_nothing_held("after a panic holding a write guard");
    // No poisoning: the data as the panicking writer left it, for a reader
    // and a writer alike.
    assert_eq!(*lock.try_read().expect("still held"), [1, 2]);
    lock.try_write().expect("still held").push(3);
    assert_eq!(lock.readers(), 0);
    assert_eq!(lock.into_inner(), [1, 2, 3]);
}

#[test]
fn guards_map_to_a_part_of_the_data_and_keep_the_lock() {
    let mut lock = PercpuRwSem::new([0; 4]);
    {
        let half = PercpuWriteGuard::map(lock.write(), |arr| &mut arr[..2]);
        let mut one = MappedPercpuWriteGuard::map(half, |slice| &mut slice[1..]);
        assert_eq!(one.len(), 1);
        one[0] = 42;
        thread::scope(|s| {
            s.spawn(|| assert!(lock.try_read().is_none(), "a mapped write let a reader in"));
        });
    }
    assert_eq!(*lock.get_mut(), [0, 42, 0, 0]);
    {
        let half = PercpuReadGuard::map(lock.read(), |arr| &arr[..2]);
        let one = MappedPercpuReadGuard::map(half, |slice| &slice[1..]);
        assert_eq!(*one, [42]);
        assert!(lock.try_write().is_none(), "a mapped read let a writer in");
    }
    // try_map hands the guard back when the closure declines ...
    let whole = match PercpuReadGuard::try_map(lock.read(), |arr| arr.get(9)) {
        Ok(_) => panic!("mapped to an element that is not there"),
        Err(whole) => whole,
    };
    assert_eq!(whole[1], 42);
    let (whole, why) = match PercpuReadGuard::try_map_or_err(whole, |_| Err::<&i32, _>("no")) {
        Ok(_) => panic!("mapped although the closure failed"),
        Err(back) => back,
    };
    assert_eq!((whole[1], why), (42, "no"));
    drop(whole);
    // ... and maps when it accepts.
    let mut last = PercpuWriteGuard::try_map(lock.write(), |arr| arr.last_mut())
        .expect("try_map refused an element that is there");
    *last = 7;
    drop(last);
    let w = match PercpuWriteGuard::try_map(lock.write(), |_| None::<&mut i32>) {
        Ok(_) => panic!("mapped although the closure declined"),
        Err(w) => w,
    };
    assert!(lock.is_locked_exclusive(), "a declined try_map let go");
    drop(w);
    assert_eq!(lock.into_inner(), [0, 42, 0, 7]);
}

#[test]
fn a_guard_can_step_out_of_the_lock_and_back_with_unlocked() {
    // lock_api's `unlocked` (on parking_lot's guards too): the lock is
    // released while the closure runs, so another thread can write, and is
    // held again afterwards.
    let lock = PercpuRwSem::new(1);
    let mut r = lock.read();
    thread::scope(|s| {
        PercpuReadGuard::unlocked(&mut r, || {
            assert!(!lock.is_read_held_by_current_thread());
            assert_nothing_held("inside a read guard's unlocked");
            s.spawn(|| *lock.write() += 1).join().unwrap();
        });
    });
    assert_eq!(*r, 2);
    assert!(lock.try_write().is_none(), "the read was not taken again");
    drop(r);
    let mut w = lock.write();
    thread::scope(|s| {
        PercpuWriteGuard::unlocked(&mut w, || {
            assert_nothing_held("inside a write guard's unlocked");
            assert_eq!(s.spawn(|| *lock.read()).join().unwrap(), 2);
        });
    });
    *w += 1;
    assert!(lock.is_locked_exclusive(), "the write was not taken again");
    drop(w);
    assert_eq!(*lock.read(), 3);
}

#[test]
fn the_lock_is_send_and_sync_and_its_guards_sync_but_not_send() {
    fn send_sync<T: ?Sized + Send + Sync>() {}
    fn sync<T: ?Sized + Sync>() {}
    fn shareable<T: Sync>(_: &T) {}
    send_sync::<PercpuRwSem<Vec<u8>>>();
    send_sync::<PercpuRwSem<[u8]>>();
    let lock = PercpuRwSem::new(());
    // parking_lot's test_rwlockguard_sync: a guard can be shared.
    shareable(&lock.read());
    shareable(&lock.write());
    sync::<PercpuReadGuard<'static, u8>>();
    sync::<PercpuWriteGuard<'static, u8>>();
    sync::<MappedPercpuReadGuard<'static, u8>>();
    sync::<MappedPercpuWriteGuard<'static, u8>>();
    // Readers share the data between threads: a !Sync payload makes the
    // lock !Sync.
    assert_not_impl!(Sync, PercpuRwSem<std::cell::Cell<u8>>);
    assert_not_impl!(Send, PercpuRwSem<std::rc::Rc<u8>>);
    // A guard stays on the thread that locked: a read is counted in that
    // thread's own slot, and the validator's held-lock stack is per thread.
    assert_not_impl!(Send, PercpuReadGuard<'static, u8>);
    assert_not_impl!(Send, PercpuWriteGuard<'static, u8>);
    assert_not_impl!(Send, MappedPercpuReadGuard<'static, u8>);
    assert_not_impl!(Send, MappedPercpuWriteGuard<'static, u8>);
}

#[test]
fn the_raw_lock_has_reads_writes_and_timeouts_and_nothing_else() {
    // Adaptation, stated once for every test of the peers that needs an
    // operation `PercpuRwSem` does not have: parking_lot's upgradable reads
    // (smoke, test_ruw_arc, test_rwlock_try_upgrade, test_issue_430),
    // downgrades (parking_lot test_rwlock_downgrade, std
    // test_downgrade_basic/_observe/_atomic), fair unlocks and bumps. Each
    // `assert_not_impl!` stops compiling if the operation is added, so its
    // ported tests get written then.
    fn has<T: lock_api::RawRwLock + lock_api::RawRwLockTimed>() {}
    has::<CheckedRawPercpuRwSem>();
    has::<kernsync_percpu::RawPercpuRwSem>();
    assert_not_impl!(lock_api::RawRwLockUpgrade, CheckedRawPercpuRwSem);
    assert_not_impl!(lock_api::RawRwLockDowngrade, CheckedRawPercpuRwSem);
    assert_not_impl!(lock_api::RawRwLockFair, CheckedRawPercpuRwSem);
    // Adaptation: std's test_rw_arc_poison_*, test_into_inner_poison and
    // test_get_mut_poison check poisoning, which does not exist here (the
    // panic tests above check the lock is usable instead).
    // Adaptation: parking_lot's test_serde: `PercpuRwSem` does not
    // implement serde's traits.
}
