//! `Condvar`: kernsync's raw condition variable for [`MutexGuard`], with
//! parking_lot 0.12's API, and the wait shown to the validator.
//!
//! For the validator a wait is what it does to the mutex: a release and a
//! blocking re-acquisition at the wait's line (as kernsync's own `Condvar`
//! does), and a `might_sleep` point. The re-acquisition is checked *before*
//! the wait, so a lock held across the wait that the notifier needs first
//! (a real inversion: the waiter wakes holding it and then needs the mutex)
//! is reported as soon as such a wait happens, whether or not it hangs.

use core::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use kernsync_rwsem::RawCondvar;

use crate::mutex::MutexGuard;
use crate::raw_mutex::RawMutex;

/// Whether a timed wait returned because its time ran out.
#[derive(Debug, PartialEq, Eq, Copy, Clone)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// Returns whether the wait was known to have timed out.
    #[inline]
    pub fn timed_out(self) -> bool {
        self.0
    }
}

/// A condition variable for [`Mutex`](crate::Mutex).
///
/// parking_lot 0.12's: waits take `&mut MutexGuard`, never wake spuriously
/// (a wait that did not time out was chosen by a `notify_*`), `notify_one`
/// says whether it woke a thread and `notify_all` how many, and a condvar
/// may be used with one mutex at a time (waiting with a second while threads
/// still wait with the first panics).
pub struct Condvar {
    raw: RawCondvar,
}

/// The raw mutex a guard holds.
#[inline]
fn raw_of<'a, T: ?Sized>(guard: &MutexGuard<'a, T>) -> &'a RawMutex {
    // SAFETY: used only to reach the raw mutex the guard holds, which the
    // wait releases and re-acquires on the guard's behalf.
    unsafe { MutexGuard::mutex(guard).raw() }
}

impl Condvar {
    /// Creates a new condition variable which is ready to be waited on and
    /// notified.
    #[inline]
    pub const fn new() -> Condvar {
        Condvar {
            raw: RawCondvar::new(),
        }
    }

    /// Wakes up one blocked thread on this condvar; returns whether a thread
    /// was woken (or moved onto the mutex's queue, to wake when it unlocks).
    #[inline]
    pub fn notify_one(&self) -> bool {
        self.raw.notify_one()
    }

    /// Wakes up all blocked threads on this condvar; returns how many.
    #[inline]
    pub fn notify_all(&self) -> usize {
        self.raw.notify_all()
    }

    /// The wait itself: `deadline` `None` waits for a notification. True if
    /// it timed out.
    #[track_caller]
    fn wait_internal(&self, mutex: &RawMutex, deadline: Option<Instant>) -> WaitTimeoutResult {
        let checked = mutex.checked();
        let map = checked.map();
        let raw = checked.raw();
        // Tracked only when the shim validates and the mutex's class is (a
        // lock first taken inside lock_api or std is not): then the release
        // and the blocking re-acquisition, as it was held, are recorded
        // before the wait. The re-acquisition's entry replaces the one the
        // guard's unlock (`release_unpaired`) will take off; its token is
        // not kept (lock_api 0.4 keeps none).
        //
        // kernsync's raw wait panics, before releasing the mutex, only when
        // threads wait on this condvar with another mutex: parking_lot says
        // so in its own words.
        let (timed_out, _token) = map.around_wait(|| {
            panic::catch_unwind(AssertUnwindSafe(|| match deadline {
                // SAFETY: the guard this mutex came from proves this thread
                // holds it; the wait returns holding it again.
                Some(deadline) => unsafe { self.raw.wait_until(raw, deadline) },
                None => {
                    // SAFETY: as above.
                    unsafe { self.raw.wait(raw) };
                    false
                }
            }))
        });
        match timed_out {
            Ok(timed_out) => WaitTimeoutResult(timed_out),
            Err(_) => panic!("attempted to use a condition variable with more than one mutex"),
        }
    }

    /// Blocks the current thread until this condition variable receives a
    /// notification, releasing the guard's mutex while it waits and locking
    /// it again before returning.
    #[inline]
    #[track_caller]
    pub fn wait<T: ?Sized>(&self, mutex_guard: &mut MutexGuard<'_, T>) {
        self.wait_internal(raw_of(mutex_guard), None);
    }

    /// As [`wait`](Condvar::wait), giving up at `timeout`.
    #[inline]
    #[track_caller]
    pub fn wait_until<T: ?Sized>(
        &self,
        mutex_guard: &mut MutexGuard<'_, T>,
        timeout: Instant,
    ) -> WaitTimeoutResult {
        self.wait_internal(raw_of(mutex_guard), Some(timeout))
    }

    /// As [`wait`](Condvar::wait), giving up after `timeout` (a timeout past
    /// what an `Instant` can hold waits with no limit).
    #[inline]
    #[track_caller]
    pub fn wait_for<T: ?Sized>(
        &self,
        mutex_guard: &mut MutexGuard<'_, T>,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        self.wait_internal(raw_of(mutex_guard), Instant::now().checked_add(timeout))
    }

    #[inline]
    #[track_caller]
    fn wait_while_until_internal<T, F>(
        &self,
        mutex_guard: &mut MutexGuard<'_, T>,
        mut condition: F,
        timeout: Option<Instant>,
    ) -> WaitTimeoutResult
    where
        T: ?Sized,
        F: FnMut(&mut T) -> bool,
    {
        let mut result = WaitTimeoutResult(false);
        while !result.timed_out() && condition(&mut **mutex_guard) {
            result = self.wait_internal(raw_of(mutex_guard), timeout);
        }
        result
    }

    /// Blocks while `condition` returns true, checking it before every wait.
    #[inline]
    #[track_caller]
    pub fn wait_while<T, F>(&self, mutex_guard: &mut MutexGuard<'_, T>, condition: F)
    where
        T: ?Sized,
        F: FnMut(&mut T) -> bool,
    {
        self.wait_while_until_internal(mutex_guard, condition, None);
    }

    /// As [`wait_while`](Condvar::wait_while), giving up at `timeout`; the
    /// result says whether the last wait timed out.
    #[inline]
    #[track_caller]
    pub fn wait_while_until<T, F>(
        &self,
        mutex_guard: &mut MutexGuard<'_, T>,
        condition: F,
        timeout: Instant,
    ) -> WaitTimeoutResult
    where
        T: ?Sized,
        F: FnMut(&mut T) -> bool,
    {
        self.wait_while_until_internal(mutex_guard, condition, Some(timeout))
    }

    /// As [`wait_while`](Condvar::wait_while), giving up after `timeout`.
    #[inline]
    #[track_caller]
    pub fn wait_while_for<T: ?Sized, F>(
        &self,
        mutex_guard: &mut MutexGuard<'_, T>,
        condition: F,
        timeout: Duration,
    ) -> WaitTimeoutResult
    where
        F: FnMut(&mut T) -> bool,
    {
        let deadline = Instant::now().checked_add(timeout);
        self.wait_while_until_internal(mutex_guard, condition, deadline)
    }
}

impl Default for Condvar {
    #[inline]
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Condvar { .. }")
    }
}
