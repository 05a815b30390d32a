//! Loom models of the waiter queue of `RawSemaphore` (the semaphore under
//! `Mutex` and `RwSem`): an acquire racing a release and a cancellation (a
//! dropped future, before or after it was woken or granted), the mutex
//! hand-off between two tasks, a writer waiting behind readers, a cancelled
//! first waiter that blocked a reader behind it, an upgrade queued ahead of
//! a writer, the woken window (a release, a woken first waiter's take that
//! fails, and a barging acquirer, all racing), and the starvation bound
//! forcing a grant past a barger, and a cancelled woken first waiter
//! passing its wake on. Each ends by checking that no waiter is
//! left and no permit lost; loom's `UnsafeCell` flags any access the
//! permits did not order, and a lost wakeup is a deadlock loom reports.
//! Loom builds have no clock: only the loss count bounds a wait.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p
//! kernsync-async --release --test loom_waiters`.
#![cfg(loom)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use kernsync_async::raw::RawSemaphore;
use loom::cell::UnsafeCell;
use loom::future::block_on;
use loom::sync::Arc;
use loom::thread;

/// A semaphore and the data its permits guard.
struct Shared {
    sem: RawSemaphore,
    data: UnsafeCell<usize>,
}

// SAFETY: `data` is only touched under the permits (which the models check:
// loom's `UnsafeCell` reports any unsynchronised access).
unsafe impl Sync for Shared {}

fn shared(permits: usize) -> Arc<Shared> {
    Arc::new(Shared {
        sem: RawSemaphore::new(permits),
        data: UnsafeCell::new(0),
    })
}

impl Shared {
    fn read(&self) -> usize {
        // SAFETY: called holding at least one permit (no writer inside).
        self.data.with(|p| unsafe { *p })
    }

    fn bump(&self) {
        // SAFETY: called holding every permit.
        self.data.with_mut(|p| unsafe { *p += 1 })
    }

    /// Checks the semaphore is idle: every permit back, nobody queued.
    fn assert_idle(&self, permits: usize) {
        assert_eq!(self.sem.available(), permits, "a permit was lost");
        assert!(!self.sem.has_waiters(), "a waiter was left behind");
    }
}

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::pin::Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

/// (1) Mutex hand-off: two tasks lock, increment, unlock; one of them
/// usually waits in the queue and is woken by the other's release.
#[test]
fn mutex_handoff_between_two_tasks() {
    loom::model(|| {
        let s = shared(1);
        let s2 = s.clone();
        let t = thread::spawn(move || {
            block_on(s2.sem.acquire(1));
            s2.bump();
            s2.sem.release(1);
        });
        block_on(s.sem.acquire(1));
        s.bump();
        s.sem.release(1);
        t.join().unwrap();
        assert_eq!(s.read(), 2);
        s.assert_idle(1);
    });
}

/// (2) Acquire vs release vs cancel: the lock is held; a task polls an
/// acquire once and drops it if pending (before or after a grant that
/// races with the drop), while the holder releases. Whatever the order,
/// the permit ends up back and the queue empty.
#[test]
fn acquire_then_cancel_races_the_release() {
    loom::model(|| {
        let s = shared(1);
        assert!(s.sem.try_acquire(1));
        let s2 = s.clone();
        let t = thread::spawn(move || {
            let mut fut = s2.sem.acquire(1);
            match poll_once(&mut fut) {
                Poll::Ready(()) => {
                    drop(fut);
                    s2.bump();
                    s2.sem.release(1);
                }
                Poll::Pending => drop(fut), // cancelled: granted or not
            }
        });
        s.bump();
        s.sem.release(1);
        t.join().unwrap();
        s.assert_idle(1);
    });
}

/// (3) A writer (all permits) waits behind a reader; another reader comes
/// later. Exclusion holds, the writer gets in once the readers are out, and
/// everything is returned.
#[test]
fn writer_waits_behind_readers() {
    loom::model(|| {
        let s = shared(2);
        assert!(s.sem.try_acquire(1)); // a reader inside
        let w = {
            let s = s.clone();
            thread::spawn(move || {
                block_on(s.sem.acquire(2));
                s.bump();
                s.sem.release(2);
            })
        };
        let r = {
            let s = s.clone();
            thread::spawn(move || {
                block_on(s.sem.acquire(1));
                let _ = s.read();
                s.sem.release(1);
            })
        };
        let _ = s.read();
        s.sem.release(1);
        w.join().unwrap();
        r.join().unwrap();
        assert_eq!(s.read(), 1);
        s.assert_idle(2);
    });
}

/// (4) A cancelled first waiter re-runs the grant: a writer queued behind a
/// reader gives up while a later reader may be queued behind it; that
/// reader must still get in (a lost grant would leave it parked forever,
/// which loom reports as a deadlock).
#[test]
fn a_cancelled_head_lets_the_next_waiter_in() {
    loom::model(|| {
        let s = shared(2);
        assert!(s.sem.try_acquire(1)); // a reader inside, held to the end
        let w = {
            let s = s.clone();
            thread::spawn(move || {
                let mut fut = s.sem.acquire(2);
                assert!(
                    poll_once(&mut fut).is_pending(),
                    "the reader holds a permit"
                );
                drop(fut);
            })
        };
        let r = {
            let s = s.clone();
            thread::spawn(move || {
                let fut = pin!(s.sem.acquire(1));
                block_on(fut);
                let _ = s.read();
                s.sem.release(1);
            })
        };
        w.join().unwrap();
        r.join().unwrap();
        s.sem.release(1);
        s.assert_idle(2);
    });
}

/// (5) An upgrade is queued ahead of a waiting writer: with the RwSem's
/// weights in small (write 4, upgradable 3, read 1), an upgradable reader
/// upgrades while a reader leaves and a writer queues for everything. Were
/// the upgrade queued behind the writer, both would wait forever (loom
/// reports the deadlock).
#[test]
fn an_upgrade_waits_ahead_of_a_queued_writer() {
    loom::model(|| {
        let s = shared(4);
        assert!(s.sem.try_acquire(3)); // the upgradable read
        assert!(s.sem.try_acquire(1)); // a reader beside it
        let w = {
            let s = s.clone();
            thread::spawn(move || {
                block_on(s.sem.acquire(4));
                s.bump();
                s.sem.release(4);
            })
        };
        let r = {
            let s = s.clone();
            thread::spawn(move || s.sem.release(1)) // the reader leaves
        };
        block_on(s.sem.acquire_first(1)); // the upgrade
        s.bump();
        s.sem.release(4);
        w.join().unwrap();
        r.join().unwrap();
        assert_eq!(s.read(), 2);
        s.assert_idle(4);
    });
}

/// (6) The woken window: a waiter queues behind the holder; the holder
/// releases (waking it) while a barging task takes the lock, uses it and
/// releases it. The woken waiter's take may fail (the barger has the
/// permit), and the barger's release may come before, during or after that
/// failed take: whichever order, the waiter is woken again and gets in (a
/// lost wake-up is a deadlock loom reports), and exclusion holds.
#[test]
fn release_races_a_woken_heads_failed_take_and_a_barger() {
    loom::model(|| {
        let s = shared(1);
        assert!(s.sem.try_acquire(1));
        let w = {
            let s = s.clone();
            thread::spawn(move || {
                block_on(s.sem.acquire(1));
                s.bump();
                s.sem.release(1);
            })
        };
        let b = {
            let s = s.clone();
            thread::spawn(move || {
                if s.sem.try_acquire(1) {
                    s.bump();
                    s.sem.release(1);
                }
            })
        };
        s.bump();
        s.sem.release(1);
        w.join().unwrap();
        b.join().unwrap();
        assert!(s.read() >= 2);
        s.assert_idle(1);
    });
}

/// (7) The starvation bound: a waiter woken and beaten to the permit four
/// times (the loss bound; loom has no clock) is granted it by the next
/// release, which races a barger's attempt: the barger must fail whether it
/// comes before the release (nothing free) or after (granted away), and the
/// waiter's next poll has it.
#[test]
fn the_loss_bound_forces_a_grant_past_a_barger() {
    loom::model(|| {
        let s = shared(1);
        assert!(s.sem.try_acquire(1));
        let mut waiter = s.sem.acquire(1);
        assert!(poll_once(&mut waiter).is_pending());
        for _ in 0..4 {
            s.sem.release(1); // wakes the waiter
            assert!(s.sem.try_acquire(1), "the woken window is open");
            assert!(poll_once(&mut waiter).is_pending(), "it lost the race");
        }
        let r = {
            let s = s.clone();
            thread::spawn(move || {
                s.bump();
                s.sem.release(1) // overdue: granted, not woken
            })
        };
        let b = {
            let s = s.clone();
            thread::spawn(move || s.sem.try_acquire(1))
        };
        r.join().unwrap();
        assert!(!b.join().unwrap(), "a barger got past an overdue waiter");
        assert!(poll_once(&mut waiter).is_ready(), "granted by the release");
        drop(waiter);
        s.bump();
        s.sem.release(1);
        assert_eq!(s.read(), 2);
        s.assert_idle(1);
    });
}

/// (8) A woken first waiter that is cancelled passes its wake on: a waiter
/// is queued first while the lock is held; the holder's release (which may
/// wake it), its cancellation, and a second task acquiring (which may
/// queue behind it) all race. The second task must get in whatever the
/// order (a wake lost with the cancelled waiter is a deadlock loom reports).
#[test]
fn a_cancelled_woken_head_passes_the_wake_on() {
    loom::model(|| {
        let s = shared(1);
        assert!(s.sem.try_acquire(1));
        let mut first = s.sem.acquire(1);
        assert!(poll_once(&mut first).is_pending());
        let rel = {
            let s = s.clone();
            thread::spawn(move || {
                s.bump();
                s.sem.release(1) // the holder's, on its behalf
            })
        };
        let t = {
            let s = s.clone();
            thread::spawn(move || {
                block_on(s.sem.acquire(1));
                s.bump();
                s.sem.release(1);
            })
        };
        drop(first); // cancelled: queued, woken, or granted by now
        rel.join().unwrap();
        t.join().unwrap();
        assert_eq!(s.read(), 2);
        s.assert_idle(1);
    });
}
