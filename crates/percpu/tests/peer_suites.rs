//! The behaviours two peers check in their own reader/writer-lock tests,
//! re-expressed in our own words and run against `PercpuRwSem`:
//!
//! - parking_lot 0.13, the `tests` module of `src/rwlock.rs` (tagged
//!   "parking_lot" below);
//! - Rust std, `library/std/src/sync/rwlock/tests.rs` (tagged "std").
//!
//! A user porting code from either lock can read here what carries over.
//! `PercpuRwSem` has reads, writes, their `try_*` and timed forms, guard
//! mapping and `unlocked`; it has no upgradable reads, no downgrade, no
//! recursive reads, no fair unlocks and no poisoning, and a waiting writer
//! has preference over new readers. Where a peer's test relies on one of
//! those, a comment starting `Adaptation:` says what we check instead, or
//! why nothing is checked.
//!
//! Reads are `Read` for the validator (on in debug builds, and in release
//! builds with the `lockdep` feature): a second `read()` of a lock the
//! thread already reads is reported, since a writer queued between the two
//! would hang the thread. Only the tests that mean to do that do it, inside
//! `capture`; every other test would panic on such a report.
//!
//! Iteration counts are scaled down from the peers' so the file runs in a
//! few seconds in a debug build on two cores. No test sleeps to wait for
//! something to happen: threads are sequenced with channels, joins and
//! atomics; where a test must know that a writer has started waiting it
//! polls the lock's own state (yielding), with a bound. Durations appear
//! only as the timeouts of timed acquisitions and as that bound.
#![cfg(not(loom))]

use kernsync_lockdep::{capture, held_locks, ReportKind, COMPILED_IN};
use kernsync_percpu::{
    CheckedRawPercpuRwSem, MappedPercpuReadGuard, MappedPercpuWriteGuard, PercpuReadGuard,
    PercpuRwSem, PercpuWriteGuard,
};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Long enough for anything that is going to happen.
const PATIENCE: Duration = Duration::from_secs(10);
/// The timeout of an acquisition that is expected to time out.
const SHORT: Duration = Duration::from_millis(20);

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
/// when the validator is not compiled in).
fn assert_nothing_held(when: &str) {
    if COMPILED_IN {
        let held = held_locks();
        assert!(
            held.is_empty(),
            "{when}: the validator still holds {held:?}"
        );
    }
}

/// What a deliberate second read on one thread must raise: a report when
/// the validator runs, nothing in a build without it.
fn expected_recursive_reports() -> Vec<ReportKind> {
    if kernsync_lockdep::is_enabled() {
        vec![ReportKind::RecursiveLocking]
    } else {
        Vec::new()
    }
}

/// A small xorshift generator (no `rand` dependency), seeded per thread.
struct XorShift(u64);

impl XorShift {
    fn seeded(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// True with probability `1 / n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
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

/// Fails to compile if `$t` implements `$tr`: with the impl, both probe
/// impls apply and the call is ambiguous.
macro_rules! assert_not_impl {
    ($tr:path, $t:ty) => {{
        trait Probe<Marker> {
            fn probe() {}
        }
        impl<T: ?Sized> Probe<()> for T {}
        struct Implements;
        impl<T: ?Sized + $tr> Probe<Implements> for T {}
        <$t as Probe<_>>::probe();
    }};
}

// ---------------------------------------------------------------------------
// smoke (parking_lot, std)
// ---------------------------------------------------------------------------

#[test]
fn smoke_each_mode_locks_and_unlocks() {
    let lock = PercpuRwSem::new(());
    drop(lock.read());
    assert!(!lock.is_locked());
    drop(lock.write());
    assert!(!lock.is_locked());
    drop(lock.read());
    let w = lock.write();
    assert!(lock.is_locked() && lock.is_locked_exclusive());
    drop(w);
    assert!(!lock.is_locked());
    assert_eq!(lock.readers(), 0);
    // Adaptation: parking_lot's smoke also takes `upgradable_read()`, and
    // `read()` beside it; there are no upgradable reads here.
    // Adaptation: both peers take `(read(), read())` on one thread. Here
    // that is a deadlock waiting for a writer to queue between the two, so
    // it is its own test below, which expects the validator's report.
    assert_nothing_held("after smoke");
}

#[test]
fn two_reads_on_one_thread_work_without_a_writer_but_are_reported() {
    // Adaptation of the smoke tests' `(read(), read())`: with no writer
    // about, the second read gets in (the slot counts two), and the
    // validator reports it, because a writer queued in between would have
    // hung this thread.
    let lock = PercpuRwSem::new(3);
    let (sum, reports) = capture(|| {
        let a = lock.read();
        let b = lock.read();
        assert!(lock.is_read_held_by_current_thread());
        assert_eq!(lock.readers(), 2);
        assert!(
            lock.try_write().is_none(),
            "a writer got in beside two reads"
        );
        *a + *b
    });
    assert_eq!(sum, 6);
    let kinds: Vec<_> = reports.iter().map(|r| r.kind()).collect();
    assert_eq!(kinds, expected_recursive_reports());
    assert_eq!(lock.readers(), 0);
    assert!(!lock.is_read_held_by_current_thread());
    assert_nothing_held("after two reads");
    assert!(lock.try_write().is_some());
}

#[test]
fn a_timed_second_read_behind_a_waiting_writer_gives_up_instead_of_hanging() {
    // Adaptation, the reason the second read is reported: once a writer
    // waits for this thread's first read, a second read waits for that
    // writer. A blocking `read()` would hang for good; a timed one shows it
    // by timing out, and the writer gets in once the first read ends.
    let lock = PercpuRwSem::new(0u32);
    let first = lock.read();
    thread::scope(|s| {
        let writer = s.spawn(|| *lock.write() += 1);
        until("the writer waits for the read", || {
            lock.is_locked_exclusive()
        });
        let (second, reports) = capture(|| lock.try_read_for(SHORT).map(|g| *g));
        assert_eq!(second, None, "a read got past a writer waiting for it");
        let kinds: Vec<_> = reports.iter().map(|r| r.kind()).collect();
        assert_eq!(kinds, expected_recursive_reports());
        assert_eq!(lock.readers(), 1, "the timed-out read left its count");
        assert!(!writer.is_finished(), "the writer overlapped a read");
        drop(first);
        writer.join().unwrap();
    });
    assert_eq!(*lock.read(), 1);
    assert_nothing_held("after the timed second read");
}

// ---------------------------------------------------------------------------
// frob (parking_lot, std): random reads and writes from many threads
// ---------------------------------------------------------------------------

#[test]
fn frob_random_reads_and_writes_exclude_each_other_bounded_8x1000() {
    // Both peers only check that nothing hangs. Here each critical section
    // also announces itself in `inside` (readers add one, a writer adds
    // `WRITER`), so a writer beside anyone, or a reader beside a writer, is
    // counted; writers keep a pair equal across a yield, so a reader let in
    // mid-write or a lost write shows. A few of the acquisitions are the
    // try and timed forms.
    const THREADS: u64 = 8;
    const ROUNDS: usize = 1000;
    const WRITER: usize = 1 << 20;
    let lock = PercpuRwSem::new((0u64, 0u64));
    let inside = AtomicUsize::new(0);
    let overlaps = AtomicUsize::new(0);
    let torn = AtomicUsize::new(0);
    let writes = AtomicU64::new(0);
    let as_reader = |pair: &(u64, u64)| {
        if inside.fetch_add(1, Ordering::SeqCst) >= WRITER {
            overlaps.fetch_add(1, Ordering::SeqCst);
        }
        if pair.0 != pair.1 {
            torn.fetch_add(1, Ordering::SeqCst);
        }
        inside.fetch_sub(1, Ordering::SeqCst);
    };
    let as_writer = |pair: &mut (u64, u64)| {
        if inside.fetch_add(WRITER, Ordering::SeqCst) != 0 {
            overlaps.fetch_add(1, Ordering::SeqCst);
        }
        pair.0 += 1;
        thread::yield_now();
        pair.1 += 1;
        writes.fetch_add(1, Ordering::SeqCst);
        inside.fetch_sub(WRITER, Ordering::SeqCst);
    };
    thread::scope(|s| {
        for t in 0..THREADS {
            let (lock, as_reader, as_writer) = (&lock, &as_reader, &as_writer);
            s.spawn(move || {
                let mut rng = XorShift::seeded(t + 1);
                for _ in 0..ROUNDS {
                    let form = rng.next() % 8;
                    if rng.one_in(THREADS) {
                        match form {
                            0 => {
                                if let Some(mut w) = lock.try_write() {
                                    as_writer(&mut w);
                                }
                            }
                            1 => {
                                if let Some(mut w) = lock.try_write_for(SHORT) {
                                    as_writer(&mut w);
                                }
                            }
                            _ => as_writer(&mut lock.write()),
                        }
                    } else {
                        match form {
                            0 => {
                                if let Some(r) = lock.try_read() {
                                    as_reader(&r);
                                }
                            }
                            1 => {
                                if let Some(r) = lock.try_read_for(SHORT) {
                                    as_reader(&r);
                                }
                            }
                            _ => as_reader(&lock.read()),
                        }
                    }
                }
            });
        }
    });
    assert_eq!(
        overlaps.load(Ordering::SeqCst),
        0,
        "critical sections overlapped"
    );
    assert_eq!(
        torn.load(Ordering::SeqCst),
        0,
        "a reader saw a half-done write"
    );
    let n = writes.load(Ordering::SeqCst);
    assert!(n > 0, "no write got in");
    assert_eq!(*lock.read(), (n, n), "a write was lost");
    assert_eq!(lock.readers(), 0);
    assert!(!lock.is_locked());
}

// ---------------------------------------------------------------------------
// rw_arc (parking_lot test_rw_arc and test_ruw_arc, std test_rw_arc)
// ---------------------------------------------------------------------------

#[test]
fn rw_arc_readers_never_see_a_long_write_in_progress() {
    // One write guard held over ten steps, each passing through -1. Readers
    // started before the writer took the lock see 0 or 10; readers started
    // once it holds the lock must wait for it and see exactly 10 (std and
    // parking_lot only check that no reader sees -1).
    let lock = Arc::new(PercpuRwSem::new(0i32));
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
    let spawn_reader = |lock: &Arc<PercpuRwSem<i32>>| {
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
}

#[test]
fn rw_arc_writers_in_turn_keep_the_invariant_for_readers() {
    // Adaptation of parking_lot's test_ruw_arc: its upgradable readers read,
    // upgrade, and check that no one wrote in between; there is no
    // upgrade here, so they are plain writers that each add one in two
    // visible steps (-1, then the new value), beside a writer doing ten of
    // those, while readers (each reading several times) must never see -1.
    let lock = Arc::new(PercpuRwSem::new(0i32));
    let step = |lock: &PercpuRwSem<i32>| {
        let mut w = lock.write();
        let before = *w;
        assert!(before >= 0, "a writer found a write in progress");
        *w = -1;
        thread::yield_now();
        *w = before + 1;
    };
    let mut threads = Vec::new();
    {
        let lock = Arc::clone(&lock);
        threads.push(thread::spawn(move || {
            for _ in 0..10 {
                step(&lock);
            }
        }));
    }
    for _ in 0..5 {
        let lock = Arc::clone(&lock);
        threads.push(thread::spawn(move || step(&lock)));
    }
    for _ in 0..5 {
        let lock = Arc::clone(&lock);
        threads.push(thread::spawn(move || {
            for _ in 0..20 {
                assert!(*lock.read() >= 0, "a reader saw a write in progress");
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*lock.read(), 15);
}

// ---------------------------------------------------------------------------
// Panics (parking_lot test_rw_arc_no_poison_*, std test_rw_arc_poison_*,
// test_rw_arc_no_poison_*, test_rw_arc_access_in_unwind,
// panic_while_mapping_*)
// ---------------------------------------------------------------------------

/// Sends, when dropped, whether its thread's held-lock stack is empty: put
/// it before a guard, and unwinding drops the guard first.
struct ReportHeldOnDrop(Sender<bool>);

impl Drop for ReportHeldOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(!COMPILED_IN || held_locks().is_empty());
    }
}

#[test]
fn a_thread_panicking_while_holding_the_lock_leaves_it_usable() {
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
        let lock = Arc::new(PercpuRwSem::new(1));
        let (held_tx, held_rx) = channel();
        let joined = {
            let lock = Arc::clone(&lock);
            thread::spawn(move || {
                let _report = ReportHeldOnDrop(held_tx);
                if panic_in_write {
                    let mut w = lock.write();
                    *w = 2;
                    if mapped {
                        let _m = PercpuWriteGuard::map(w, |v| v);
                        panic!("deliberate panic holding a mapped write guard");
                    }
                    panic!("deliberate panic holding a write guard");
                } else {
                    let r = lock.read();
                    if mapped {
                        let _m = PercpuReadGuard::map(r, |v| v);
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
        assert_eq!(lock.readers(), 0);
        let expected = if panic_in_write { 2 } else { 1 };
        if then_write {
            let mut w = lock.try_write().expect("the lock stayed held or poisoned");
            assert_eq!(*w, expected);
            *w = 3;
        } else {
            assert_eq!(*lock.try_read().expect("the lock stayed held"), expected);
        }
    }
}

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
fn the_lock_can_be_taken_from_a_drop_during_unwinding() {
    // std and parking_lot's test_rw_arc_access_in_unwind: a value whose
    // drop writes the lock, dropped by a panic. Here its drop reads too,
    // and the same happens on this thread under catch_unwind.
    struct UsesLockOnDrop(Arc<PercpuRwSem<i32>>);
    impl Drop for UsesLockOnDrop {
        fn drop(&mut self) {
            let before = *self.0.read();
            *self.0.write() = before + 1;
        }
    }
    let lock = Arc::new(PercpuRwSem::new(1));
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
    assert_eq!(lock.readers(), 0);
    assert_nothing_held("after unwinding through a lock user");
}

#[test]
fn a_panic_inside_a_map_closure_releases_the_guard_without_poisoning() {
    // std's panic_while_mapping_read_unlocked_no_poison and
    // panic_while_mapping_write_unlocked_poison: the closure given to
    // `map`/`try_map` of a guard or a mapped guard panics; the guard is
    // released. Adaptation: std poisons the lock when the write-guard
    // closures panic; here the lock is simply free again.
    let lock = PercpuRwSem::new(5u32);
    /// A way to panic inside a mapping closure, and its name.
    type Case = (&'static str, fn(&PercpuRwSem<u32>));
    let cases: [Case; 8] = [
        ("read map", |l| {
            drop(PercpuReadGuard::map::<u32, _>(l.read(), |_| {
                panic!("in map")
            }));
        }),
        ("read try_map", |l| {
            drop(PercpuReadGuard::try_map::<u32, _>(l.read(), |_| {
                panic!("in try_map")
            }));
        }),
        ("mapped read map", |l| {
            let m = PercpuReadGuard::map(l.read(), |v| v);
            drop(MappedPercpuReadGuard::map::<u32, _>(m, |_| {
                panic!("in map")
            }));
        }),
        ("mapped read try_map", |l| {
            let m = PercpuReadGuard::map(l.read(), |v| v);
            drop(MappedPercpuReadGuard::try_map::<u32, _>(m, |_| {
                panic!("in try_map")
            }));
        }),
        ("write map", |l| {
            drop(PercpuWriteGuard::map::<u32, _>(l.write(), |_| {
                panic!("in map")
            }));
        }),
        ("write try_map", |l| {
            drop(PercpuWriteGuard::try_map::<u32, _>(l.write(), |_| {
                panic!("in try_map")
            }));
        }),
        ("mapped write map", |l| {
            let m = PercpuWriteGuard::map(l.write(), |v| v);
            drop(MappedPercpuWriteGuard::map::<u32, _>(m, |_| {
                panic!("in map")
            }));
        }),
        ("mapped write try_map", |l| {
            let m = PercpuWriteGuard::map(l.write(), |v| v);
            drop(MappedPercpuWriteGuard::try_map::<u32, _>(m, |_| {
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
        assert_eq!(lock.readers(), 0, "a panic in {what} left a read counted");
        assert_nothing_held(what);
    }
    assert_eq!(*lock.read(), 5);
}

// ---------------------------------------------------------------------------
// Unsized data (parking_lot, std: test_rwlock_unsized)
// ---------------------------------------------------------------------------

#[test]
fn a_lock_of_an_unsized_slice_by_coercion() {
    let lock: &PercpuRwSem<[i32]> = &PercpuRwSem::new([1, 2, 3]);
    {
        let w = &mut *lock.write();
        w[0] = 4;
        w[2] = 5;
        assert_eq!(w.len(), 3);
    }
    assert_eq!(&*lock.read(), &[4, 2, 5][..]);
    assert_eq!(format!("{lock:?}"), "PercpuRwSem { data: [4, 2, 5] }");
    let boxed: Box<PercpuRwSem<[u8]>> = Box::new(PercpuRwSem::new([7u8; 4]));
    thread::scope(|s| {
        s.spawn(|| assert_eq!(boxed.read().iter().map(|&b| u32::from(b)).sum::<u32>(), 28));
    });
    let tail = PercpuReadGuard::map(boxed.read(), |bytes| &bytes[2..]);
    assert_eq!(&*tail, &[7, 7][..]);
    assert!(boxed.try_write().is_none(), "a mapped read let a writer in");
}

// ---------------------------------------------------------------------------
// try_read / try_write / is_locked (parking_lot test_rwlock_try_read,
// test_rwlock_try_write, test_rw_write_is_locked; std test_rwlock_try_write)
// ---------------------------------------------------------------------------

#[test]
fn try_read_gets_in_beside_readers_and_not_beside_a_writer() {
    let lock = PercpuRwSem::new(0isize);
    {
        // A try on the thread that reads already: it cannot wait, so the
        // validator has no recursion to report.
        let _r = lock.read();
        assert!(lock.try_read().is_some(), "try_read refused beside a read");
        thread::scope(|s| {
            s.spawn(|| {
                assert!(
                    lock.try_read().is_some(),
                    "try_read refused beside another thread's read"
                );
            });
        });
    }
    {
        let _w = lock.write();
        assert!(lock.try_read().is_none(), "try_read got in beside a write");
        thread::scope(|s| {
            s.spawn(|| {
                assert!(
                    lock.try_read().is_none(),
                    "try_read got in beside another thread's write"
                );
            });
        });
    }
    // Adaptation: parking_lot's case "beside an upgradable read" has no
    // counterpart here.
    assert!(lock.try_read().is_some());
    assert_eq!(lock.readers(), 0);
    assert_nothing_held("after try_read");
}

#[test]
fn try_write_fails_while_the_lock_is_held_in_any_mode() {
    let lock = PercpuRwSem::new((0isize, 1isize));
    assert!(!lock.is_locked() && !lock.is_locked_exclusive());
    {
        let _r = lock.read();
        assert!(lock.try_write().is_none(), "try_write beside a read");
        assert!(lock.is_locked() && !lock.is_locked_exclusive());
    }
    {
        // std: a mapped read guard holds the lock as well as the guard did.
        let _m = PercpuReadGuard::map(lock.read(), |pair| &pair.1);
        assert!(lock.try_write().is_none(), "try_write beside a mapped read");
        assert!(lock.is_locked() && !lock.is_locked_exclusive());
    }
    thread::scope(|s| {
        let (held_tx, held_rx) = channel();
        let (done_tx, done_rx) = channel::<()>();
        let lock = &lock;
        s.spawn(move || {
            let _r = lock.read();
            held_tx.send(()).unwrap();
            done_rx.recv().unwrap();
        });
        held_rx.recv().unwrap();
        assert!(
            lock.try_write().is_none(),
            "try_write beside another thread's read"
        );
        assert!(lock.is_locked() && !lock.is_locked_exclusive());
        done_tx.send(()).unwrap();
    });
    {
        let _w = lock.write();
        assert!(lock.try_write().is_none(), "try_write beside a write");
        assert!(lock.is_locked() && lock.is_locked_exclusive());
    }
    {
        let _m = PercpuWriteGuard::map(lock.write(), |pair| &mut pair.0);
        assert!(
            lock.try_write().is_none(),
            "try_write beside a mapped write"
        );
        assert!(lock.is_locked() && lock.is_locked_exclusive());
    }
    // Adaptation: parking_lot's case "beside an upgradable read" has no
    // counterpart here.
    assert!(!lock.is_locked());
    *lock.try_write().expect("try_write refused a free lock") = (2, 3);
    assert_eq!(*lock.read(), (2, 3));
    assert_nothing_held("after try_write");
}

#[test]
fn a_waiting_writer_holds_off_new_readers() {
    // parking_lot's test_read_with_waiting_writer (writer preference, which
    // `PercpuRwSem` shares): while a writer waits for a read to end, a new
    // reader is kept out, on another thread and on the reading one alike.
    let lock = PercpuRwSem::new(0u32);
    let first = lock.read();
    thread::scope(|s| {
        let writer = s.spawn(|| *lock.write() = 1);
        until("the writer waits", || lock.is_locked_exclusive());
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
}

// ---------------------------------------------------------------------------
// Timed acquisitions (the RwLockTimed half of parking_lot's API)
// ---------------------------------------------------------------------------

#[test]
fn timed_acquisitions_time_out_while_a_writer_holds_then_succeed() {
    let lock = PercpuRwSem::new(0);
    let (held_tx, held_rx) = channel();
    let (release_tx, release_rx) = channel::<()>();
    thread::scope(|s| {
        let lock = &lock;
        let holder = s.spawn(move || {
            let mut w = lock.write();
            *w = 1;
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        held_rx.recv().unwrap();
        let start = Instant::now();
        assert!(lock.try_read_for(SHORT).is_none());
        assert!(start.elapsed() >= SHORT, "try_read_for gave up early");
        assert_eq!(lock.readers(), 0, "a timed-out read left its count");
        let start = Instant::now();
        assert!(lock.try_write_for(SHORT).is_none());
        assert!(start.elapsed() >= SHORT, "try_write_for gave up early");
        let deadline = Instant::now() + SHORT;
        assert!(lock.try_read_until(deadline).is_none());
        assert!(Instant::now() >= deadline, "try_read_until gave up early");
        assert!(lock.try_write_until(Instant::now() + SHORT).is_none());
        // A deadline already past: one attempt, at once.
        assert!(lock.try_read_until(Instant::now()).is_none());
        assert!(lock.try_write_for(Duration::ZERO).is_none());
        assert_eq!(lock.readers(), 0);
        assert_nothing_held("after timed acquisitions that timed out");
        assert!(lock.is_locked_exclusive(), "the holder lost its write");
        release_tx.send(()).unwrap();
        holder.join().unwrap();
    });
    *lock
        .try_write_for(PATIENCE)
        .expect("the write never came free") += 1;
    assert_eq!(*lock.try_read_until(Instant::now() + SHORT).unwrap(), 2);
    // A timeout past the end of time means no deadline, not a failure.
    assert_eq!(*lock.try_read_for(Duration::MAX).unwrap(), 2);
    *lock.try_write_for(Duration::MAX).unwrap() += 1;
    assert_eq!(*lock.read(), 3);
}

#[test]
fn a_writer_that_timed_out_lets_readers_back_in() {
    // A writer that gave up waiting for a read must withdraw: new readers
    // get in at once again, and a reader that queued behind it meanwhile
    // is let in.
    let lock = PercpuRwSem::new(0);
    let (held_tx, held_rx) = channel();
    let (release_tx, release_rx) = channel::<()>();
    thread::scope(|s| {
        let lock = &lock;
        s.spawn(move || {
            let _r = lock.read();
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        held_rx.recv().unwrap();
        let writer = s.spawn(|| lock.try_write_for(Duration::from_millis(200)).is_none());
        // (If this thread is kept off the CPU for all of the writer's wait,
        // the reader below simply finds the writer gone.)
        until("the writer waits or gave up", || {
            lock.is_locked_exclusive() || writer.is_finished()
        });
        let queued = s.spawn(|| *lock.read());
        assert!(writer.join().unwrap(), "the writer got in beside a read");
        assert_eq!(queued.join().unwrap(), 0);
        assert!(!lock.is_locked_exclusive());
        assert_eq!(
            *lock.try_read().expect("a timed-out writer blocks readers"),
            0
        );
        release_tx.send(()).unwrap();
    });
    assert!(!lock.is_locked());
    *lock.try_write().unwrap() = 1;
}

// ---------------------------------------------------------------------------
// into_inner, get_mut, drops (parking_lot, std: test_into_inner,
// test_into_inner_drop, test_get_mut)
// ---------------------------------------------------------------------------

#[test]
fn into_inner_and_get_mut_reach_the_data() {
    let lock = PercpuRwSem::new(NotCopy(10));
    assert_eq!(lock.into_inner(), NotCopy(10));

    let mut lock = PercpuRwSem::new(NotCopy(10));
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
}

#[test]
fn into_inner_moves_the_data_out_without_dropping_it() {
    let drops = Arc::new(AtomicUsize::new(0));
    let lock = PercpuRwSem::new(DropCounter(Arc::clone(&drops)));
    drop(lock.read());
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    {
        let _inner = lock.into_inner();
        assert_eq!(drops.load(Ordering::SeqCst), 0);
    }
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    // Dropping the lock drops the data once.
    let lock = PercpuRwSem::new(DropCounter(Arc::clone(&drops)));
    drop(lock.write());
    drop(lock);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn into_inner_while_a_thread_that_read_the_lock_lives_on() {
    // The lock goes away while a thread that read it (and keeps a slot for
    // it) is still alive; that thread then reads another lock and exits.
    let drops = Arc::new(AtomicUsize::new(0));
    let lock = Arc::new(PercpuRwSem::new((7, DropCounter(Arc::clone(&drops)))));
    let (read_tx, read_rx) = channel();
    let (go_tx, go_rx) = channel::<()>();
    let reader = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let v = lock.read().0;
            drop(lock);
            read_tx.send(v).unwrap();
            go_rx.recv().unwrap();
            let next = PercpuRwSem::new(8);
            let v = *next.read();
            v
        })
    };
    assert_eq!(read_rx.recv().unwrap(), 7);
    assert_eq!(lock.read().0, 7);
    let lock = Arc::try_unwrap(lock)
        .ok()
        .expect("the reader kept the lock");
    let (v, counter) = lock.into_inner();
    assert_eq!(v, 7);
    go_tx.send(()).unwrap();
    assert_eq!(reader.join().unwrap(), 8);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(counter);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------
// Debug (parking_lot test_rwlock_debug)
// ---------------------------------------------------------------------------

#[test]
fn debug_shows_the_data_unless_a_writer_is_about_and_never_blocks() {
    let lock = PercpuRwSem::new(vec![0u8, 10]);
    assert_eq!(format!("{lock:?}"), "PercpuRwSem { data: [0, 10] }");
    let r = lock.read();
    // Debug only tries a read: beside this thread's own read it gets in
    // (and, being a try, is no recursive read for the validator).
    assert_eq!(format!("{lock:?}"), "PercpuRwSem { data: [0, 10] }");
    assert_eq!(format!("{r:?}"), "[0, 10]");
    thread::scope(|s| {
        let writer = s.spawn(|| lock.write().push(20));
        until("the writer waits", || lock.is_locked_exclusive());
        // A writer waits for our read: Debug must not wait for the writer.
        assert_eq!(format!("{lock:?}"), "PercpuRwSem { data: <locked> }");
        drop(r);
        writer.join().unwrap();
    });
    let w = lock.write();
    assert_eq!(format!("{lock:?}"), "PercpuRwSem { data: <locked> }");
    assert_eq!(format!("{w:?}"), "[0, 10, 20]");
    drop(w);
    assert_eq!(
        format!("{lock:#?}"),
        "PercpuRwSem {\n    data: [\n        0,\n        10,\n        20,\n    ],\n}"
    );
    assert_nothing_held("after Debug");
}

// ---------------------------------------------------------------------------
// Guards: mapping (std test_mapping_mapped_guard), unlocked, clone through
// a guard (parking_lot test_clone_through_guard), Send/Sync
// (parking_lot test_rwlockguard_sync)
// ---------------------------------------------------------------------------

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
fn clone_through_a_read_guard_clones_the_data() {
    let lock = PercpuRwSem::new(Arc::new(1));
    let guard = lock.read();
    // The guard is not Clone: this clones the Arc inside it.
    let cloned = guard.clone();
    assert_eq!(Arc::strong_count(&cloned), 2);
    drop(guard);
    assert_eq!(Arc::strong_count(&lock.into_inner()), 2);
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

#[test]
fn a_mapped_read_guard_is_covariant_in_its_data() {
    // std's test_mapped_read_guard_covariance: a mapped guard of `&'long`
    // data is usable where `&'short` data is expected. Adaptation: std's
    // test_read_guard_covariance does not carry over: lock_api's
    // `RwLockReadGuard` holds `&RwLock<R, T>`, whose `UnsafeCell<T>` makes
    // it invariant in `T` (so the test would not compile).
    fn take<'a>(_: MappedPercpuReadGuard<'_, &'a i32>, _: &'a i32) {}
    let long = 5;
    let lock = PercpuRwSem::new((&long, &long));
    {
        let short = 6;
        take(PercpuReadGuard::map(lock.read(), |pair| &pair.0), &short);
    }
    assert_eq!(*lock.read().1, 5);
}

// ---------------------------------------------------------------------------
// Threads that come and go (parking_lot test_issue_203, and the lifetimes
// that are `PercpuRwSem`'s own: per-thread slots)
// ---------------------------------------------------------------------------

#[test]
fn a_thread_local_destructor_can_read_and_write_the_lock() {
    // parking_lot's test_issue_203: a thread-local's destructor takes a
    // lock, on a thread that used another lock. Here one destructor runs
    // with the thread's slot table still there and one (most likely) after
    // it is gone, and each reads and writes.
    static LOCK: PercpuRwSem<u32> = PercpuRwSem::new(0);
    struct UsesLockOnDrop(Sender<u32>);
    impl Drop for UsesLockOnDrop {
        fn drop(&mut self) {
            *LOCK.write() += 1;
            let seen = *LOCK.read();
            let _ = self.0.send(seen);
        }
    }
    thread_local! {
        static BEFORE_TABLE: RefCell<Option<UsesLockOnDrop>> = const { RefCell::new(None) };
        static AFTER_TABLE: RefCell<Option<UsesLockOnDrop>> = const { RefCell::new(None) };
    }
    let (tx, rx) = channel();
    thread::spawn(move || {
        BEFORE_TABLE.with(|b| *b.borrow_mut() = Some(UsesLockOnDrop(tx.clone())));
        assert_eq!(*LOCK.read(), 0);
        AFTER_TABLE.with(|a| *a.borrow_mut() = Some(UsesLockOnDrop(tx)));
        let other = PercpuRwSem::new(());
        let _r = other.read();
    })
    .join()
    .unwrap();
    let mut seen: Vec<u32> = rx.try_iter().collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        [1, 2],
        "a destructor did not run, or saw a lost write"
    );
    assert_eq!(LOCK.readers(), 0, "the exited thread left a read counted");
    *LOCK
        .try_write()
        .expect("the exited thread left the lock held") += 1;
    assert_eq!(*LOCK.read(), 3);
}

#[test]
fn readers_on_short_lived_threads_reuse_their_slots_bounded_20_waves_of_8() {
    // Waves of reader threads that exit while the lock lives on, beside a
    // writer that keeps writing: each wave's threads get the slots the
    // previous wave gave back, and no exited thread stays counted.
    const WAVES: usize = 20;
    const PER_WAVE: usize = 8;
    let lock = PercpuRwSem::new((0u64, 0u64));
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let mut w = lock.write();
                w.0 += 1;
                thread::yield_now();
                w.1 += 1;
                n += 1;
                drop(w);
                thread::yield_now();
            }
            n
        });
        for wave in 0..WAVES {
            let readers: Vec<_> = (0..PER_WAVE)
                .map(|i| {
                    let lock = &lock;
                    s.spawn(move || {
                        for k in 0..20 {
                            let r = if (i + k) % 5 == 0 {
                                match lock.try_read() {
                                    Some(r) => r,
                                    None => continue,
                                }
                            } else {
                                lock.read()
                            };
                            assert_eq!(r.0, r.1, "a reader saw a half-done write");
                        }
                    })
                })
                .collect();
            for r in readers {
                r.join().unwrap();
            }
            assert!(
                lock.reader_slots() <= PER_WAVE,
                "wave {wave}: {} slots for {PER_WAVE} threads alive at once",
                lock.reader_slots()
            );
        }
        stop.store(true, Ordering::SeqCst);
        let n = writer.join().unwrap();
        assert_eq!(lock.readers(), 0, "an exited thread stayed counted");
        assert_eq!(*lock.read(), (n, n));
    });
    assert!(lock.reader_slots() <= PER_WAVE + 1);
    assert!(lock.try_write().is_some());
}

#[test]
fn a_lock_dropped_and_rebuilt_many_times_starts_fresh_bounded_300() {
    // Locks made and dropped in a loop (mostly at the same address, on the
    // stack and in a reused heap block), read by this thread each time and
    // by a thread that outlives them: a new lock must not inherit a read
    // count or a slot of the one that was there before. A long-lived lock
    // is read in between, so this thread's cached slot keeps switching.
    const ROUNDS: u32 = 300;
    let long_lived = PercpuRwSem::new(u32::MAX);
    let (jobs_tx, jobs_rx) = channel::<Arc<PercpuRwSem<u32>>>();
    let (seen_tx, seen_rx) = channel();
    let worker = thread::spawn(move || {
        for lock in jobs_rx {
            let seen = *lock.read();
            let fresh = lock.readers() == 0;
            drop(lock);
            seen_tx.send((seen, fresh)).unwrap();
        }
    });
    for i in 0..ROUNDS {
        {
            let lock = PercpuRwSem::new(i);
            assert!(
                !lock.is_read_held_by_current_thread(),
                "round {i}: stale read"
            );
            assert_eq!(*lock.read(), i);
            assert_eq!(lock.readers(), 0, "round {i}: stale count");
            *lock.try_write().expect("a fresh lock is held") += 1;
            let r = lock.read();
            assert!(lock.is_read_held_by_current_thread());
            assert_eq!((*r, lock.readers()), (i + 1, 1));
        }
        assert_eq!(*long_lived.read(), u32::MAX);
        {
            let boxed = Box::new(PercpuRwSem::new(i));
            assert_eq!(boxed.readers(), 0, "round {i}: stale count");
            assert_eq!(*boxed.read(), i);
            assert!(boxed.try_write().is_some());
        }
        let shared = Arc::new(PercpuRwSem::new(i));
        assert_eq!(*shared.read(), i);
        jobs_tx.send(Arc::clone(&shared)).unwrap();
        assert_eq!(seen_rx.recv().unwrap(), (i, true));
        assert_eq!(shared.readers(), 0);
        assert!(shared.try_write().is_some());
        // Dropped here (or by the worker): both threads keep a slot of it.
    }
    drop(jobs_tx);
    worker.join().unwrap();
    assert_eq!(long_lived.readers(), 0);
    assert!(long_lived.try_write().is_some());
    assert_nothing_held("after rebuilding locks");
}

#[test]
fn a_lock_moved_between_threads_and_in_memory_keeps_its_counts() {
    // Rust moves values: a lock read by two threads is moved (through a
    // channel, into a growing Vec) and keeps working. Each thread finds its
    // slot again by the lock's id, wherever the lock now lives.
    let lock = PercpuRwSem::new(1);
    assert_eq!(*lock.read(), 1);
    let (to_worker, worker_rx) = channel::<PercpuRwSem<i32>>();
    let (to_main, main_rx) = channel();
    let worker = thread::spawn(move || {
        for lock in worker_rx {
            let seen = *lock.read();
            *lock.write() += 1;
            let fresh = lock.readers() == 0 && !lock.is_read_held_by_current_thread();
            to_main.send((lock, seen, fresh)).unwrap();
        }
    });
    let mut moved = lock;
    for round in 0..8 {
        to_worker.send(moved).unwrap();
        let (back, seen, fresh) = main_rx.recv().unwrap();
        assert_eq!(seen, round + 1);
        assert!(fresh, "round {round}: the worker's read stayed counted");
        // Into a Vec and out again: the lock moves twice more.
        let mut shelf = vec![back, PercpuRwSem::new(-1)];
        let lock = shelf.swap_remove(0);
        assert_eq!(*lock.read(), round + 2);
        assert!(!lock.is_read_held_by_current_thread());
        assert_eq!(lock.readers(), 0);
        assert!(
            lock.reader_slots() <= 2,
            "round {round}: {} slots for two reader threads",
            lock.reader_slots()
        );
        moved = lock;
    }
    drop(to_worker);
    worker.join().unwrap();
    assert!(moved.try_write().is_some());
    assert_eq!(moved.into_inner(), 9);
}

#[test]
fn reads_during_thread_teardown_time_out_wait_and_count_out() {
    // A thread-local destructor registered before the thread's slot table
    // (std runs them in reverse order of registration on Linux, so it runs
    // after the table is gone) reads while this thread holds the write: its timed
    // read times out, its try fails, its read waits and is let in when the
    // write ends; afterwards nothing stays counted.
    static LOCK: PercpuRwSem<u32> = PercpuRwSem::new(0);
    struct ReadsOnDrop(Sender<(&'static str, Option<u32>)>);
    impl Drop for ReadsOnDrop {
        fn drop(&mut self) {
            let timed = LOCK.try_read_for(SHORT).map(|g| *g);
            let _ = self.0.send(("timed", timed));
            let tried = LOCK.try_read().map(|g| *g);
            let _ = self.0.send(("try", tried));
            let _ = self.0.send(("about to wait", None));
            let read = *LOCK.read();
            let _ = self.0.send(("read", Some(read)));
        }
    }
    thread_local! {
        static TEARDOWN: RefCell<Option<ReadsOnDrop>> = const { RefCell::new(None) };
    }
    let mut w = LOCK.write();
    let (tx, rx) = channel();
    let exiting = thread::spawn(move || {
        TEARDOWN.with(|d| *d.borrow_mut() = Some(ReadsOnDrop(tx)));
        // The thread's first read, of another lock: it makes the table.
        let other = PercpuRwSem::new(());
        drop(other.read());
    });
    assert_eq!(rx.recv().unwrap(), ("timed", None));
    assert_eq!(LOCK.readers(), 0, "a timed-out read left its count");
    assert_eq!(rx.recv().unwrap(), ("try", None));
    assert_eq!(rx.recv().unwrap(), ("about to wait", None));
    *w = 5;
    drop(w);
    assert_eq!(rx.recv().unwrap(), ("read", Some(5)));
    exiting.join().unwrap();
    assert_eq!(LOCK.readers(), 0, "the exited thread left a read counted");
    assert!(
        LOCK.reader_slots() <= 2,
        "{} slots after one reader thread",
        LOCK.reader_slots()
    );
    *LOCK
        .try_write()
        .expect("the exited thread left the lock held") += 1;
    assert_eq!(*LOCK.read(), 6);
}

#[test]
fn a_read_taken_during_thread_teardown_is_seen_as_held() {
    // `is_read_held_by_current_thread` is documented as exact ("a writer
    // that would wait for itself can check this first"). Found while
    // porting parking_lot's test_issue_203 (locks in thread-local
    // destructors): a destructor that runs after the slot table's (it was
    // registered first; std runs them in reverse order on Linux) reads the
    // lock through a slot claimed for that read alone, which the table does
    // not list. Another thread's read, counted meanwhile, must not be taken
    // for the exiting thread's.
    static LOCK: PercpuRwSem<u32> = PercpuRwSem::new(0);
    struct ReadsOnDrop(Sender<[(bool, usize); 4]>);
    impl Drop for ReadsOnDrop {
        fn drop(&mut self) {
            let before = (LOCK.is_read_held_by_current_thread(), LOCK.readers());
            let r = LOCK.read();
            let once = (LOCK.is_read_held_by_current_thread(), LOCK.readers());
            let r2 = LOCK.try_read().expect("no writer is about");
            let twice = (LOCK.is_read_held_by_current_thread(), LOCK.readers());
            drop(r);
            drop(r2);
            let after = (LOCK.is_read_held_by_current_thread(), LOCK.readers());
            let _ = self.0.send([before, once, twice, after]);
        }
    }
    thread_local! {
        static TEARDOWN: RefCell<Option<ReadsOnDrop>> = const { RefCell::new(None) };
    }
    // This thread's read stays counted while the other thread exits.
    let mine = LOCK.read();
    let (tx, rx) = channel();
    thread::spawn(move || {
        TEARDOWN.with(|d| *d.borrow_mut() = Some(ReadsOnDrop(tx)));
        let other = PercpuRwSem::new(());
        drop(other.read()); // makes the slot table, after `TEARDOWN`
    })
    .join()
    .unwrap();
    let seen = rx.try_recv().expect("the destructor did not run");
    assert_eq!(
        seen,
        [(false, 1), (true, 2), (true, 3), (false, 1)],
        "(held by the exiting thread, readers) before, with one, with two and after its reads"
    );
    assert!(LOCK.is_read_held_by_current_thread());
    drop(mine);
    assert!(!LOCK.is_read_held_by_current_thread());
    assert_eq!(LOCK.readers(), 0);
}
