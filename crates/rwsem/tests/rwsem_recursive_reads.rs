//! `RwSem`'s recursive reads: they pass a waiting writer (blocking, try and
//! timed forms, and a bumped one), nest in a random mix of reads and writes
//! from many threads, and wait untimed on a timeout no `Instant` can hold;
//! the raw lock itself allows two plain reads on one thread when no writer
//! waits (only the typed lock's validator forbids it).
//!
//! The `both!` tests re-express parking_lot 0.13's unit tests and run once
//! against the order-checked locks (`<test>::typed`) and once against
//! lock_api's wrappers over the raw locks (`<test>::raw`); the plain
//! `#[test]`s re-express std's tests (`library/std/tests/sync/`). Each names
//! the peer test it re-expresses in its first comment (none where it checks
//! kernsync's own API). Where the validator or our API differs from the
//! peer's, a comment starting `Adaptation:` says so; there is no poisoning
//! (parking_lot's convention), so std's poisoning tests check the lock is
//! usable after a panic instead.
#![cfg(not(loom))]

mod common;

use common::*;
use kernsync_rwsem::RwSem;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

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

#[test]
fn recursive_read_with_a_timeout_past_instant_range_waits_untimed() {
    // The same overflow in `RwSem::try_read_recursive_for`: a timeout no
    // `Instant` can hold gets the read, waiting as long as it takes.
    let lock = Arc::new(RwSem::new(0));
    let mut w = lock.write();
    let (tx, rx) = channel();
    let reader = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            tx.send(()).unwrap();
            let r = lock
                .try_read_recursive_for(Duration::MAX)
                .expect("an untimed wait gets the read");
            *r
        })
    };
    rx.recv().unwrap();
    *w = 7;
    drop(w);
    assert_eq!(reader.join().unwrap(), 7);
    let r = lock.try_read_recursive_for(Duration::MAX);
    assert_eq!(r.as_deref(), Some(&7));
}
