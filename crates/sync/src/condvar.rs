//! `Condvar`: std's condition variable over kernsync's, validated as a
//! release and a blocking re-acquisition of the mutex.

use core::fmt;
use core::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::LockResult;
use std::time::{Duration, Instant};

use crate::mutex::MutexGuard;
use crate::poison::map_result;

/// Whether a timed wait returned because its time ran out (std's cannot be
/// made outside std, so this is its twin).
#[derive(Debug, PartialEq, Eq, Copy, Clone)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait timed out (the condition may still have been met).
    #[must_use]
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// A condition variable for [`Mutex`](crate::Mutex), with std's API.
///
/// For the validator a wait is what it does to the mutex: a release and a
/// blocking re-acquisition at the caller's line, and a `might_sleep` point.
/// A wait on a poisoned mutex returns `Err` (holding the re-taken guard).
///
/// ```
/// use kernsync_sync::{Arc, Condvar, Mutex};
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let p = Arc::clone(&pair);
/// let t = std::thread::spawn(move || {
///     *p.0.lock().unwrap() = true;
///     p.1.notify_one();
/// });
/// let (lock, cvar) = &*pair;
/// let ready = cvar.wait_while(lock.lock().unwrap(), |ready| !*ready).unwrap();
/// assert!(*ready);
/// drop(ready);
/// t.join().unwrap();
/// ```
pub struct Condvar {
    inner: kernsync_rwsem::Condvar,
}

// As std's.
impl UnwindSafe for Condvar {}
impl RefUnwindSafe for Condvar {}

impl Condvar {
    /// A condition variable with no waiters.
    #[inline]
    #[must_use]
    pub const fn new() -> Condvar {
        Condvar {
            inner: kernsync_rwsem::Condvar::new(),
        }
    }

    /// Releases the guard's mutex, waits for a notification, and locks it
    /// again. Wakeups may be spurious. `Err` if the mutex is poisoned.
    #[track_caller]
    pub fn wait<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
    ) -> LockResult<MutexGuard<'a, T>> {
        self.inner.wait(&mut guard.inner);
        map_result(MutexGuard::flag(&guard), guard)
    }

    /// Waits while `condition` holds of the data.
    #[track_caller]
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Deprecated in std in favour of [`wait_timeout`](Condvar::wait_timeout):
    /// waits at most `ms` milliseconds; whether it did not time out.
    #[deprecated(
        since = "1.6.0",
        note = "replaced by `std::sync::Condvar::wait_timeout`"
    )]
    #[track_caller]
    pub fn wait_timeout_ms<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        ms: u32,
    ) -> LockResult<(MutexGuard<'a, T>, bool)> {
        let res = self.wait_timeout(guard, Duration::from_millis(ms.into()));
        poison_map(res, |(guard, timed_out)| (guard, !timed_out.timed_out()))
    }

    /// [`wait`](Condvar::wait), giving up after `dur` (a duration past what
    /// an `Instant` can hold waits with no limit).
    #[track_caller]
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        dur: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let timed_out = self.inner.wait_for(&mut guard.inner, dur).timed_out();
        map_result(
            MutexGuard::flag(&guard),
            (guard, WaitTimeoutResult(timed_out)),
        )
    }

    /// Waits while `condition` holds, giving up after `dur`; the result
    /// says whether the condition still held when the time ran out.
    #[track_caller]
    pub fn wait_timeout_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        dur: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let start = Instant::now();
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            let timeout = match dur.checked_sub(start.elapsed()) {
                Some(timeout) => timeout,
                None => return Ok((guard, WaitTimeoutResult(true))),
            };
            guard = self.wait_timeout(guard, timeout)?.0;
        }
    }

    /// Wakes one waiter.
    #[inline]
    pub fn notify_one(&self) {
        self.inner.notify_one();
    }

    /// Wakes every waiter.
    #[inline]
    pub fn notify_all(&self) {
        self.inner.notify_all();
    }
}

/// `f` applied to the value of `res`, poisoned or not.
fn poison_map<T, U>(res: LockResult<T>, f: impl FnOnce(T) -> U) -> LockResult<U> {
    match res {
        Ok(t) => Ok(f(t)),
        Err(e) => Err(std::sync::PoisonError::new(f(e.into_inner()))),
    }
}

impl Default for Condvar {
    /// A condition variable with no waiters.
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
