//! `RawCondvar`: kernsync's raw condvar, paired with this crate's
//! [`RawMutex`], telling the validator what a wait does to the mutex.

use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::check::GuardState;
use crate::raw_mutex::RawMutex;

/// A raw condition variable.
///
/// Waits never return spuriously. [`notify_one`](lock_api::RawCondvar::notify_one)
/// returns exactly whether a waiting thread was selected for notification, and
/// [`notify_all`](lock_api::RawCondvar::notify_all) returns the exact number of
/// waiting threads selected. A thread requeued directly onto the associated
/// mutex is considered notified.
///
/// For the validator a wait is a release of the mutex and a blocking
/// re-acquisition in the mode, subclass and nesting it was held in, recorded
/// before the wait (re-taking the mutex is what may block); the guard's
/// token is replaced by the new acquisition's. A wait is also a
/// `might_sleep` point.
pub struct RawCondvar {
    raw: kernsync_rwsem::RawCondvar,
}

impl RawCondvar {
    /// The raw wait, with upstream's panic message when the condvar is used
    /// with two mutexes at once (kernsync's panics before it unlocks, with
    /// the mutex still held, so unwinding from here keeps the guard valid).
    #[inline]
    fn raw_wait(&self, mutex: &RawMutex, deadline: Option<Instant>) -> bool {
        let wait = || match deadline {
            None => {
                // SAFETY: the caller of the trait method holds `mutex`.
                unsafe { self.raw.wait(&mutex.raw) };
                false
            }
            // SAFETY: as above.
            Some(deadline) => unsafe { self.raw.wait_until(&mutex.raw, deadline) },
        };
        match panic::catch_unwind(AssertUnwindSafe(wait)) {
            Ok(timed_out) => timed_out,
            Err(_) => panic!("attempted to use a condition variable with more than one mutex"),
        }
    }
}

// SAFETY: kernsync's raw wait queues the thread before it unlocks the mutex
// (so no notification that follows the unlock is missed), returns holding
// it again, never wakes spuriously (so the notify counts are exact) and
// panics only before unlocking, with the mutex held and `guard` still that
// acquisition's state (the validator's view already shows it re-held).
// Re-locking aborts rather than unwinds.
unsafe impl lock_api::RawCondvar for RawCondvar {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawCondvar = RawCondvar {
        raw: kernsync_rwsem::RawCondvar::new(),
    };

    type RawMutex = RawMutex;

    #[inline]
    #[track_caller]
    unsafe fn wait(&self, mutex: &RawMutex, guard: &mut GuardState) {
        mutex
            .map
            .around_wait(&mut guard.held, || self.raw_wait(mutex, None));
    }

    #[inline]
    fn notify_one(&self) -> bool {
        self.raw.notify_one()
    }

    #[inline]
    fn notify_all(&self) -> usize {
        self.raw.notify_all()
    }
}

// SAFETY: as for `RawCondvar`; a timed wait returns true only when it left
// the condvar's queue by timing out, no earlier than the deadline.
unsafe impl lock_api::RawCondvarTimed for RawCondvar {
    #[inline]
    fn checked_duration_to_instant(timeout: &Duration) -> Option<Instant> {
        Instant::now().checked_add(*timeout)
    }

    #[inline]
    #[track_caller]
    unsafe fn wait_until(
        &self,
        mutex: &RawMutex,
        guard: &mut GuardState,
        timeout: &Instant,
    ) -> bool {
        mutex
            .map
            .around_wait(&mut guard.held, || self.raw_wait(mutex, Some(*timeout)))
    }
}
