//! The raw condition variable, paired with [`RawMutex`].
//!
//! A waiter parks on the condvar's address. `notify_one` wakes it, or, when
//! the mutex is locked, moves it straight onto the mutex's queue (where the
//! owner's unlock will wake it); `notify_all` wakes one waiter and moves the
//! rest onto the mutex's queue, so they take the mutex one by one instead of
//! all waking to fight for it. See the handshake in [`crate::raw_mutex`].
//!
//! Waits never return spuriously: a wait that does not time out was chosen by
//! a `notify_*` call, and those calls return exactly how many waiters they
//! chose (a waiter moved onto the mutex counts as notified).

#[cfg(not(loom))]
use crate::raw_mutex::RawMutexGuard;
use crate::raw_mutex::{RawMutex, PARK_NORMAL, TOKEN_HANDOFF, TOKEN_NORMAL};
use kernsync_primitive::atomic::{AtomicPtr, Ordering};
use kernsync_primitive::{
    abort_on_unwind, park, unpark_requeue, ParkResult, RequeueOp, UnparkResult,
};
use std::ptr;
use std::time::Instant;

/// A condition variable for [`RawMutex`]. It may be used with one mutex at a
/// time: waiting with a second mutex while threads still wait with the first
/// panics.
pub struct RawCondvar {
    /// The mutex the current waiters use; null when nobody waits. Written
    /// only with this condvar's queue locked: set by the first waiter's
    /// `validate`, cleared when the last waiter leaves the queue (notified
    /// or timed out).
    state: AtomicPtr<RawMutex>,
}

impl RawCondvar {
    kernsync_primitive::const_fn! {
        /// A condition variable with no waiters.
        #[inline]
        pub const fn new() -> RawCondvar {
            RawCondvar {
                state: AtomicPtr::new(ptr::null_mut()),
            }
        }
    }

    #[inline]
    fn addr(&self) -> usize {
        self as *const RawCondvar as usize
    }

    /// Releases `mutex`, waits for a notification, and locks `mutex` again.
    ///
    /// # Panics
    /// If other threads are waiting on this condvar with a different mutex
    /// (before releasing `mutex`, which is still held when the panic unwinds).
    ///
    /// # Safety
    /// The calling thread holds `mutex`.
    #[inline]
    pub unsafe fn wait(&self, mutex: &RawMutex) {
        // SAFETY: the caller holds `mutex`.
        unsafe { self.wait_internal(mutex, None) };
    }

    /// As [`wait`](RawCondvar::wait), giving up at `deadline`. Returns true
    /// if it timed out (not notified); holds `mutex` again either way.
    ///
    /// # Panics
    /// As [`wait`](RawCondvar::wait).
    ///
    /// # Safety
    /// The calling thread holds `mutex`.
    #[inline]
    pub unsafe fn wait_until(&self, mutex: &RawMutex, deadline: Instant) -> bool {
        // SAFETY: the caller holds `mutex`.
        unsafe { self.wait_internal(mutex, Some(deadline)) }
    }

    /// Wakes one waiter (or moves it onto the mutex's queue); whether there
    /// was one.
    #[inline]
    pub fn notify_one(&self) -> bool {
        // Relaxed: a waiter this call must find stored the pointer before it
        // released the mutex, and the notifier changed the condition under
        // that mutex afterwards, so the mutex's Release/Acquire pair orders
        // the store before this load. A stale non-null is rechecked below.
        let mutex = self.state.load(Ordering::Relaxed);
        if mutex.is_null() {
            return false;
        }
        self.notify_one_slow(mutex)
    }

    /// Wakes all waiters (one directly, the rest through the mutex's queue);
    /// how many there were.
    #[inline]
    pub fn notify_all(&self) -> usize {
        // Relaxed: as in `notify_one`.
        let mutex = self.state.load(Ordering::Relaxed);
        if mutex.is_null() {
            return 0;
        }
        self.notify_all_slow(mutex)
    }

    #[cold]
    fn notify_one_slow(&self, mutex: *mut RawMutex) -> bool {
        let validate = || {
            // With our queue locked: if the waiters we saw are gone (and new
            // ones use another mutex), there is nobody to notify.
            if self.state.load(Ordering::Relaxed) != mutex {
                return RequeueOp::Abort;
            }
            // SAFETY: `state` is non-null only while threads are parked here
            // (it is cleared, with this queue locked, when the last leaves);
            // each of them borrows `*mutex` for its whole wait, so it is alive.
            let mutex = unsafe { &*mutex };
            // Locked: requeue, its owner's unlock will wake the waiter.
            // Unlocked: wake it to lock the mutex itself.
            if mutex.mark_parked_if_locked() {
                RequeueOp::RequeueOne
            } else {
                RequeueOp::UnparkOne
            }
        };
        let callback = |_op, result: UnparkResult| {
            if !result.have_more_threads {
                self.state.store(ptr::null_mut(), Ordering::Relaxed);
            }
            TOKEN_NORMAL
        };
        // SAFETY: both keys are addresses of live objects we are using;
        // `validate` and `callback` only touch our state and the mutex's
        // state byte (no panic, no parking-lot call).
        let result = abort_on_unwind(|| unsafe {
            unpark_requeue(self.addr(), mutex as usize, validate, callback)
        });
        result.unparked_threads + result.requeued_threads != 0
    }

    #[cold]
    fn notify_all_slow(&self, mutex: *mut RawMutex) -> usize {
        let validate = || {
            if self.state.load(Ordering::Relaxed) != mutex {
                return RequeueOp::Abort;
            }
            // Every waiter leaves our queue now.
            self.state.store(ptr::null_mut(), Ordering::Relaxed);
            // SAFETY: as in `notify_one_slow`: threads parked here borrow it.
            let mutex = unsafe { &*mutex };
            // Locked: requeue all, its owner's unlock wakes them in turn.
            // Unlocked: wake one, which will lock and later unlock it.
            if mutex.mark_parked_if_locked() {
                RequeueOp::RequeueAll
            } else {
                RequeueOp::UnparkOneRequeueRest
            }
        };
        let callback = |op, result: UnparkResult| {
            if op == RequeueOp::UnparkOneRequeueRest && result.requeued_threads != 0 {
                // SAFETY: the threads just requeued are still parked (woken
                // only after this callback) and each borrows `*mutex`.
                unsafe { &*mutex }.mark_parked();
            }
            TOKEN_NORMAL
        };
        // SAFETY: as in `notify_one_slow`.
        let result = abort_on_unwind(|| unsafe {
            unpark_requeue(self.addr(), mutex as usize, validate, callback)
        });
        result.unparked_threads + result.requeued_threads
    }

    /// The wait; true if it timed out.
    ///
    /// # Safety
    /// The calling thread holds `mutex`.
    unsafe fn wait_internal(&self, mutex: &RawMutex, deadline: Option<Instant>) -> bool {
        let addr = self.addr();
        let mutex_ptr = mutex as *const RawMutex as *mut RawMutex;
        let mut bad_mutex = false;
        let mut requeued = false;
        let validate = || {
            // With our queue locked (so no notify runs): claim the condvar
            // for `mutex`, or refuse if others wait with another mutex.
            let current = self.state.load(Ordering::Relaxed);
            if current.is_null() {
                self.state.store(mutex_ptr, Ordering::Relaxed);
            } else if current != mutex_ptr {
                bad_mutex = true;
                return false;
            }
            true
        };
        // After we are queued, so a notify that follows the unlock finds us.
        // SAFETY: the caller holds `mutex`; this is the release of its
        // acquisition, which we take back below.
        let before_sleep = || unsafe { mutex.unlock() };
        let timed_out = |key: usize, was_last: bool| {
            if key == addr {
                if was_last {
                    self.state.store(ptr::null_mut(), Ordering::Relaxed);
                }
            } else {
                // Requeued onto the mutex: we were notified. Leave its
                // queue tidy: PARKED only while someone is parked there.
                requeued = true;
                if was_last {
                    mutex.clear_parked();
                }
            }
        };
        // SAFETY: the key is our address; `validate` and `timed_out` only
        // touch our state and the mutex's state byte; `before_sleep` unlocks
        // the mutex, which may unpark (allowed) and does not panic.
        let result = abort_on_unwind(|| unsafe {
            park(
                addr,
                validate,
                before_sleep,
                timed_out,
                PARK_NORMAL,
                deadline,
            )
        });
        if bad_mutex {
            // `validate` refused before `before_sleep`: we still hold `mutex`.
            panic!(
                "kernsync: a condition variable was used with two different mutexes at once \
                 (threads are still waiting on it with another mutex)"
            );
        }
        // The mutex is released: take it back, aborting rather than unwinding
        // without it (lock_api's contract for a wait).
        if result == ParkResult::Unparked(TOKEN_HANDOFF) {
            // An unlock of the mutex handed it to us on its queue.
            mutex.acquire_handed_off();
        } else {
            abort_on_unwind(|| mutex.lock());
        }
        !(result.is_unparked() || requeued)
    }
}

impl Default for RawCondvar {
    fn default() -> RawCondvar {
        RawCondvar::new()
    }
}

impl std::fmt::Debug for RawCondvar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawCondvar { .. }")
    }
}

// SAFETY: `wait` queues the thread (under the condvar's queue lock, which
// every notify takes) before it unlocks the mutex, so no notification that
// follows the unlock is missed; it returns holding the mutex again, and the
// only panic (two mutexes) happens before the unlock, with `guard` untouched.
// Relocking aborts rather than unwinds. Waits never wake spuriously, so the
// notify counts are exact (see the module docs).
#[cfg(not(loom))]
unsafe impl lock_api::RawCondvar for RawCondvar {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawCondvar = RawCondvar::new();

    type RawMutex = RawMutex;

    #[inline]
    unsafe fn wait(&self, mutex: &RawMutex, guard: &mut RawMutexGuard) {
        // SAFETY: the caller holds `mutex`, with `guard` its state.
        unsafe { RawCondvar::wait(self, mutex) };
        // The state of the new acquisition (it carries nothing).
        *guard = RawMutexGuard::acquired();
    }

    #[inline]
    fn notify_one(&self) -> bool {
        RawCondvar::notify_one(self)
    }

    #[inline]
    fn notify_all(&self) -> usize {
        RawCondvar::notify_all(self)
    }
}

// SAFETY: as for `RawCondvar`; a timed wait returns true only when it left
// the condvar's queue by timing out (not after a notification or a requeue),
// which the parking lot does no earlier than the deadline.
#[cfg(not(loom))]
unsafe impl lock_api::RawCondvarTimed for RawCondvar {
    #[inline]
    fn checked_duration_to_instant(timeout: &std::time::Duration) -> Option<Instant> {
        Instant::now().checked_add(*timeout)
    }

    #[inline]
    unsafe fn wait_until(
        &self,
        mutex: &RawMutex,
        guard: &mut RawMutexGuard,
        deadline: &Instant,
    ) -> bool {
        // SAFETY: the caller holds `mutex`, with `guard` its state.
        let timed_out = unsafe { RawCondvar::wait_until(self, mutex, *deadline) };
        // The state of the new acquisition (it carries nothing).
        *guard = RawMutexGuard::acquired();
        timed_out
    }
}
