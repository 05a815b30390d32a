//! [`QueueLock`]: the small blocking lock that guards a semaphore's waiter
//! queue. It is taken only on the contended paths (an acquirer that must
//! queue, a release that finds waiters, a poll or a drop of a queued
//! future), each time for a few dozen instructions, so it spins briefly and
//! then parks the thread in the parking lot (`kernsync_primitive`: the real
//! one in a build, loom's model under `--cfg loom`).

use kernsync_primitive::atomic::{AtomicU8, Ordering};
use kernsync_primitive::{park, unpark_one, ParkToken, SpinWait, UnparkToken};

// ---------------------------------------------------------------------------
// The state word.
// ---------------------------------------------------------------------------

/// A thread holds the lock.
const LOCKED: u8 = 0b01;
/// At least one thread is (or is about to be) parked on the lock's address.
const PARKED: u8 = 0b10;

/// A test-and-set lock with parking: the guard of a waiter queue.
pub(crate) struct QueueLock {
    /// See the constants above.
    state: AtomicU8,
}

impl QueueLock {
    kernsync_primitive::const_fn! {
        /// An unlocked lock.
        pub(crate) const fn new() -> QueueLock {
            QueueLock { state: AtomicU8::new(0) }
        }
    }

    /// Takes the lock.
    #[inline]
    pub(crate) fn lock(&self) {
        // Acquire: pairs with the Release of `unlock` (or of the handover
        // in `unlock_slow`), so the queue writes of the last holder are seen.
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
    }

    #[cold]
    fn lock_slow(&self) {
        let mut spin = SpinWait::new();
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED == 0 {
                // Acquire: as in `lock`.
                match self.state.compare_exchange_weak(
                    state,
                    state | LOCKED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return,
                    Err(s) => state = s,
                }
                continue;
            }
            if state & PARKED == 0 && spin.spin() {
                state = self.state.load(Ordering::Relaxed);
                continue;
            }
            if state & PARKED == 0 {
                if let Err(s) = self.state.compare_exchange_weak(
                    state,
                    state | PARKED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    state = s;
                    continue;
                }
            }
            let key = self as *const QueueLock as usize;
            let validate = || self.state.load(Ordering::Relaxed) == LOCKED | PARKED;
            // SAFETY: `key` is this lock's address, which no other parking
            // lot user keys on; the callbacks neither unwind nor park.
            unsafe { park(key, validate, || {}, |_, _| {}, ParkToken(0), None) };
            spin.reset();
            state = self.state.load(Ordering::Relaxed);
        }
    }

    /// Releases the lock, which the caller holds.
    #[inline]
    pub(crate) fn unlock(&self) {
        // Release: pairs with the Acquire of the next `lock`.
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow();
        }
    }

    #[cold]
    fn unlock_slow(&self) {
        let key = self as *const QueueLock as usize;
        let callback = |r: kernsync_primitive::UnparkResult| {
            // Release: the woken thread (or any next locker) acquires it.
            let next = if r.have_more_threads { PARKED } else { 0 };
            self.state.store(next, Ordering::Release);
            UnparkToken(0)
        };
        // SAFETY: `key` is this lock's address; the callback only stores
        // the state word, which neither unwinds nor calls the parking lot.
        unsafe { unpark_one(key, callback) };
    }
}
