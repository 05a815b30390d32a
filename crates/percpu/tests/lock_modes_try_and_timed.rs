//! `PercpuRwSem`'s reads and writes in every form: each mode locks and
//! unlocks, two reads on one thread work without a writer but are reported
//! (and a timed second read behind a waiting writer gives up instead of
//! hanging), random reads and writes from many threads exclude each other,
//! writers in turn keep an invariant for readers, `try_read` / `try_write`
//! get in exactly beside what they may, and timed acquisitions time out and
//! then succeed, a timed-out writer letting readers back in.
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

use kernsync_lockdep::capture;
use kernsync_percpu::{PercpuReadGuard, PercpuRwSem, PercpuWriteGuard};
use rw_checks::*;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

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
