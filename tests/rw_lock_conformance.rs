//! One reader/writer conformance suite for kernsync's two reader/writer
//! locks: what `RwSem` (kernsync-rwsem) and `PercpuRwSem` (kernsync-percpu)
//! both promise, written once and run against three flavours:
//!
//! - `<behaviour>::rwsem`: `kernsync::rwsem::RwSem` (order-checked);
//! - `<behaviour>::raw_rwsem`: lock_api's `RwLock` over `RawRwSem` (no
//!   validator: the lock's own state machine);
//! - `<behaviour>::percpu`: `kernsync::percpu::PercpuRwSem` (order-checked).
//!
//! The behaviours are the ones both crates used to port separately from the
//! peers' reader/writer-lock tests (parking_lot 0.13's `src/rwlock.rs`, std's
//! `library/std/src/sync/rwlock/tests.rs`); each test names the peer tests it
//! re-expresses. Where the two ports differed, the test keeps the stronger
//! assertions of both. What only one lock has (upgradable and recursive
//! reads, downgrades, `Srcu`, percpu's reader slots) is tested in its own
//! crate.
//!
//! Why a `macro_rules!` suite and not generic functions over a trait: the
//! bodies need what generic code cannot say on stable Rust. An unsized lock
//! made by coercion (`&RwLock<[i32]>` from `&RwLock<[i32; 3]>`) needs the
//! concrete type; and each `RwLock::new` must be written in the test body,
//! so that its validator class is the line where it is written
//! (`#[track_caller]`), not one line inside a trait impl shared by every
//! lock of the suite. The macro keeps the body's tokens with their own
//! positions and puts each flavour's names (`RwLock`, its guards,
//! `DEBUG_NAME`, `writer_is_waiting`, `readers`) in scope; the
//! `(name, { .. })` form is an expression list, which rustfmt formats.
//!
//! It lives in the facade's `tests/` because it needs both crates (and
//! kernsync-percpu depends on kernsync-rwsem, not the other way round).
#![cfg(not(loom))]

use kernsync::lockdep::{held_locks, COMPILED_IN};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// `RwSem`: the order-checked rwsem under the suite's names.
mod rwsem {
    pub use kernsync::rwsem::{
        MappedRwSemReadGuard as MappedRwLockReadGuard,
        MappedRwSemWriteGuard as MappedRwLockWriteGuard, RwSem as RwLock,
        RwSemReadGuard as RwLockReadGuard, RwSemWriteGuard as RwLockWriteGuard,
    };

    /// What `{:?}` of the lock starts with.
    pub const DEBUG_NAME: &str = "RwSem";

    /// Whether a writer waits behind the current readers. The typed lock
    /// shows no queue, so this asks the observable question: a plain read
    /// can no longer get in although only readers hold the lock.
    pub fn writer_is_waiting<T: ?Sized>(lock: &RwLock<T>) -> bool {
        !lock.is_locked_exclusive() && lock.try_read().is_none()
    }

    /// How many reads the lock counts: `RwSem` keeps no count to ask.
    pub fn readers<T: ?Sized>(_: &RwLock<T>) -> Option<usize> {
        None
    }
}

/// lock_api's wrapper over the raw rwsem (no validator involved).
mod raw_rwsem {
    use kernsync::rwsem::RawRwSem;

    pub type RwLock<T> = lock_api::RwLock<RawRwSem, T>;
    pub type RwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawRwSem, T>;
    pub type RwLockWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, RawRwSem, T>;
    pub type MappedRwLockReadGuard<'a, T> = lock_api::MappedRwLockReadGuard<'a, RawRwSem, T>;
    pub type MappedRwLockWriteGuard<'a, T> = lock_api::MappedRwLockWriteGuard<'a, RawRwSem, T>;

    /// What `{:?}` of the lock starts with.
    pub const DEBUG_NAME: &str = "RwLock";

    /// Whether a thread is parked on the lock.
    pub fn writer_is_waiting<T: ?Sized>(lock: &RwLock<T>) -> bool {
        // SAFETY: only a read-only query of the raw lock's state.
        unsafe { lock.raw() }.has_parked_threads()
    }

    /// How many reads the lock counts: the raw rwsem keeps no count to ask.
    pub fn readers<T: ?Sized>(_: &RwLock<T>) -> Option<usize> {
        None
    }
}

/// `PercpuRwSem` under the suite's names.
mod percpu {
    pub use kernsync::percpu::{
        MappedPercpuReadGuard as MappedRwLockReadGuard,
        MappedPercpuWriteGuard as MappedRwLockWriteGuard, PercpuReadGuard as RwLockReadGuard,
        PercpuRwSem as RwLock, PercpuWriteGuard as RwLockWriteGuard,
    };

    /// What `{:?}` of the lock starts with.
    pub const DEBUG_NAME: &str = "PercpuRwSem";

    /// Whether a writer holds or waits for the lock: a waiting writer has
    /// already closed the lock to new readers and says so.
    pub fn writer_is_waiting<T: ?Sized>(lock: &RwLock<T>) -> bool {
        lock.is_locked_exclusive()
    }

    /// How many reads the lock counts, over all threads' slots.
    pub fn readers<T: ?Sized>(lock: &RwLock<T>) -> Option<usize> {
        Some(lock.readers())
    }
}

/// `each_rw_lock!(name, { body });` runs one test body against every
/// flavour: `<name>::rwsem`, `<name>::raw_rwsem` and `<name>::percpu`, each
/// with that flavour's names in scope.
macro_rules! each_rw_lock {
    ($name:ident, $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn rwsem() {
                #[allow(unused_imports)]
                use crate::rwsem::*;
                $body
            }

            #[test]
            fn raw_rwsem() {
                #[allow(unused_imports)]
                use crate::raw_rwsem::*;
                $body
            }

            #[test]
            fn percpu() {
                #[allow(unused_imports)]
                use crate::percpu::*;
                $body
            }
        }
    };
}

/// Long enough for anything that is going to happen.
const PATIENCE: Duration = Duration::from_secs(10);

/// Polls `cond` (yielding, never sleeping) until it holds; fails the test
/// after [`PATIENCE`] instead of hanging.
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let give_up = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < give_up, "timed out waiting until {what}");
        thread::yield_now();
    }
}

/// The validator's held-lock stack of this thread is empty (trivially so
/// when the validator is not compiled in, and for the raw flavour, which
/// never reports).
fn assert_nothing_held(when: &str) {
    if COMPILED_IN {
        let held = held_locks();
        assert!(
            held.is_empty(),
            "{when}: the validator still holds {held:?}"
        );
    }
}

/// Counts its drops in a shared counter.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Debug, PartialEq, Eq)]
struct NotCopy(i32);

/// Sends, when dropped, whether its thread's held-lock stack is empty: put
/// it before a guard, and unwinding drops the guard first.
struct ReportHeldOnDrop(Sender<bool>);

impl Drop for ReportHeldOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(!COMPILED_IN || held_locks().is_empty());
    }
}

each_rw_lock!(readers_never_see_a_long_write_in_progress, {
    // One write guard held over ten steps, each passing through -1. Readers
    // started before the writer took the lock see 0 or 10; readers started
    // once it holds the lock must wait for it and see exactly 10 (std and
    // parking_lot only check that no reader sees -1).
    let lock = Arc::new(RwLock::new(0i32));
    let (held_tx, held_rx) = channel();
    let writer = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let mut w = lock.write();
            held_tx.send(()).unwrap();
            for _ in 0..10 {
                let before = *w;
                *w = -1;
                thread::yield_now();
                *w = before + 1;
            }
        })
    };
    let spawn_reader = |lock: &Arc<RwLock<i32>>| {
        let lock = Arc::clone(lock);
        thread::spawn(move || *lock.read())
    };
    let early: Vec<_> = (0..3).map(|_| spawn_reader(&lock)).collect();
    held_rx.recv().unwrap();
    let late: Vec<_> = (0..3).map(|_| spawn_reader(&lock)).collect();
    for r in early {
        let seen = r.join().unwrap();
        assert!(seen == 0 || seen == 10, "a reader saw {seen} mid-write");
    }
    for r in late {
        assert_eq!(r.join().unwrap(), 10, "a reader got in beside the writer");
    }
    writer.join().unwrap();
    assert_eq!(*lock.read(), 10);
});

each_rw_lock!(the_lock_can_be_taken_from_a_drop_during_unwinding, {
    // std and parking_lot's test_rw_arc_access_in_unwind: a value whose
    // drop writes the lock, dropped by a panic. Here its drop reads too,
    // and the same happens on this thread under catch_unwind.
    struct UsesLockOnDrop(Arc<RwLock<i32>>);
    impl Drop for UsesLockOnDrop {
        fn drop(&mut self) {
            let before = *self.0.read();
            *self.0.write() = before + 1;
        }
    }
    let lock = Arc::new(RwLock::new(1));
    let joined = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let _on_unwind = UsesLockOnDrop(lock);
            panic!("deliberate panic to unwind through a lock user");
        })
        .join()
    };
    assert!(joined.is_err());
    assert_eq!(*lock.read(), 2);
    let here = catch_unwind(AssertUnwindSafe(|| {
        let _on_unwind = UsesLockOnDrop(Arc::clone(&lock));
        panic!("deliberate panic to unwind through a lock user here");
    }));
    assert!(here.is_err());
    assert_eq!(*lock.read(), 3);
    assert!(
        readers(&lock).is_none_or(|n| n == 0),
        "a read stayed counted"
    );
    assert_nothing_held("after unwinding through a lock user");
});

each_rw_lock!(
    a_thread_panicking_while_holding_the_lock_leaves_it_usable,
    {
        // parking_lot's four test_rw_arc_no_poison_{wr,ww,rr,rw}, and std's
        // poison tests with their mapped-guard variants. Adaptation: std
        // poisons the lock when a writer panics (`read()` then returns `Err`);
        // there is no poisoning here: the next reader or writer gets in and
        // sees the data as the panicking writer left it.
        for (panic_in_write, mapped, then_write) in [
            (true, false, false),
            (true, false, true),
            (false, false, false),
            (false, false, true),
            (true, true, false),
            (true, true, true),
            (false, true, false),
            (false, true, true),
        ] {
            let lock = Arc::new(RwLock::new(1));
            let (held_tx, held_rx) = channel();
            let joined = {
                let lock = Arc::clone(&lock);
                thread::spawn(move || {
                    let _report = ReportHeldOnDrop(held_tx);
                    if panic_in_write {
                        let mut w = lock.write();
                        *w = 2;
                        if mapped {
                            let _m = RwLockWriteGuard::map(w, |v| v);
                            panic!("deliberate panic holding a mapped write guard");
                        }
                        panic!("deliberate panic holding a write guard");
                    } else {
                        let r = lock.read();
                        if mapped {
                            let _m = RwLockReadGuard::map(r, |v| v);
                            panic!("deliberate panic holding a mapped read guard");
                        }
                        panic!("deliberate panic holding a read guard");
                    }
                })
                .join()
            };
            assert!(joined.is_err());
            assert!(
                held_rx.recv().unwrap(),
                "the validator kept the guard after unwinding"
            );
            assert!(!lock.is_locked(), "the panic left the lock held");
            assert!(
                readers(&lock).is_none_or(|n| n == 0),
                "the panic left a read counted"
            );
            let expected = if panic_in_write { 2 } else { 1 };
            if then_write {
                let mut w = lock.try_write().expect("the lock stayed held or poisoned");
                assert_eq!(*w, expected);
                *w = 3;
            } else {
                assert_eq!(*lock.try_read().expect("the lock stayed held"), expected);
            }
            // From rwsem's port of std's test_into_inner_poison and
            // test_get_mut_poison: `get_mut` and `into_inner` give the data
            // back, with no error to unwrap.
            let mut lock = Arc::try_unwrap(lock).unwrap_or_else(|_| panic!("an Arc was kept"));
            let seen = *lock.get_mut();
            assert_eq!(lock.into_inner(), seen);
        }
    }
);

each_rw_lock!(
    a_panic_inside_a_map_closure_releases_the_guard_without_poisoning,
    {
        // std's panic_while_mapping_read_unlocked_no_poison and
        // panic_while_mapping_write_unlocked_poison: the closure given to
        // `map`/`try_map` of a guard or a mapped guard panics; the guard is
        // released. Adaptation: std poisons the lock when the write-guard
        // closures panic; here the lock is simply free again.
        let lock = RwLock::new(5u32);
        /// A way to panic inside a mapping closure, and its name.
        type Case = (&'static str, fn(&RwLock<u32>));
        let cases: [Case; 8] = [
            ("read map", |l| {
                drop(RwLockReadGuard::map::<u32, _>(l.read(), |_| {
                    panic!("in map")
                }));
            }),
            ("read try_map", |l| {
                drop(RwLockReadGuard::try_map::<u32, _>(l.read(), |_| {
                    panic!("in try_map")
                }));
            }),
            ("mapped read map", |l| {
                let m = RwLockReadGuard::map(l.read(), |v| v);
                drop(MappedRwLockReadGuard::map::<u32, _>(m, |_| {
                    panic!("in map")
                }));
            }),
            ("mapped read try_map", |l| {
                let m = RwLockReadGuard::map(l.read(), |v| v);
                drop(MappedRwLockReadGuard::try_map::<u32, _>(m, |_| {
                    panic!("in try_map")
                }));
            }),
            ("write map", |l| {
                drop(RwLockWriteGuard::map::<u32, _>(l.write(), |_| {
                    panic!("in map")
                }));
            }),
            ("write try_map", |l| {
                drop(RwLockWriteGuard::try_map::<u32, _>(l.write(), |_| {
                    panic!("in try_map")
                }));
            }),
            ("mapped write map", |l| {
                let m = RwLockWriteGuard::map(l.write(), |v| v);
                drop(MappedRwLockWriteGuard::map::<u32, _>(m, |_| {
                    panic!("in map")
                }));
            }),
            ("mapped write try_map", |l| {
                let m = RwLockWriteGuard::map(l.write(), |v| v);
                drop(MappedRwLockWriteGuard::try_map::<u32, _>(m, |_| {
                    panic!("in try_map")
                }));
            }),
        ];
        for (what, case) in cases {
            assert!(catch_unwind(AssertUnwindSafe(|| case(&lock))).is_err());
            assert!(
                lock.try_write().is_some(),
                "a panic in {what} left the lock held"
            );
            assert!(
                readers(&lock).is_none_or(|n| n == 0),
                "a panic in {what} left a read counted"
            );
            assert_nothing_held(what);
        }
        assert_eq!(*lock.read(), 5);
    }
);

each_rw_lock!(a_lock_of_an_unsized_slice_by_coercion, {
    // parking_lot's and std's test_rwlock_unsized.
    let lock: &RwLock<[i32]> = &RwLock::new([1, 2, 3]);
    {
        let w = &mut *lock.write();
        w[0] = 4;
        w[2] = 5;
        assert_eq!(w.len(), 3);
    }
    assert_eq!(&*lock.read(), &[4, 2, 5][..]);
    assert_eq!(
        format!("{lock:?}"),
        format!("{DEBUG_NAME} {{ data: [4, 2, 5] }}")
    );
    let boxed: Box<RwLock<[u8]>> = Box::new(RwLock::new([7u8; 4]));
    thread::scope(|s| {
        s.spawn(|| assert_eq!(boxed.read().iter().map(|&b| u32::from(b)).sum::<u32>(), 28));
    });
    let tail = RwLockReadGuard::map(boxed.read(), |bytes| &bytes[2..]);
    assert_eq!(&*tail, &[7, 7][..]);
    assert!(boxed.try_write().is_none(), "a mapped read let a writer in");
});

each_rw_lock!(a_waiting_writer_holds_off_new_readers, {
    // parking_lot's test_read_with_waiting_writer (writer preference: both
    // locks are task-fair): while a writer waits for a read to end, a new
    // reader is kept out, on another thread and on the reading one alike.
    let lock = RwLock::new(0u32);
    let first = lock.read();
    thread::scope(|s| {
        let writer = s.spawn(|| *lock.write() = 1);
        until("the writer waits", || writer_is_waiting(&lock));
        s.spawn(|| {
            assert!(
                lock.try_read().is_none(),
                "a new reader got past a waiting writer"
            );
        })
        .join()
        .unwrap();
        assert!(lock.try_read().is_none(), "the reading thread got past it");
        assert!(!writer.is_finished(), "the writer got in beside a read");
        drop(first);
        writer.join().unwrap();
    });
    assert_eq!(*lock.try_read().expect("still held"), 1);
});

each_rw_lock!(into_inner_and_get_mut_reach_the_data, {
    // parking_lot's and std's test_into_inner and test_get_mut.
    let lock = RwLock::new(NotCopy(10));
    assert_eq!(lock.into_inner(), NotCopy(10));

    let mut lock = RwLock::new(NotCopy(10));
    *lock.get_mut() = NotCopy(20);
    assert_eq!(*lock.read(), NotCopy(20));
    // After other threads read it (each has a slot) and this one did too.
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| assert_eq!(*lock.read(), NotCopy(20)));
        }
    });
    lock.get_mut().0 += 1;
    assert_eq!(lock.into_inner(), NotCopy(21));
});

each_rw_lock!(into_inner_moves_the_data_out_without_dropping_it, {
    // parking_lot's and std's test_into_inner_drop.
    let drops = Arc::new(AtomicUsize::new(0));
    let lock = RwLock::new(DropCounter(Arc::clone(&drops)));
    drop(lock.read());
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    {
        let _inner = lock.into_inner();
        assert_eq!(drops.load(Ordering::SeqCst), 0);
    }
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    // Dropping the lock drops the data once.
    let lock = RwLock::new(DropCounter(Arc::clone(&drops)));
    drop(lock.write());
    drop(lock);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
});

each_rw_lock!(
    debug_shows_the_data_unless_a_writer_is_about_and_never_blocks,
    {
        let lock = RwLock::new(vec![0u8, 10]);
        assert_eq!(
            format!("{lock:?}"),
            format!("{DEBUG_NAME} {{ data: [0, 10] }}")
        );
        let r = lock.read();
        // Debug only tries a read: beside this thread's own read it gets in
        // (and, being a try, is no recursive read for the validator).
        assert_eq!(
            format!("{lock:?}"),
            format!("{DEBUG_NAME} {{ data: [0, 10] }}")
        );
        assert_eq!(format!("{r:?}"), "[0, 10]");
        thread::scope(|s| {
            let writer = s.spawn(|| lock.write().push(20));
            until("the writer waits", || writer_is_waiting(&lock));
            // A writer waits for our read: Debug must not wait for the writer.
            assert_eq!(
                format!("{lock:?}"),
                format!("{DEBUG_NAME} {{ data: <locked> }}")
            );
            drop(r);
            writer.join().unwrap();
        });
        let w = lock.write();
        assert_eq!(
            format!("{lock:?}"),
            format!("{DEBUG_NAME} {{ data: <locked> }}")
        );
        assert_eq!(format!("{w:?}"), "[0, 10, 20]");
        drop(w);
        assert_eq!(
            format!("{lock:#?}"),
            format!(
                "{DEBUG_NAME} {{\n    data: [\n        0,\n        10,\n        20,\n    ],\n}}"
            )
        );
        assert_nothing_held("after Debug");
    }
);

each_rw_lock!(clone_through_a_read_guard_clones_the_data, {
    // parking_lot's test_clone_through_guard (rwlock.rs).
    let lock = RwLock::new(Arc::new(1));
    let guard = lock.read();
    // The guard is not Clone: this clones the Arc inside it.
    let cloned = guard.clone();
    assert_eq!(Arc::strong_count(&cloned), 2);
    drop(guard);
    assert_eq!(Arc::strong_count(&lock.into_inner()), 2);
});

each_rw_lock!(a_mapped_read_guard_is_covariant_in_its_data, {
    // std's test_mapped_read_guard_covariance: a mapped guard of `&'long`
    // data is usable where `&'short` data is expected. Adaptation: std's
    // test_read_guard_covariance does not carry over: lock_api's
    // `RwLockReadGuard` holds `&RwLock<R, T>`, whose `UnsafeCell<T>` makes
    // it invariant in `T` (so the test would not compile).
    // A compile-time check: the body only has to build. Mapping a guard with
    // the identity (`RwLockReadGuard::map(g, |v| v)`) gives a covariant
    // guard, which is what a port does.
    fn take<'a>(_: MappedRwLockReadGuard<'_, &'a i32>, _: &'a i32) {}
    let long = 5;
    let lock = RwLock::new((&long, &long));
    {
        let short = 6;
        take(RwLockReadGuard::map(lock.read(), |pair| &pair.0), &short);
        let guard = RwLockReadGuard::map(lock.read(), |pair| pair);
        let guard = MappedRwLockReadGuard::map(guard, |(_, second)| second);
        take(guard, &short);
    }
    assert!(!lock.is_locked());
    assert_eq!(*lock.read().1, 5);
});
