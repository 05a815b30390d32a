//! `Condvar`: a condition variable for [`Mutex`], checked by the validator.

use core::fmt;
use std::time::{Duration, Instant};

use crate::checked::CheckedRawMutex;
use crate::mutex::MutexGuard;
use crate::RawCondvar;

/// The checked raw mutex behind a guard.
#[inline]
fn checked<'a, T: ?Sized>(guard: &MutexGuard<'a, T>) -> &'a CheckedRawMutex {
    // SAFETY: used only to reach the raw mutex the guard holds, which the
    // wait releases and re-acquires on the guard's behalf.
    unsafe { lock_api::MutexGuard::mutex(guard).raw() }
}

/// Whether a timed wait returned because its time ran out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait timed out (the condition may still have been met).
    #[inline]
    pub fn timed_out(self) -> bool {
        self.0
    }
}

/// A condition variable for [`Mutex`](crate::Mutex).
///
/// For the validator a wait is what it does to the mutex: a release and a
/// blocking re-acquisition, both at the caller's line, and a
/// [`might_sleep`](kernsync_lockdep::might_sleep) point (waiting inside an
/// atomic section is reported). lock_api's `Condvar::wait` is not
/// `#[track_caller]`, so these are our own wait methods. A condvar must be
/// used with one mutex at a time; waiting on it with two panics.
///
/// ```
/// use kernsync_rwsem::{Condvar, Mutex};
/// use std::sync::Arc;
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let p = Arc::clone(&pair);
/// let t = std::thread::spawn(move || {
///     *p.0.lock() = true;
///     p.1.notify_one();
/// });
/// let mut ready = pair.0.lock();
/// while !*ready {
///     pair.1.wait(&mut ready);
/// }
/// t.join().unwrap();
/// ```
pub struct Condvar {
    raw: RawCondvar,
}

impl Condvar {
    /// A condition variable with no waiters.
    #[inline]
    pub const fn new() -> Condvar {
        Condvar {
            raw: RawCondvar::new(),
        }
    }

    /// Wakes one waiter; whether there was one.
    #[inline]
    pub fn notify_one(&self) -> bool {
        self.raw.notify_one()
    }

    /// Wakes every waiter; how many there were.
    #[inline]
    pub fn notify_all(&self) -> usize {
        self.raw.notify_all()
    }

    /// The validator's view of a wait around `wait`, which releases and
    /// re-acquires the raw mutex ([`LockMap::around_wait`]). The guard's
    /// own token stays valid: a re-acquisition of the same lock in the same
    /// mode gets an equal one.
    ///
    /// [`LockMap::around_wait`]: kernsync_lockdep::LockMap::around_wait
    #[inline]
    #[track_caller]
    fn around<T: ?Sized, R>(&self, guard: &mut MutexGuard<'_, T>, wait: impl FnOnce() -> R) -> R {
        checked(guard).map().around_wait(wait).0
    }

    /// Releases the guard's mutex, waits for a notification, and locks it
    /// again. Wakeups may be spurious: wait in a loop on the condition.
    #[inline]
    #[track_caller]
    pub fn wait<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T>) {
        let raw = checked(guard).raw();
        // SAFETY: the guard proves this thread holds `raw`.
        self.around(guard, || unsafe { self.raw.wait(raw) });
    }

    /// Waits while `condition` holds.
    #[inline]
    #[track_caller]
    pub fn wait_while<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) {
        while condition(&mut *guard) {
            self.wait(guard);
        }
    }

    /// [`wait`](Condvar::wait), giving up at `deadline`.
    #[inline]
    #[track_caller]
    pub fn wait_until<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        let raw = checked(guard).raw();
        // SAFETY: the guard proves this thread holds `raw`.
        WaitTimeoutResult(self.around(guard, || unsafe { self.raw.wait_until(raw, deadline) }))
    }

    /// [`wait`](Condvar::wait), giving up after `timeout` (a timeout past
    /// what an `Instant` can hold waits with no limit, as std's does).
    #[inline]
    #[track_caller]
    pub fn wait_for<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.wait_until(guard, deadline),
            None => {
                self.wait(guard);
                WaitTimeoutResult(false)
            }
        }
    }

    /// Waits while `condition` holds, giving up at `deadline`.
    #[inline]
    #[track_caller]
    pub fn wait_while_until<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        mut condition: impl FnMut(&mut T) -> bool,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        while condition(&mut *guard) {
            if self.wait_until(guard, deadline).timed_out() {
                return WaitTimeoutResult(condition(&mut *guard));
            }
        }
        WaitTimeoutResult(false)
    }

    /// Waits while `condition` holds, giving up after `timeout` (a timeout
    /// past what an `Instant` can hold waits with no limit).
    #[inline]
    #[track_caller]
    pub fn wait_while_for<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        condition: impl FnMut(&mut T) -> bool,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.wait_while_until(guard, condition, deadline),
            None => {
                self.wait_while(guard, condition);
                WaitTimeoutResult(false)
            }
        }
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
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
