//! Loom models of the raw mutex: mutual exclusion between `lock`, `try_lock`
//! and timed locks, a timed lock that gives up leaving the state clean, and
//! the direct handoff of `unlock_fair` and `bump`.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p kernsync-rwsem --release --test loom_mutex`.
#![cfg(loom)]

use kernsync_rwsem::RawMutex;
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::time::{Duration, Instant};

/// A counter guarded by a raw mutex.
struct Shared {
    lock: RawMutex,
    count: UnsafeCell<u32>,
}

// SAFETY: `count` is only accessed while `lock` is held (that is what the
// models check: loom's `UnsafeCell` reports any unsynchronised access).
unsafe impl Sync for Shared {}

impl Shared {
    fn new() -> Arc<Shared> {
        Arc::new(Shared {
            lock: RawMutex::new(),
            count: UnsafeCell::new(0),
        })
    }

    /// Adds `n`; the caller holds `lock`.
    fn add_locked(&self, n: u32) {
        // SAFETY: the caller holds `lock`, so no other access is concurrent.
        self.count.with_mut(|c| unsafe { *c += n });
    }

    /// The count once every thread is joined.
    fn get(&self) -> u32 {
        self.lock.lock();
        // SAFETY: we hold `lock`.
        let n = self.count.with(|c| unsafe { *c });
        // SAFETY: we hold `lock`.
        unsafe { self.lock.unlock() };
        n
    }
}

/// A deadline far enough away that only the model (not the clock) ends a
/// timed wait: loom's parking lot yields once, then may time out.
fn far() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

#[test]
fn two_threads_lock_increment_unlock() {
    loom::model(|| {
        let s = Shared::new();
        let s2 = s.clone();
        let t = thread::spawn(move || {
            s2.lock.lock();
            s2.add_locked(1);
            // SAFETY: locked just above.
            unsafe { s2.lock.unlock() };
        });
        s.lock.lock();
        s.add_locked(1);
        // SAFETY: locked just above.
        unsafe { s.lock.unlock() };
        t.join().unwrap();
        assert_eq!(s.get(), 2);
        assert!(!s.lock.is_locked());
    });
}

#[test]
fn lock_vs_try_lock() {
    static TRY_WON: StdAtomicUsize = StdAtomicUsize::new(0);
    static TRY_LOST: StdAtomicUsize = StdAtomicUsize::new(0);
    loom::model(|| {
        let s = Shared::new();
        let s2 = s.clone();
        let t = thread::spawn(move || {
            s2.lock.lock();
            s2.add_locked(1);
            // SAFETY: locked just above.
            unsafe { s2.lock.unlock() };
        });
        let won = s.lock.try_lock();
        if won {
            s.add_locked(10);
            // SAFETY: `try_lock` succeeded.
            unsafe { s.lock.unlock() };
            TRY_WON.fetch_add(1, StdOrdering::Relaxed);
        } else {
            TRY_LOST.fetch_add(1, StdOrdering::Relaxed);
        }
        t.join().unwrap();
        assert_eq!(s.get(), if won { 11 } else { 1 });
        assert!(!s.lock.is_locked());
    });
    // Both outcomes were explored.
    assert!(TRY_WON.load(StdOrdering::Relaxed) > 0);
    assert!(TRY_LOST.load(StdOrdering::Relaxed) > 0);
}

#[test]
fn timed_lock_times_out_then_state_is_clean() {
    static TIMED_OUT: StdAtomicUsize = StdAtomicUsize::new(0);
    static ACQUIRED: StdAtomicUsize = StdAtomicUsize::new(0);
    loom::model(|| {
        let s = Shared::new();
        s.lock.lock();
        let s2 = s.clone();
        let t = thread::spawn(move || {
            if s2.lock.try_lock_until(far()) {
                s2.add_locked(1);
                // SAFETY: the timed lock succeeded.
                unsafe { s2.lock.unlock() };
                ACQUIRED.fetch_add(1, StdOrdering::Relaxed);
                true
            } else {
                TIMED_OUT.fetch_add(1, StdOrdering::Relaxed);
                false
            }
        });
        s.add_locked(10);
        // SAFETY: locked at the start of the model.
        unsafe { s.lock.unlock() };
        let got = t.join().unwrap();
        // A third acquisition, through the fast path or not, succeeds and
        // leaves the mutex unlocked.
        assert_eq!(s.get(), if got { 11 } else { 10 });
        assert!(s.lock.try_lock());
        // SAFETY: `try_lock` succeeded.
        unsafe { s.lock.unlock() };
        assert!(!s.lock.is_locked());
    });
    assert!(TIMED_OUT.load(StdOrdering::Relaxed) > 0);
    assert!(ACQUIRED.load(StdOrdering::Relaxed) > 0);
}

#[test]
fn timed_out_waiter_beside_a_parked_one() {
    // A timed waiter leaving the queue while an untimed one stays parked
    // must keep PARKED set, or the untimed one is never woken (the model
    // would deadlock).
    loom::model(|| {
        let s = Shared::new();
        s.lock.lock();
        let s2 = s.clone();
        let timed = thread::spawn(move || {
            if s2.lock.try_lock_for(Duration::from_secs(3600)) {
                s2.add_locked(1);
                // SAFETY: the timed lock succeeded.
                unsafe { s2.lock.unlock() };
            }
        });
        let s3 = s.clone();
        let plain = thread::spawn(move || {
            s3.lock.lock();
            s3.add_locked(100);
            // SAFETY: locked just above.
            unsafe { s3.lock.unlock() };
        });
        // SAFETY: locked at the start of the model.
        unsafe { s.lock.unlock() };
        timed.join().unwrap();
        plain.join().unwrap();
        let n = s.get();
        assert!(n == 100 || n == 101, "{n}");
        assert!(!s.lock.is_locked());
    });
}

#[test]
fn unlock_fair_hands_over() {
    loom::model(|| {
        let s = Shared::new();
        s.lock.lock();
        let s2 = s.clone();
        let t = thread::spawn(move || {
            s2.lock.lock();
            s2.add_locked(1);
            // SAFETY: locked just above.
            unsafe { s2.lock.unlock() };
        });
        s.add_locked(10);
        // SAFETY: locked at the start of the model.
        unsafe { s.lock.unlock_fair() };
        // Whether or not the other thread was parked (handoff) or not
        // (plain release), the counter stays exact.
        s.lock.lock();
        s.add_locked(100);
        // SAFETY: locked just above.
        unsafe { s.lock.unlock() };
        t.join().unwrap();
        assert_eq!(s.get(), 111);
        assert!(!s.lock.is_locked());
    });
}

#[test]
fn bump_yields_and_returns_locked() {
    loom::model(|| {
        let s = Shared::new();
        s.lock.lock();
        let s2 = s.clone();
        let t = thread::spawn(move || {
            s2.lock.lock();
            s2.add_locked(1);
            // SAFETY: locked just above.
            unsafe { s2.lock.unlock() };
        });
        s.add_locked(10);
        // SAFETY: locked at the start of the model.
        unsafe { s.lock.bump() };
        assert!(s.lock.is_locked());
        s.add_locked(100);
        // SAFETY: `bump` returns holding the mutex.
        unsafe { s.lock.unlock() };
        t.join().unwrap();
        assert_eq!(s.get(), 111);
        assert!(!s.lock.is_locked());
    });
}
