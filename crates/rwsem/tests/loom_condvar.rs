//! Loom models of the raw condition variable: a wait/notify handshake on a
//! flag loses no wakeup (notifying with the mutex held, which requeues the
//! waiter onto the mutex, and after releasing it), `notify_all` releases two
//! waiters, and a timed wait racing a notify reports its outcome truthfully.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p kernsync-rwsem --release --test loom_condvar`.
#![cfg(loom)]

use kernsync_rwsem::{RawCondvar, RawMutex};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::time::{Duration, Instant};

/// A flag and a counter guarded by `lock`, with a condvar to wait for them.
struct Shared {
    lock: RawMutex,
    cond: RawCondvar,
    /// (flag, count)
    data: UnsafeCell<(bool, u32)>,
}

// SAFETY: `data` is only accessed while `lock` is held (loom's `UnsafeCell`
// checks exactly that).
unsafe impl Sync for Shared {}

impl Shared {
    fn new() -> Arc<Shared> {
        Arc::new(Shared {
            lock: RawMutex::new(),
            cond: RawCondvar::new(),
            data: UnsafeCell::new((false, 0)),
        })
    }

    /// The flag; the caller holds `lock`.
    fn flag(&self) -> bool {
        // SAFETY: the caller holds `lock`.
        self.data.with(|d| unsafe { (*d).0 })
    }

    /// Sets the flag; the caller holds `lock`.
    fn set_flag(&self) {
        // SAFETY: the caller holds `lock`.
        self.data.with_mut(|d| unsafe { (*d).0 = true });
    }

    /// Bumps the count; the caller holds `lock`.
    fn bump_count(&self) {
        // SAFETY: the caller holds `lock`.
        self.data.with_mut(|d| unsafe { (*d).1 += 1 });
    }

    /// Waits (untimed) until the flag is set, then bumps the count.
    fn wait_for_flag(&self) {
        self.lock.lock();
        while !self.flag() {
            // SAFETY: we hold `lock`; `wait` returns holding it.
            unsafe { self.cond.wait(&self.lock) };
            assert!(self.lock.is_locked());
        }
        self.bump_count();
        // SAFETY: we hold `lock`.
        unsafe { self.lock.unlock() };
    }

    fn count(&self) -> u32 {
        self.lock.lock();
        // SAFETY: we hold `lock`.
        let n = self.data.with(|d| unsafe { (*d).1 });
        // SAFETY: we hold `lock`.
        unsafe { self.lock.unlock() };
        n
    }
}

#[test]
fn notify_one_while_locked_wakes_the_waiter() {
    loom::model(|| {
        let s = Shared::new();
        let s2 = s.clone();
        let waiter = thread::spawn(move || s2.wait_for_flag());
        s.lock.lock();
        s.set_flag();
        s.cond.notify_one();
        // SAFETY: locked above.
        unsafe { s.lock.unlock() };
        waiter.join().unwrap();
        assert_eq!(s.count(), 1);
        assert!(!s.lock.is_locked());
    });
}

#[test]
fn notify_one_after_unlock_wakes_the_waiter() {
    loom::model(|| {
        let s = Shared::new();
        let s2 = s.clone();
        let waiter = thread::spawn(move || s2.wait_for_flag());
        s.lock.lock();
        s.set_flag();
        // SAFETY: locked above.
        unsafe { s.lock.unlock() };
        s.cond.notify_one();
        waiter.join().unwrap();
        assert_eq!(s.count(), 1);
        assert!(!s.lock.is_locked());
    });
}

#[test]
fn notify_all_wakes_two_waiters() {
    loom::model(|| {
        let s = Shared::new();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || s.wait_for_flag())
            })
            .collect();
        s.lock.lock();
        s.set_flag();
        s.cond.notify_all();
        // SAFETY: locked above.
        unsafe { s.lock.unlock() };
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(s.count(), 2);
        assert!(!s.lock.is_locked());
        // Every waiter left the condvar: nothing is left to notify.
        assert!(!s.cond.notify_one());
    });
}

#[test]
fn wait_until_times_out_or_is_notified() {
    static TIMED_OUT: StdAtomicUsize = StdAtomicUsize::new(0);
    static NOTIFIED: StdAtomicUsize = StdAtomicUsize::new(0);
    loom::model(|| {
        let s = Shared::new();
        let s2 = s.clone();
        let waiter = thread::spawn(move || {
            s2.lock.lock();
            let mut timed_out = false;
            while !s2.flag() && !timed_out {
                let deadline = Instant::now() + Duration::from_secs(3600);
                // SAFETY: we hold `lock`; `wait_until` returns holding it.
                timed_out = unsafe { s2.cond.wait_until(&s2.lock, deadline) };
                assert!(s2.lock.is_locked());
                // No spurious wakeups: a wait that did not time out was
                // notified, and the notifier set the flag first.
                assert!(timed_out || s2.flag());
            }
            if timed_out {
                TIMED_OUT.fetch_add(1, StdOrdering::Relaxed);
            } else {
                NOTIFIED.fetch_add(1, StdOrdering::Relaxed);
            }
            s2.bump_count();
            // SAFETY: we hold `lock`.
            unsafe { s2.lock.unlock() };
            timed_out
        });
        s.lock.lock();
        s.set_flag();
        let woke = s.cond.notify_one();
        // SAFETY: locked above.
        unsafe { s.lock.unlock() };
        let timed_out = waiter.join().unwrap();
        assert_eq!(s.count(), 1);
        assert!(!s.lock.is_locked());
        // A notify that reports a waiter chose it, so that wait cannot also
        // report a timeout; and afterwards nobody waits.
        assert!(!(woke && timed_out));
        assert!(!s.cond.notify_one());
    });
    assert!(TIMED_OUT.load(StdOrdering::Relaxed) > 0);
    assert!(NOTIFIED.load(StdOrdering::Relaxed) > 0);
}
