//! The behaviours parking_lot 0.13 checks in its own unit tests (the
//! `tests` modules of `rwlock.rs`, `recursive_rwlock.rs`, `mutex.rs`,
//! `fair_mutex.rs` and `condvar.rs`), re-expressed in our own words and run
//! against kernsync's locks: once against the order-checked types (`RwSem`,
//! `Mutex`, `Condvar`; test path `<behaviour>::typed`) and once against
//! lock_api's wrappers over the raw locks (`lock_api::RwLock<RawRwSem, _>`,
//! `lock_api::Mutex<RawMutex, _>`, `lock_api::Condvar<RawCondvar>`; test
//! path `<behaviour>::raw`).
//!
//! Where the validator (on in debug builds) or our API differs from
//! parking_lot's, the test says so in a comment starting `Adaptation:`.
//! Iteration counts are scaled down from parking_lot's so the file runs in
//! a few seconds in a debug build on two cores.
#![cfg(not(loom))]

use kernsync_lockdep::{held_locks, COMPILED_IN};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The order-checked flavour: kernsync's own types under parking_lot's names.
mod typed {
    pub use kernsync_rwsem::{
        Condvar, MappedMutexGuard, MappedRwSemReadGuard as MappedRwLockReadGuard,
        MappedRwSemWriteGuard as MappedRwLockWriteGuard, Mutex, MutexGuard, RwSem as RwLock,
        RwSemReadGuard as RwLockReadGuard, RwSemUpgradableReadGuard as RwLockUpgradableReadGuard,
        RwSemWriteGuard as RwLockWriteGuard,
    };

    /// What `{:?}` of the rwlock starts with.
    pub const RWLOCK_DEBUG_NAME: &str = "RwSem";

    /// Whether the validator tracks these locks (when it is compiled in).
    pub const TRACKED: bool = true;

    /// A read that never queues behind a waiting writer.
    #[track_caller]
    pub fn read_recursive<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
        lock.read_recursive()
    }

    /// [`read_recursive`] if it can be had at once.
    #[track_caller]
    pub fn try_read_recursive<T: ?Sized>(lock: &RwLock<T>) -> Option<RwLockReadGuard<'_, T>> {
        lock.try_read_recursive()
    }

    /// Whether a writer has queued up behind the current readers. The typed
    /// lock exposes no queue state, so this asks the observable question: a
    /// plain read can no longer get in although only readers hold the lock.
    pub fn writer_is_waiting<T: ?Sized>(lock: &RwLock<T>) -> bool {
        !lock.is_locked_exclusive() && lock.try_read().is_none()
    }
}

/// The raw flavour: lock_api's wrappers over kernsync's raw locks (no
/// validator involved).
mod raw {
    use kernsync_rwsem::{RawCondvar, RawMutex, RawRwSem};

    pub type RwLock<T> = lock_api::RwLock<RawRwSem, T>;
    pub type RwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawRwSem, T>;
    pub type RwLockWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, RawRwSem, T>;
    pub type RwLockUpgradableReadGuard<'a, T> =
        lock_api::RwLockUpgradableReadGuard<'a, RawRwSem, T>;
    pub type MappedRwLockReadGuard<'a, T> = lock_api::MappedRwLockReadGuard<'a, RawRwSem, T>;
    pub type MappedRwLockWriteGuard<'a, T> = lock_api::MappedRwLockWriteGuard<'a, RawRwSem, T>;
    pub type Mutex<T> = lock_api::Mutex<RawMutex, T>;
    pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawMutex, T>;
    pub type MappedMutexGuard<'a, T> = lock_api::MappedMutexGuard<'a, RawMutex, T>;
    pub type Condvar = lock_api::Condvar<RawCondvar>;

    /// What `{:?}` of the rwlock starts with.
    pub const RWLOCK_DEBUG_NAME: &str = "RwLock";

    /// Whether the validator tracks these locks: the raw locks never report.
    pub const TRACKED: bool = false;

    /// A read that never queues behind a waiting writer: lock_api 0.5 has no
    /// trait for it, so it goes through the raw lock's own recursive read.
    pub fn read_recursive<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
        // SAFETY: the raw lock is only used to make one more shared
        // acquisition, which is handed straight to a guard below; no live
        // guard or reference is affected.
        let state = unsafe { lock.raw() }.lock_shared_recursive_guard();
        // SAFETY: `state` is the guard state of the shared acquisition of
        // this lock made just above, and no other guard owns it.
        unsafe { lock.make_read_guard_unchecked(state) }
    }

    /// [`read_recursive`] if it can be had at once.
    pub fn try_read_recursive<T: ?Sized>(lock: &RwLock<T>) -> Option<RwLockReadGuard<'_, T>> {
        // SAFETY: as in `read_recursive`: at most one more shared
        // acquisition, handed straight to a guard.
        let state = unsafe { lock.raw() }.try_lock_shared_recursive_guard()?;
        // SAFETY: `state` is the guard state of the shared acquisition of
        // this lock made just above, and no other guard owns it.
        Some(unsafe { lock.make_read_guard_unchecked(state) })
    }

    /// Whether a thread is parked on the lock (parking_lot's test waits for
    /// `has_parked_threads` in the same way).
    pub fn writer_is_waiting<T: ?Sized>(lock: &RwLock<T>) -> bool {
        // SAFETY: only a read-only query of the raw lock's state.
        unsafe { lock.raw() }.has_parked_threads()
    }
}

/// `both!(name, { body });` runs one test body against both flavours:
/// `<name>::typed` with the names of [`typed`] in scope, `<name>::raw` with
/// those of [`raw`]. The body's tokens keep their own source positions, so
/// each lock the typed variant builds is a validator class of its own line
/// and column (its class is where it is written, not where the macro is).
/// The `(name, { .. })` form is an expression list, which rustfmt formats.
macro_rules! both {
    ($name:ident, $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn typed() {
                #[allow(unused_imports)]
                use crate::typed::*;
                $body
            }

            #[test]
            fn raw() {
                #[allow(unused_imports)]
                use crate::raw::*;
                $body
            }
        }
    };
}

/// Long enough for anything that is going to happen.
const PATIENCE: Duration = Duration::from_secs(10);
/// The timeout for an acquisition or wait that is expected to time out.
const SHORT: Duration = Duration::from_millis(20);

/// Polls `cond` until it holds; fails the test after [`PATIENCE`].
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let give_up = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < give_up, "timed out waiting until {what}");
        thread::yield_now();
    }
}

/// A small xorshift generator (the suite has no `rand` dependency).
struct XorShift(u64);

impl XorShift {
    fn seeded(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// True with probability `1 / n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0.is_multiple_of(n)
    }
}

/// Counts how many times it was dropped.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Debug, PartialEq, Eq)]
struct NotCopy(i32);

// ---------------------------------------------------------------------------
// RwLock (parking_lot's rwlock.rs)
// ---------------------------------------------------------------------------

both!(rwlock_every_mode_locks_and_unlocks, {
    let lock = RwLock::new(());
    drop(lock.read());
    assert!(!lock.is_locked());
    drop(lock.write());
    assert!(!lock.is_locked());
    drop(lock.upgradable_read());
    assert!(!lock.is_locked());
    // Adaptation: parking_lot takes `read()` twice here. A second plain
    // read on a thread that already reads can deadlock behind a waiting
    // writer (the lock is task-fair), and the validator reports it by
    // design; the second read is a recursive one.
    let both_reads = (lock.read(), read_recursive(&lock));
    assert!(lock.is_locked() && !lock.is_locked_exclusive());
    drop(both_reads);
    // Adaptation: parking_lot takes `read()` then `upgradable_read()`.
    // That can deadlock too (the upgradable read queues behind a waiting
    // writer that waits for our read) and is reported; upgradable first,
    // then a recursive read, is the deadlock-free way to hold both.
    let up_then_read = (lock.upgradable_read(), read_recursive(&lock));
    assert!(lock.try_write().is_none());
    drop(up_then_read);
    let mut w = lock.write();
    *w = ();
    assert!(lock.is_locked_exclusive());
    drop(w);
    assert!(!lock.is_locked());
});

/// The raw lock itself does allow two plain reads on one thread when no
/// writer waits (parking_lot's smoke test relies on it); only the validator
/// of the typed lock forbids it.
#[test]
fn raw_rwlock_two_plain_reads_on_one_thread_without_a_writer() {
    let lock = raw::RwLock::new(5);
    let (a, b) = (lock.read(), lock.read());
    assert_eq!(*a + *b, 10);
    drop((a, b));
    let (a, up) = (lock.read(), lock.upgradable_read());
    assert_eq!(*a, *up);
    drop((a, up));
    assert!(!lock.is_locked());
}

both!(rwlock_random_read_write_mix_from_many_threads, {
    // parking_lot's "frob" (rwlock.rs and recursive_rwlock.rs): many
    // threads, mostly reads, some writes. Here the writers keep two counters
    // equal, so a reader that overlaps a writer, or a lost write, fails the
    // test; a nested recursive read that waited for a waiting writer would
    // hang it.
    const THREADS: u64 = 8;
    const ROUNDS: usize = 500;
    let lock = Arc::new(RwLock::new((0usize, 0usize)));
    let writes = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..THREADS)
        .map(|i| {
            let lock = Arc::clone(&lock);
            let writes = Arc::clone(&writes);
            thread::spawn(move || {
                let mut rng = XorShift::seeded(i + 1);
                for _ in 0..ROUNDS {
                    if rng.one_in(THREADS) {
                        let mut w = lock.write();
                        w.0 += 1;
                        thread::yield_now();
                        w.1 += 1;
                        writes.fetch_add(1, Ordering::Relaxed);
                    } else {
                        let r = lock.read();
                        assert_eq!(r.0, r.1, "a reader saw a half-done write");
                        // From recursive_rwlock.rs's frob: reads nested in
                        // reads, often while a writer waits.
                        if rng.one_in(4) {
                            let again = read_recursive(&lock);
                            assert_eq!(*again, *r);
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let (a, b) = *lock.read();
    assert_eq!((a, b), (writes.load(Ordering::Relaxed), a));
});

both!(rwlock_is_not_poisoned_by_a_panicking_holder, {
    // The four cases of parking_lot's `test_rw_arc_no_poison_{wr,ww,rr,rw}`:
    // a thread panics holding the lock (for writing or reading); the
    // lock is free afterwards and its data as left, for a reader and a
    // writer alike.
    for (panic_while_writing, then_write) in
        [(true, false), (true, true), (false, false), (false, true)]
    {
        let lock = Arc::new(RwLock::new(1));
        let lock2 = Arc::clone(&lock);
        let joined = thread::spawn(move || {
            if panic_while_writing {
                let _w = lock2.write();
                panic!("deliberate panic while writing");
            } else {
                let _r = lock2.read();
                panic!("deliberate panic while reading");
            }
        })
        .join();
        assert!(joined.is_err());
        assert!(!lock.is_locked(), "the panic left the lock held");
        if then_write {
            let mut w = lock.try_write().expect("lock poisoned or still held");
            assert_eq!(*w, 1);
            *w = 2;
        } else {
            assert_eq!(*lock.try_read().expect("lock still held"), 1);
        }
    }
});

both!(rwlock_upgradable_readers_and_a_writer_never_overlap, {
    // parking_lot's `test_ruw_arc`: a writer and five upgradable readers
    // each add one in two visible steps (-1, then the new value);
    // plain readers must never see the -1.
    let lock = Arc::new(RwLock::new(0i32));
    let writer = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            for _ in 0..10 {
                let mut w = lock.write();
                let before = *w;
                *w = -1;
                thread::yield_now();
                *w = before + 1;
            }
        })
    };
    let mut others = Vec::new();
    for _ in 0..5 {
        let lock = Arc::clone(&lock);
        others.push(thread::spawn(move || {
            let up = lock.upgradable_read();
            let seen = *up;
            assert!(seen >= 0, "an upgradable reader saw a write in progress");
            thread::yield_now();
            let mut w = RwLockUpgradableReadGuard::upgrade(up);
            assert_eq!(*w, seen, "someone wrote between the read and the upgrade");
            *w = -1;
            thread::yield_now();
            *w = seen + 1;
        }));
    }
    for _ in 0..5 {
        let lock = Arc::clone(&lock);
        others.push(thread::spawn(move || {
            assert!(*lock.read() >= 0, "a reader saw a write in progress");
        }));
    }
    for t in others {
        t.join().unwrap();
    }
    writer.join().unwrap();
    assert_eq!(*lock.read(), 15);
});

both!(rwlock_readers_never_see_a_long_write_in_progress, {
    // parking_lot's `test_rw_arc`: one write guard held over ten steps.
    let lock = Arc::new(RwLock::new(0i32));
    let writer = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let mut w = lock.write();
            for _ in 0..10 {
                let before = *w;
                *w = -1;
                thread::yield_now();
                *w = before + 1;
            }
        })
    };
    let readers: Vec<_> = (0..5)
        .map(|_| {
            let lock = Arc::clone(&lock);
            thread::spawn(move || {
                let seen = *lock.read();
                assert!(seen == 0 || seen == 10, "saw {seen} mid-write");
            })
        })
        .collect();
    for r in readers {
        r.join().unwrap();
    }
    writer.join().unwrap();
    assert_eq!(*lock.read(), 10);
});

both!(rwlock_can_be_written_from_a_drop_during_unwinding, {
    struct WriteOnDrop(Arc<RwLock<i32>>);
    impl Drop for WriteOnDrop {
        fn drop(&mut self) {
            *self.0.write() += 1;
        }
    }
    let lock = Arc::new(RwLock::new(1));
    let lock2 = Arc::clone(&lock);
    let joined = thread::spawn(move || {
        let _on_unwind = WriteOnDrop(lock2);
        panic!("deliberate panic to unwind through a lock user");
    })
    .join();
    assert!(joined.is_err());
    assert_eq!(*lock.read(), 2);
});

both!(rwlock_of_an_unsized_slice_by_coercion, {
    let lock: &RwLock<[i32]> = &RwLock::new([1, 2, 3]);
    {
        let mut w = lock.write();
        w[0] = 4;
        w[2] = 5;
        assert_eq!(w.len(), 3);
    }
    assert_eq!(&*lock.read(), &[4, 2, 5][..]);
    let boxed: Box<RwLock<[u8]>> = Box::new(RwLock::new([7u8; 4]));
    assert_eq!(boxed.read().iter().map(|&b| u32::from(b)).sum::<u32>(), 28);
});

both!(rwlock_waiting_writer_blocks_new_readers, {
    // parking_lot's `test_read_with_waiting_writer`: task fairness.
    let lock = Arc::new(RwLock::new(()));
    let first = lock.read();
    let writer = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || drop(lock.write()))
    };
    eventually("the writer waits", || writer_is_waiting(&lock));
    assert!(
        lock.try_read().is_none(),
        "a new reader got past a waiting writer"
    );
    assert!(!writer.is_finished());
    drop(first);
    writer.join().unwrap();
    assert!(lock.try_read().is_some());
});

both!(rwlock_read_recursive_passes_a_waiting_writer, {
    // The counterpart parking_lot checks with `read_recursive` (its
    // RecursiveRwLock): a thread that reads can read again even while a
    // writer waits, where a plain read would deadlock.
    let lock = Arc::new(RwLock::new(7));
    let first = lock.read();
    let writer = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || *lock.write() += 1)
    };
    eventually("the writer waits", || writer_is_waiting(&lock));
    let again = read_recursive(&lock);
    assert_eq!((*first, *again), (7, 7));
    assert!(!writer.is_finished(), "the writer got in past two readers");
    drop(again);
    drop(first);
    writer.join().unwrap();
    assert_eq!(*lock.read(), 8);
});

/// The typed lock's own recursive-read variants (try, timed) while a writer
/// waits.
#[test]
fn typed_try_read_recursive_passes_a_waiting_writer() {
    let lock = Arc::new(kernsync_rwsem::RwSem::new(1));
    let first = lock.read();
    let writer = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || *lock.write() = 2)
    };
    eventually("the writer waits", || typed::writer_is_waiting(&lock));
    let again = lock
        .try_read_recursive()
        .expect("recursive try_read refused");
    let third = lock
        .try_read_recursive_for(SHORT)
        .expect("timed recursive read refused");
    assert_eq!(*first + *again + *third, 3);
    drop((first, again, third));
    writer.join().unwrap();
    assert_eq!(*lock.read_recursive(), 2);
}

both!(
    rwlock_recursive_reads_and_their_bump_pass_a_waiting_writer,
    {
        // recursive_rwlock.rs's `recursive_read_with_waiting_writer`: with two
        // reads held and a writer waiting, a third recursive read still gets
        // in, and bumping a recursive read relocks it past the writer (a plain
        // relock would wait for the writer, which waits for our other read).
        let lock = Arc::new(RwLock::new(()));
        let first = lock.read();
        let mut second = read_recursive(&lock);
        let writer = {
            let lock = Arc::clone(&lock);
            thread::spawn(move || drop(lock.write()))
        };
        eventually("the writer waits", || writer_is_waiting(&lock));
        assert!(
            try_read_recursive(&lock).is_some(),
            "a recursive try_read queued behind the writer"
        );
        RwLockReadGuard::bump(&mut second);
        assert!(!writer.is_finished(), "the writer got in past a held read");
        drop(first);
        drop(second);
        writer.join().unwrap();
        assert!(!lock.is_locked());
    }
);

both!(rwlock_upgrade_after_a_nested_read_came_and_went, {
    // recursive_rwlock.rs's `upgrade`.
    let lock = RwLock::new(1);
    let up = lock.upgradable_read();
    let nested = read_recursive(&lock);
    assert_eq!(*nested, 1);
    drop(nested);
    let mut w = RwLockUpgradableReadGuard::upgrade(up);
    *w = 2;
    drop(w);
    assert_eq!(*lock.read(), 2);
});

both!(
    rwlock_try_read_succeeds_beside_readers_and_fails_beside_a_writer,
    {
        let lock = RwLock::new(0isize);
        {
            let _r = lock.read();
            assert!(
                lock.try_read().is_some(),
                "try_read refused beside a reader"
            );
        }
        {
            let _u = lock.upgradable_read();
            assert!(
                lock.try_read().is_some(),
                "try_read refused beside an upgradable reader"
            );
        }
        {
            let _w = lock.write();
            assert!(lock.try_read().is_none(), "try_read got in beside a writer");
        }
        assert!(lock.try_read().is_some());
    }
);

both!(rwlock_try_write_fails_while_held_in_any_mode, {
    let lock = RwLock::new(0isize);
    {
        let _r = lock.read();
        assert!(
            lock.try_write().is_none(),
            "try_write got in beside a reader"
        );
        assert!(lock.is_locked() && !lock.is_locked_exclusive());
    }
    {
        let _u = lock.upgradable_read();
        assert!(
            lock.try_write().is_none(),
            "try_write got in beside an upgradable reader"
        );
        assert!(lock.is_locked() && !lock.is_locked_exclusive());
    }
    {
        let _w = lock.write();
        assert!(
            lock.try_write().is_none(),
            "try_write got in beside a writer"
        );
        assert!(lock.is_locked() && lock.is_locked_exclusive());
    }
    assert!(lock.try_write().is_some());
});

both!(
    rwlock_try_upgradable_read_excludes_only_upgraders_and_writers,
    {
        let lock = RwLock::new(0isize);
        {
            let _r = lock.read();
            assert!(
                lock.try_upgradable_read().is_some(),
                "try_upgradable_read refused beside a reader"
            );
        }
        {
            let _u = lock.upgradable_read();
            assert!(
                lock.try_upgradable_read().is_none(),
                "two upgradable readers at once"
            );
        }
        {
            let _w = lock.write();
            assert!(
                lock.try_upgradable_read().is_none(),
                "try_upgradable_read got in beside a writer"
            );
        }
        assert!(lock.try_upgradable_read().is_some());
    }
);

both!(rwlock_is_locked_tells_shared_from_exclusive, {
    let lock = RwLock::new(0isize);
    assert!(!lock.is_locked() && !lock.is_locked_exclusive());
    {
        let _r = lock.read();
        assert!(lock.is_locked() && !lock.is_locked_exclusive());
    }
    {
        let _w = lock.write();
        assert!(lock.is_locked() && lock.is_locked_exclusive());
    }
    assert!(!lock.is_locked() && !lock.is_locked_exclusive());
});

both!(rwlock_into_inner_and_get_mut_reach_the_data, {
    let lock = RwLock::new(NotCopy(10));
    assert_eq!(lock.into_inner(), NotCopy(10));

    let mut lock = RwLock::new(NotCopy(10));
    *lock.get_mut() = NotCopy(20);
    assert_eq!(lock.into_inner(), NotCopy(20));
});

both!(rwlock_into_inner_moves_the_data_out_without_dropping_it, {
    let drops = Arc::new(AtomicUsize::new(0));
    let lock = RwLock::new(DropCounter(Arc::clone(&drops)));
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    let inner = lock.into_inner();
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(inner);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
});

both!(rwlock_downgrade_keeps_out_other_writers, {
    // parking_lot's `test_rwlock_downgrade`: what a writer wrote is what
    // it reads after the downgrade, with no writer in between.
    let lock = Arc::new(RwLock::new(0));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let lock = Arc::clone(&lock);
            thread::spawn(move || {
                for _ in 0..100 {
                    let mut w = lock.write();
                    *w += 1;
                    let wrote = *w;
                    let r = RwLockWriteGuard::downgrade(w);
                    thread::yield_now();
                    assert_eq!(*r, wrote, "a writer got in during a downgrade");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(*lock.read(), 800);
});

both!(rwlock_upgrade_waits_for_the_other_readers, {
    let lock = Arc::new(RwLock::new(0));
    let reader_left = Arc::new(AtomicBool::new(false));
    let (inside_tx, inside_rx) = channel();
    let (leave_tx, leave_rx) = channel::<()>();
    let up = lock.upgradable_read();
    let reader = {
        let lock = Arc::clone(&lock);
        let reader_left = Arc::clone(&reader_left);
        thread::spawn(move || {
            let r = lock.read();
            inside_tx.send(()).unwrap();
            leave_rx.recv().unwrap();
            thread::sleep(SHORT);
            reader_left.store(true, Ordering::SeqCst);
            drop(r);
        })
    };
    inside_rx.recv().unwrap();
    let up = RwLockUpgradableReadGuard::try_upgrade(up)
        .expect_err("try_upgrade succeeded beside another reader");
    leave_tx.send(()).unwrap();
    let mut w = RwLockUpgradableReadGuard::upgrade(up);
    assert!(
        reader_left.load(Ordering::SeqCst),
        "upgrade returned while another reader was inside"
    );
    *w = 1;
    drop(w);
    reader.join().unwrap();
    assert_eq!(*lock.read(), 1);
});

both!(rwlock_downgrades_between_all_three_modes, {
    let lock = RwLock::new(1);
    let w = lock.write();
    let up = RwLockWriteGuard::downgrade_to_upgradable(w);
    assert!(!lock.is_locked_exclusive());
    assert!(
        lock.try_read().is_some(),
        "readers kept out after a downgrade"
    );
    assert!(lock.try_upgradable_read().is_none());
    let mut w = RwLockUpgradableReadGuard::try_upgrade(up).expect("no other readers");
    *w = 2;
    let up = RwLockWriteGuard::downgrade_to_upgradable(w);
    let r = RwLockUpgradableReadGuard::downgrade(up);
    assert_eq!(*r, 2);
    assert!(
        lock.try_upgradable_read().is_some(),
        "the upgradable slot stayed taken after downgrading it"
    );
    drop(r);
    assert!(!lock.is_locked());
});

both!(rwlock_with_upgraded_writes_and_comes_back_upgradable, {
    // parking_lot's `test_issue_430` (there on an Arc guard): upgrading
    // in place twice in a row.
    let lock = RwLock::new(0);
    let mut up = lock.upgradable_read();
    up.with_upgraded(|v| *v += 1);
    let seen = up.with_upgraded(|v| {
        *v += 1;
        *v
    });
    assert_eq!((seen, *up), (2, 2));
    assert!(
        lock.try_upgradable_read().is_none(),
        "the guard is upgradable again"
    );
    assert_eq!(up.try_with_upgraded(|v| *v * 10), Some(20));
    drop(up);
    assert!(!lock.is_locked());
});

both!(rwlock_read_guards_and_write_guards_are_sync, {
    fn shareable<T: Sync>(_: &T) {}
    let lock = RwLock::new(());
    shareable(&lock.read());
    shareable(&lock.write());
    shareable(&lock.upgradable_read());
});

both!(rwlock_debug_shows_the_data_or_locked, {
    let lock = RwLock::new(vec![0u8, 10]);
    assert_eq!(
        format!("{lock:?}"),
        format!("{RWLOCK_DEBUG_NAME} {{ data: [0, 10] }}")
    );
    let r = lock.read();
    // A read does not hide the data: Debug itself only reads.
    assert_eq!(
        format!("{lock:?}"),
        format!("{RWLOCK_DEBUG_NAME} {{ data: [0, 10] }}")
    );
    drop(r);
    let _w = lock.write();
    assert_eq!(
        format!("{lock:?}"),
        format!("{RWLOCK_DEBUG_NAME} {{ data: <locked> }}")
    );
});

both!(rwlock_clone_through_a_read_guard_clones_the_data, {
    let lock = RwLock::new(Arc::new(1));
    let guard = lock.read();
    // The guard is not Clone: this clones the Arc inside.
    let cloned = guard.clone();
    assert_eq!(Arc::strong_count(&cloned), 2);
});

both!(rwlock_taken_by_a_thread_local_destructor, {
    // parking_lot's `test_issue_203`: a thread-local whose destructor
    // takes a lock, on a thread that has used another lock.
    static DESTRUCTOR_RAN: AtomicBool = AtomicBool::new(false);
    struct WritesOnDrop(RwLock<()>);
    impl Drop for WritesOnDrop {
        fn drop(&mut self) {
            let _w = self.0.write();
            DESTRUCTOR_RAN.store(true, Ordering::SeqCst);
        }
    }
    thread_local! {
        static TLS: WritesOnDrop = const { WritesOnDrop(RwLock::new(())) };
    }
    thread::spawn(|| {
        TLS.with(|_| ());
        let other = RwLock::new(());
        let _r = other.read();
    })
    .join()
    .unwrap();
    assert!(DESTRUCTOR_RAN.load(Ordering::SeqCst));
});

both!(rwlock_timed_acquisitions_give_up_then_succeed, {
    let lock = Arc::new(RwLock::new(0));
    let (held_tx, held_rx) = channel();
    let (release_tx, release_rx) = channel::<()>();
    let holder = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let w = lock.write();
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            drop(w);
        })
    };
    held_rx.recv().unwrap();
    let start = Instant::now();
    assert!(lock.try_read_for(SHORT).is_none());
    assert!(start.elapsed() >= SHORT, "try_read_for gave up early");
    assert!(lock.try_write_for(SHORT).is_none());
    assert!(lock.try_upgradable_read_for(SHORT).is_none());
    let start = Instant::now();
    assert!(lock.try_read_until(start + SHORT).is_none());
    assert!(
        Instant::now() >= start + SHORT,
        "try_read_until gave up early"
    );
    assert!(lock.try_write_until(Instant::now() + SHORT).is_none());
    assert!(lock
        .try_upgradable_read_until(Instant::now() + SHORT)
        .is_none());
    release_tx.send(()).unwrap();
    *lock.try_write_for(PATIENCE).expect("write never came free") += 1;
    holder.join().unwrap();
    assert_eq!(*lock.try_read_until(Instant::now() + SHORT).unwrap(), 1);
    assert!(lock.try_upgradable_read_for(SHORT).is_some());
});

both!(rwlock_timed_out_writer_lets_readers_back_in, {
    // A writer that timed out waiting for a reader must withdraw its
    // claim: readers (and upgraders) are not left blocked behind it.
    let lock = Arc::new(RwLock::new(0));
    let (held_tx, held_rx) = channel();
    let (release_tx, release_rx) = channel::<()>();
    let reader = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let r = lock.read();
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            drop(r);
        })
    };
    held_rx.recv().unwrap();
    assert!(lock.try_write_for(SHORT).is_none());
    assert!(
        lock.try_read().is_some(),
        "a timed-out writer still blocks readers"
    );
    let up = lock
        .try_upgradable_read()
        .expect("a timed-out writer blocks upgraders");
    let up = RwLockUpgradableReadGuard::try_upgrade_for(up, SHORT)
        .expect_err("upgraded beside another reader");
    assert!(
        lock.try_read().is_some(),
        "a timed-out upgrade still blocks readers"
    );
    release_tx.send(()).unwrap();
    reader.join().unwrap();
    let mut w =
        RwLockUpgradableReadGuard::try_upgrade_for(up, PATIENCE).expect("upgrade never came free");
    *w = 3;
    drop(w);
    assert_eq!(*lock.read(), 3);
});

both!(rwlock_guards_map_to_a_part_of_the_data, {
    let lock = RwLock::new((1, String::from("a")));
    {
        let mut text = RwLockWriteGuard::map(lock.write(), |pair| &mut pair.1);
        text.push('b');
        assert!(
            lock.try_read().is_none(),
            "a mapped write guard let a reader in"
        );
        let mut narrower = MappedRwLockWriteGuard::map(text, |s| s);
        narrower.push('c');
    }
    let text = RwLockReadGuard::map(lock.read(), |pair| &pair.1);
    assert_eq!(&*text, "abc");
    assert!(
        lock.try_write().is_none(),
        "a mapped read guard let a writer in"
    );
    let len = MappedRwLockReadGuard::map(text, |s| s.as_bytes());
    assert_eq!(len.len(), 3);
    drop(len);
    let whole = lock.read();
    let whole = match RwLockReadGuard::try_map(whole, |pair| (pair.0 == 2).then_some(&pair.0)) {
        Ok(_) => panic!("try_map mapped although the closure refused"),
        Err(original) => original,
    };
    assert_eq!(whole.0, 1);
    let err = RwLockReadGuard::try_map_or_err(whole, |_| Err::<&i32, _>("no"));
    let (whole, why) = err.map(|_| ()).expect_err("mapped on Err");
    assert_eq!((whole.0, why), (1, "no"));
    drop(whole);
    assert!(!lock.is_locked());
});

// ---------------------------------------------------------------------------
// Mutex (parking_lot's mutex.rs and fair_mutex.rs)
// ---------------------------------------------------------------------------

both!(mutex_locks_and_unlocks, {
    let m = Mutex::new(());
    drop(m.lock());
    assert!(!m.is_locked());
    let g = m.lock();
    assert!(m.is_locked());
    drop(g);
    assert!(!m.is_locked());
});

both!(mutex_counts_every_increment_from_many_threads, {
    // parking_lot's `lots_and_lots` (1000 x 6 there, 500 x 6 here).
    const PER_THREAD: u32 = 500;
    const THREADS: u32 = 6;
    let m = Arc::new(Mutex::new(0u32));
    let (done_tx, done_rx) = channel();
    for _ in 0..THREADS {
        let m = Arc::clone(&m);
        let done_tx = done_tx.clone();
        thread::spawn(move || {
            for _ in 0..PER_THREAD {
                *m.lock() += 1;
            }
            done_tx.send(()).unwrap();
        });
    }
    drop(done_tx);
    for _ in 0..THREADS {
        done_rx.recv().unwrap();
    }
    assert_eq!(*m.lock(), PER_THREAD * THREADS);
});

both!(
    mutex_fair_unlocks_count_every_increment_from_many_threads,
    {
        // fair_mutex.rs's `lots_and_lots`: every unlock a fair hand-off.
        const PER_THREAD: u32 = 300;
        const THREADS: u32 = 6;
        let m = Arc::new(Mutex::new(0u32));
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    for _ in 0..PER_THREAD {
                        let mut g = m.lock();
                        *g += 1;
                        MutexGuard::unlock_fair(g);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(*m.lock(), PER_THREAD * THREADS);
        assert!(!m.is_locked());
    }
);

both!(mutex_try_lock_fails_only_while_held, {
    let m = Mutex::new(());
    let g = m.try_lock().expect("try_lock refused a free mutex");
    assert!(m.try_lock().is_none(), "try_lock got a held mutex");
    drop(g);
    *m.try_lock().expect("try_lock refused after unlock") = ();
});

both!(mutex_into_inner_and_get_mut_reach_the_data, {
    let m = Mutex::new(NotCopy(10));
    assert_eq!(m.into_inner(), NotCopy(10));

    let mut m = Mutex::new(NotCopy(10));
    *m.get_mut() = NotCopy(20);
    assert_eq!(m.into_inner(), NotCopy(20));
});

both!(mutex_into_inner_moves_the_data_out_without_dropping_it, {
    let drops = Arc::new(AtomicUsize::new(0));
    let m = Mutex::new(DropCounter(Arc::clone(&drops)));
    let inner = m.into_inner();
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(inner);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
});

both!(mutex_and_condvar_hand_a_flag_over, {
    // parking_lot's `test_mutex_arc_condvar`.
    let shared = Arc::new((Mutex::new(false), Condvar::new()));
    let (parent_in_tx, parent_in_rx) = channel();
    let child = {
        let shared = Arc::clone(&shared);
        thread::spawn(move || {
            parent_in_rx.recv().unwrap();
            let (flag, cv) = &*shared;
            *flag.lock() = true;
            cv.notify_one();
        })
    };
    let (flag, cv) = &*shared;
    let mut g = flag.lock();
    parent_in_tx.send(()).unwrap();
    assert!(!*g);
    while !*g {
        cv.wait(&mut g);
    }
    drop(g);
    child.join().unwrap();
});

both!(mutex_nested_in_a_mutex_is_reachable_through_both, {
    // parking_lot's `test_mutex_arc_nested`: outer then inner. The two
    // mutexes are made on different lines, so for the validator they are
    // two classes and the nesting is an ordinary outer -> inner order.
    let inner = Arc::new(Mutex::new(1));
    let outer = Arc::new(Mutex::new(inner));
    let (tx, rx) = channel();
    let t = thread::spawn(move || {
        let out = outer.lock();
        let inn = out.lock();
        tx.send(*inn).unwrap();
    });
    assert_eq!(rx.recv().unwrap(), 1);
    t.join().unwrap();
});

both!(mutex_can_be_locked_from_a_drop_during_unwinding, {
    struct IncrementOnDrop(Arc<Mutex<i32>>);
    impl Drop for IncrementOnDrop {
        fn drop(&mut self) {
            *self.0.lock() += 1;
        }
    }
    let m = Arc::new(Mutex::new(1));
    let m2 = Arc::clone(&m);
    let joined = thread::spawn(move || {
        let _on_unwind = IncrementOnDrop(m2);
        panic!("deliberate panic to unwind through a lock user");
    })
    .join();
    assert!(joined.is_err());
    assert_eq!(*m.lock(), 2);
});

both!(mutex_is_not_poisoned_by_a_panicking_holder, {
    let m = Arc::new(Mutex::new(1));
    let m2 = Arc::clone(&m);
    let joined = thread::spawn(move || {
        let mut g = m2.lock();
        *g = 5;
        panic!("deliberate panic while holding the mutex");
    })
    .join();
    assert!(joined.is_err());
    assert!(!m.is_locked());
    assert_eq!(*m.try_lock().expect("poisoned or still held"), 5);
});

both!(mutex_of_an_unsized_slice_by_coercion, {
    let m: &Mutex<[i32]> = &Mutex::new([1, 2, 3]);
    {
        let mut g = m.lock();
        g[0] = 4;
        g[2] = 5;
    }
    assert_eq!(&*m.lock(), &[4, 2, 5][..]);
});

both!(mutex_guard_is_sync, {
    fn shareable<T: Sync>(_: &T) {}
    let m = Mutex::new(());
    shareable(&m.lock());
});

both!(mutex_debug_shows_the_data_or_locked, {
    let m = Mutex::new(vec![0u8, 10]);
    assert_eq!(format!("{m:?}"), "Mutex { data: [0, 10] }");
    let _g = m.lock();
    assert_eq!(format!("{m:?}"), "Mutex { data: <locked> }");
});

both!(mutex_try_map_or_err_returns_the_guard_when_refused, {
    // parking_lot's `test_map_or_err_not_mapped`.
    let m = Mutex::new(std::collections::HashMap::from([(
        String::from("hello"),
        String::from("world"),
    )]));
    let g = match MutexGuard::try_map_or_err(m.lock(), |map| map.get_mut("absent").ok_or(12345)) {
        Ok(_) => panic!("mapped to an absent key"),
        Err((g, code)) => {
            assert_eq!(code, 12345);
            assert_eq!(g.get("hello").map(String::as_str), Some("world"));
            g
        }
    };
    assert!(
        m.try_lock().is_none(),
        "the returned guard no longer holds the lock"
    );
    let value = MutexGuard::try_map_or_err(g, |map| map.get_mut("hello").ok_or(()))
        .expect("the key is there");
    assert_eq!(value.as_str(), "world");
    match MappedMutexGuard::try_map_or_err(value, |s| {
        if s == "world" {
            Err(45678)
        } else {
            Ok(s.as_mut_str())
        }
    }) {
        Ok(_) => panic!("mapped although the closure refused"),
        Err((back, code)) => assert_eq!((back.as_str(), code), ("world", 45678)),
    }
    assert!(!m.is_locked());
});

both!(mutex_try_map_or_err_maps_when_accepted, {
    // parking_lot's `test_map_or_err_mapped`, plus plain `map`.
    let m = Mutex::new(std::collections::HashMap::from([(
        String::from("hello"),
        String::from("world"),
    )]));
    let value = MutexGuard::try_map_or_err(m.lock(), |map| map.get_mut("hello").ok_or(()))
        .expect("the key is there");
    let mut text = MappedMutexGuard::try_map_or_err(value, |s| {
        if s == "world" {
            Ok(s.as_mut_str())
        } else {
            Err(())
        }
    })
    .expect("the closure accepted");
    assert_eq!(&*text, "world");
    text.make_ascii_uppercase();
    drop(text);
    let upper = MutexGuard::map(m.lock(), |map| map.get_mut("hello").unwrap());
    assert_eq!(upper.as_str(), "WORLD");
});

both!(mutex_timed_lock_gives_up_then_succeeds, {
    let m = Arc::new(Mutex::new(0));
    let (held_tx, held_rx) = channel();
    let (release_tx, release_rx) = channel::<()>();
    let holder = {
        let m = Arc::clone(&m);
        thread::spawn(move || {
            let g = m.lock();
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            drop(g);
        })
    };
    held_rx.recv().unwrap();
    let start = Instant::now();
    assert!(m.try_lock_for(SHORT).is_none());
    assert!(start.elapsed() >= SHORT, "try_lock_for gave up early");
    let start = Instant::now();
    assert!(m.try_lock_until(start + SHORT).is_none());
    assert!(
        Instant::now() >= start + SHORT,
        "try_lock_until gave up early"
    );
    release_tx.send(()).unwrap();
    *m.try_lock_for(PATIENCE).expect("the mutex never came free") += 1;
    holder.join().unwrap();
    assert_eq!(*m.try_lock_until(Instant::now() + SHORT).unwrap(), 1);
});

// ---------------------------------------------------------------------------
// Condvar (parking_lot's condvar.rs)
// ---------------------------------------------------------------------------

both!(condvar_notify_without_waiters_does_nothing, {
    let cv = Condvar::new();
    assert!(!cv.notify_one());
    assert_eq!(cv.notify_all(), 0);
});

both!(condvar_notify_one_wakes_the_waiter_and_says_so, {
    // parking_lot's `notify_one` and `notify_one_return_true`: a single,
    // unlooped wait (no spurious wakeups).
    let m = Arc::new(Mutex::new(()));
    let cv = Arc::new(Condvar::new());
    let mut g = m.lock();
    let notifier = {
        let (m, cv) = (Arc::clone(&m), Arc::clone(&cv));
        thread::spawn(move || {
            let _g = m.lock();
            assert!(cv.notify_one(), "notify_one found no waiter");
        })
    };
    cv.wait(&mut g);
    drop(g);
    notifier.join().unwrap();
});

both!(condvar_notify_all_wakes_every_waiter_and_counts_them, {
    // parking_lot's `notify_all` and `notify_all_return`.
    const WAITERS: usize = 10;
    let shared = Arc::new((Mutex::new(0usize), Condvar::new()));
    let (tx, rx) = channel();
    for _ in 0..WAITERS {
        let shared = Arc::clone(&shared);
        let tx = tx.clone();
        thread::spawn(move || {
            let (count, cv) = &*shared;
            let mut g = count.lock();
            *g += 1;
            if *g == WAITERS {
                tx.send(()).unwrap();
            }
            while *g != 0 {
                cv.wait(&mut g);
            }
            tx.send(()).unwrap();
        });
    }
    drop(tx);
    let (count, cv) = &*shared;
    rx.recv().unwrap();
    let mut g = count.lock();
    *g = 0;
    // Everyone has released the mutex into `wait` before we could lock it.
    assert_eq!(cv.notify_all(), WAITERS);
    drop(g);
    for _ in 0..WAITERS {
        rx.recv_timeout(PATIENCE).expect("a waiter was not woken");
    }
    assert_eq!(cv.notify_all(), 0);
});

both!(condvar_wait_for_times_out_then_is_notified, {
    let m = Arc::new(Mutex::new(()));
    let cv = Arc::new(Condvar::new());
    let mut g = m.lock();
    let start = Instant::now();
    assert!(cv.wait_for(&mut g, Duration::from_millis(1)).timed_out());
    assert!(start.elapsed() >= Duration::from_millis(1));
    let notifier = {
        let (m, cv) = (Arc::clone(&m), Arc::clone(&cv));
        thread::spawn(move || {
            let _g = m.lock();
            cv.notify_one();
        })
    };
    let r = cv.wait_for(&mut g, Duration::from_millis(u64::from(u32::MAX)));
    assert!(!r.timed_out());
    drop(g);
    notifier.join().unwrap();
});

both!(condvar_wait_until_times_out_then_is_notified, {
    let m = Arc::new(Mutex::new(()));
    let cv = Arc::new(Condvar::new());
    let mut g = m.lock();
    let deadline = Instant::now() + Duration::from_millis(1);
    assert!(cv.wait_until(&mut g, deadline).timed_out());
    assert!(Instant::now() >= deadline);
    let notifier = {
        let (m, cv) = (Arc::clone(&m), Arc::clone(&cv));
        thread::spawn(move || {
            let _g = m.lock();
            cv.notify_one();
        })
    };
    let far = Instant::now() + Duration::from_millis(u64::from(u32::MAX));
    assert!(!cv.wait_until(&mut g, far).timed_out());
    drop(g);
    notifier.join().unwrap();
});

both!(condvar_wait_while_does_not_wait_when_already_false, {
    let m = Mutex::new(0u32);
    let cv = Condvar::new();
    let mut g = m.lock();
    cv.wait_while(&mut g, |calls| {
        *calls += 1;
        false
    });
    assert_eq!(*g, 1);
});

both!(condvar_wait_while_rechecks_after_each_notification, {
    // parking_lot's `wait_while`: the condition bumps a counter on every
    // check; a notifier wakes the waiter each time the counter reaches
    // the next epoch.
    const EPOCHS: u32 = 4;
    let m = Arc::new(Mutex::new(0u32));
    let cv = Arc::new(Condvar::new());
    let mut g = m.lock();
    let notifier = {
        let (m, cv) = (Arc::clone(&m), Arc::clone(&cv));
        thread::spawn(move || notify_per_epoch(&m, &cv, EPOCHS, None))
    };
    let mut check = |count: &mut u32| {
        *count += 1;
        *count <= EPOCHS
    };
    cv.wait_while(&mut g, &mut check);
    assert_eq!(*g, EPOCHS + 1);
    cv.wait_while(&mut g, &mut check);
    assert_eq!(*g, EPOCHS + 2);
    drop(g);
    notifier.join().unwrap();

    /// Notifies once the counter has reached each epoch in turn (or gives
    /// up at `until`), backing off so the waiter can take the mutex.
    fn notify_per_epoch(m: &Mutex<u32>, cv: &Condvar, epochs: u32, until: Option<Instant>) {
        for epoch in 1..=epochs {
            let mut backoff = Duration::from_millis(1);
            loop {
                let g = m.lock();
                if until.is_some_and(|t| Instant::now() >= t) {
                    return;
                }
                if *g == epoch {
                    break;
                }
                drop(g);
                thread::sleep(backoff);
                backoff *= 2;
            }
            cv.notify_one();
        }
    }
});

both!(condvar_wait_while_until_times_out_while_still_true, {
    // parking_lot's `wait_while_until_times_out_before_false`.
    const EPOCHS: u32 = 3;
    let m = Arc::new(Mutex::new(0u32));
    let cv = Arc::new(Condvar::new());
    let mut g = m.lock();
    let deadline = Instant::now() + Duration::from_millis(500);
    let notifier = {
        let (m, cv) = (Arc::clone(&m), Arc::clone(&cv));
        thread::spawn(move || {
            for epoch in 1..=EPOCHS {
                let mut backoff = Duration::from_millis(1);
                loop {
                    let g = m.lock();
                    if Instant::now() >= deadline {
                        return;
                    }
                    if *g == epoch {
                        break;
                    }
                    drop(g);
                    thread::sleep(backoff);
                    backoff *= 2;
                }
                cv.notify_one();
            }
        })
    };
    let r = cv.wait_while_until(
        &mut g,
        |count| {
            *count += 1;
            true
        },
        deadline,
    );
    assert!(r.timed_out());
    assert!(Instant::now() >= deadline);
    // One check per epoch, one before the timed-out wait, one after it.
    assert_eq!(*g, EPOCHS + 2);
    drop(g);
    notifier.join().unwrap();
});

both!(condvar_wait_while_until_rechecks_after_the_deadline, {
    // parking_lot's `wait_while_until_rechecks_condition_after_timeout`:
    // a condition that turns false during the timed-out wait is not
    // reported as a timeout.
    let m = Mutex::new(());
    let cv = Condvar::new();
    let mut checks = 0;
    let mut g = m.lock();
    let r = cv.wait_while_until(
        &mut g,
        |_| {
            checks += 1;
            checks == 1
        },
        Instant::now(),
    );
    assert!(!r.timed_out());
    assert_eq!(checks, 2);
});

both!(condvar_wait_while_for_times_out_after_the_duration, {
    let m = Mutex::new(0u32);
    let cv = Condvar::new();
    let mut g = m.lock();
    let start = Instant::now();
    let r = cv.wait_while_for(&mut g, |_| true, SHORT);
    assert!(r.timed_out());
    assert!(start.elapsed() >= SHORT);
    assert!(!cv.wait_while_for(&mut g, |_| false, SHORT).timed_out());
});

both!(
    condvar_refuses_a_second_mutex_while_waiters_use_the_first,
    {
        // parking_lot's `two_mutexes`. Adaptation: kernsync's panic message
        // ("...used with two different mutexes at once...") differs from
        // parking_lot's ("attempted to use a condition variable with more
        // than one mutex"), so the message is matched on its own words; and
        // the panic is caught rather than expected with `should_panic`, so
        // the test can also check what the panic leaves behind.
        let first = Arc::new(Mutex::new(()));
        let second = Mutex::new(());
        let cv = Arc::new(Condvar::new());
        let (waiting_tx, waiting_rx) = channel();
        let g = first.lock();
        let child = {
            let (first, cv) = (Arc::clone(&first), Arc::clone(&cv));
            thread::spawn(move || {
                let mut g = first.lock();
                waiting_tx.send(()).unwrap();
                cv.wait(&mut g);
            })
        };
        drop(g);
        waiting_rx.recv().unwrap();
        // Locking `first` proves the child is parked in `wait`.
        let held = first.lock();
        let payload = catch_unwind(AssertUnwindSafe(|| cv.wait(&mut second.lock())))
            .expect_err("waited with a second mutex while the first had waiters");
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or_default();
        assert!(
            message.contains("two different mutexes"),
            "unexpected panic: {message:?}"
        );
        // The refused wait unwound holding `second`, and released it.
        assert!(
            second.try_lock().is_some(),
            "the refused wait left its mutex held"
        );
        // The validator's held-lock stack is back to just `first`.
        assert_eq!(held_locks().len(), usize::from(TRACKED && COMPILED_IN));
        // The child still waits, with the first mutex: it can be notified.
        assert!(cv.notify_one(), "the child's wait was lost");
        drop(held);
        child.join().unwrap();
    }
);

both!(condvar_may_switch_mutex_once_no_one_waits, {
    // parking_lot's `two_mutexes_disjoint`.
    let first = Arc::new(Mutex::new(()));
    let second = Mutex::new(());
    let cv = Arc::new(Condvar::new());
    let mut g = first.lock();
    let notifier = {
        let (first, cv) = (Arc::clone(&first), Arc::clone(&cv));
        thread::spawn(move || {
            let _g = first.lock();
            cv.notify_one();
        })
    };
    cv.wait(&mut g);
    drop(g);
    notifier.join().unwrap();
    assert!(cv
        .wait_for(&mut second.lock(), Duration::from_millis(1))
        .timed_out());
});

both!(condvar_debug_hides_its_state, {
    assert_eq!(format!("{:?}", Condvar::new()), "Condvar { .. }");
});

both!(condvar_notify_requeues_a_waiter_onto_a_held_mutex, {
    // parking_lot's `test_condvar_requeue`: the notifier holds the mutex,
    // bumping it until the child has got in and waits; the child is then
    // moved to the mutex and woken by our unlock.
    let m = Arc::new(Mutex::new(()));
    let cv = Arc::new(Condvar::new());
    let child = {
        let (m, cv) = (Arc::clone(&m), Arc::clone(&cv));
        thread::spawn(move || {
            let mut g = m.lock();
            cv.wait(&mut g);
        })
    };
    let mut g = m.lock();
    let give_up = Instant::now() + PATIENCE;
    while !cv.notify_one() {
        assert!(Instant::now() < give_up, "the child never waited");
        MutexGuard::bump(&mut g);
        thread::yield_now();
    }
    drop(g);
    child.join().unwrap();
});

both!(condvar_waiters_woken_one_by_one_pass_the_wakeup_on, {
    // parking_lot's `test_issue_129`: each woken waiter does a short
    // timed wait, then wakes the next one.
    let shared = Arc::new((Mutex::new(0), Condvar::new()));
    let (tx, rx) = channel();
    for _ in 0..4 {
        let shared = Arc::clone(&shared);
        let tx = tx.clone();
        thread::spawn(move || {
            let (count, cv) = &*shared;
            let mut g = count.lock();
            *g += 1;
            cv.wait(&mut g);
            cv.wait_for(&mut g, Duration::from_millis(1));
            cv.notify_one();
            tx.send(()).unwrap();
        });
    }
    eventually("all four wait", || *shared.0.lock() == 4);
    shared.1.notify_one();
    for _ in 0..4 {
        assert_eq!(rx.recv_timeout(Duration::from_secs(2)), Ok(()));
    }
});

both!(condvar_bounded_queue_moves_every_message_once, {
    // parking_lot's WebKit-derived queue test, scaled down: producers
    // wait while the queue is full, consumers while it is empty; every
    // message must come out exactly once.
    #[derive(Clone, Copy)]
    enum Wake {
        One,
        AllOnTransition,
    }
    struct Queue {
        items: std::collections::VecDeque<usize>,
        open: bool,
    }
    struct Shared {
        queue: Mutex<Queue>,
        not_empty: Condvar,
        not_full: Condvar,
        out: Mutex<Vec<usize>>,
    }
    fn wake(cv: &Condvar, how: Wake, transition: bool) {
        match how {
            Wake::One => {
                cv.notify_one();
            }
            Wake::AllOnTransition if transition => {
                cv.notify_all();
            }
            Wake::AllOnTransition => {}
        }
    }
    fn wait_until_true(
        cv: &Condvar,
        g: &mut MutexGuard<'_, Queue>,
        bound: Option<Duration>,
        ready: impl Fn(&Queue) -> bool,
    ) {
        while !ready(g) {
            match bound {
                Some(d) => {
                    cv.wait_for(g, d);
                }
                None => cv.wait(g),
            }
        }
    }
    fn run(
        producers: usize,
        consumers: usize,
        cap: usize,
        per_producer: usize,
        how: Wake,
        bound: Option<Duration>,
    ) {
        let s = Arc::new(Shared {
            queue: Mutex::new(Queue {
                items: Default::default(),
                open: true,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            out: Mutex::new(Vec::new()),
        });
        let consumer_threads: Vec<_> = (0..consumers)
            .map(|_| {
                let s = Arc::clone(&s);
                thread::spawn(move || loop {
                    let mut q = s.queue.lock();
                    wait_until_true(&s.not_empty, &mut q, bound, |q| {
                        !q.items.is_empty() || !q.open
                    });
                    let Some(item) = q.items.pop_front() else {
                        return; // closed and drained
                    };
                    let was_full = q.items.len() + 1 == cap;
                    drop(q);
                    wake(&s.not_full, how, was_full);
                    s.out.lock().push(item);
                })
            })
            .collect();
        let producer_threads: Vec<_> = (0..producers)
            .map(|_| {
                let s = Arc::clone(&s);
                thread::spawn(move || {
                    for item in 0..per_producer {
                        let mut q = s.queue.lock();
                        wait_until_true(&s.not_full, &mut q, bound, |q| q.items.len() < cap);
                        let was_empty = q.items.is_empty();
                        q.items.push_back(item);
                        drop(q);
                        wake(&s.not_empty, how, was_empty);
                    }
                })
            })
            .collect();
        for p in producer_threads {
            p.join().expect("a producer panicked");
        }
        s.queue.lock().open = false;
        s.not_empty.notify_all();
        for c in consumer_threads {
            c.join().expect("a consumer panicked");
        }
        let mut out = std::mem::take(&mut *s.out.lock());
        assert_eq!(out.len(), producers * per_producer);
        out.sort_unstable();
        for (i, item) in out.iter().enumerate() {
            assert_eq!(*item, i / producers, "message lost or duplicated");
        }
    }
    let bounded = Some(Duration::from_secs(1));
    run(1, 1, 1, 2_000, Wake::AllOnTransition, bounded);
    run(1, 1, 1, 2_000, Wake::AllOnTransition, None);
    run(1, 5, 1, 1_000, Wake::AllOnTransition, None);
    run(1, 1, 100, 5_000, Wake::AllOnTransition, None);
    run(10, 1, 1, 200, Wake::AllOnTransition, None);
    run(10, 1, 100, 200, Wake::One, None);
    run(1, 10, 1, 1_000, Wake::AllOnTransition, None);
    run(1, 10, 100, 2_000, Wake::One, None);
    run(10, 10, 1, 200, Wake::AllOnTransition, None);
    run(10, 10, 100, 200, Wake::One, None);
});

// ---------------------------------------------------------------------------
// Send / Sync
// ---------------------------------------------------------------------------

/// Fails to compile if `$t` is `$auto` (the probe is ambiguous then).
macro_rules! assert_not {
    ($auto:path, $t:ty) => {{
        trait Probe<Which> {
            fn probe() {}
        }
        impl<T: ?Sized> Probe<()> for T {}
        struct Implemented;
        impl<T: ?Sized + $auto> Probe<Implemented> for T {}
        <$t as Probe<_>>::probe();
    }};
}

both!(locks_are_send_and_sync_and_guards_sync_but_not_send, {
    fn send_sync<T: ?Sized + Send + Sync>() {}
    fn sync<T: ?Sized + Sync>() {}
    send_sync::<RwLock<Vec<u8>>>();
    send_sync::<RwLock<[u8]>>();
    send_sync::<Mutex<Vec<u8>>>();
    send_sync::<Mutex<std::cell::Cell<u8>>>();
    send_sync::<Condvar>();
    sync::<RwLockReadGuard<'static, u8>>();
    sync::<RwLockWriteGuard<'static, u8>>();
    sync::<RwLockUpgradableReadGuard<'static, u8>>();
    sync::<MutexGuard<'static, u8>>();
    // A reader shares the data between threads: a !Sync payload makes
    // the rwlock !Sync (the mutex hands it to one thread at a time).
    assert_not!(Sync, RwLock<std::cell::Cell<u8>>);
    assert_not!(Send, Mutex<std::rc::Rc<u8>>);
    // Guards stay on the thread that locked (parking_lot's default, and
    // for the validator's per-thread held-lock stack).
    assert_not!(Send, RwLockReadGuard<'static, u8>);
    assert_not!(Send, RwLockWriteGuard<'static, u8>);
    assert_not!(Send, RwLockUpgradableReadGuard<'static, u8>);
    assert_not!(Send, MutexGuard<'static, u8>);
    assert_not!(Send, MappedMutexGuard<'static, u8>);
    assert_not!(Send, MappedRwLockReadGuard<'static, u8>);
    assert_not!(Send, MappedRwLockWriteGuard<'static, u8>);
});
