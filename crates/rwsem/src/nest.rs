//! [`NestLock`]: what may stand as the nest lock of an acquisition.
//!
//! Linux's `mutex_lock_nest_lock(lock, nest)` takes many locks of one class
//! at once (as `mm_take_all_locks` does) without a recursive-locking report,
//! because an outer lock serialises every thread that does so. Here the
//! outer lock is named by its guard, so it is held by construction.

use kernsync_lockdep::LockMap;

use crate::{MutexGuard, RwSemReadGuard, RwSemUpgradableReadGuard, RwSemWriteGuard};

/// A held lock under which many locks of one class may be taken at once:
/// a guard of a kernsync lock, or a validator handle (`LockMap`) the caller
/// holds. See [`Mutex::lock_nest_lock`](crate::Mutex::lock_nest_lock).
pub trait NestLock {
    /// The validator handle of the outer lock.
    fn nest_map(&self) -> &LockMap;
}

impl NestLock for LockMap {
    #[inline]
    fn nest_map(&self) -> &LockMap {
        self
    }
}

impl<T: ?Sized> NestLock for MutexGuard<'_, T> {
    #[inline]
    fn nest_map(&self) -> &LockMap {
        // SAFETY: the raw lock is only read for its validator handle, never
        // unlocked behind the guard.
        unsafe { MutexGuard::mutex(self).raw() }.map()
    }
}

impl<T: ?Sized> NestLock for RwSemWriteGuard<'_, T> {
    #[inline]
    fn nest_map(&self) -> &LockMap {
        // SAFETY: as for `MutexGuard`: the handle is read, nothing unlocked.
        unsafe { RwSemWriteGuard::rwlock(self).raw() }.map()
    }
}

impl<T: ?Sized> NestLock for RwSemReadGuard<'_, T> {
    #[inline]
    fn nest_map(&self) -> &LockMap {
        // SAFETY: as for `MutexGuard`: the handle is read, nothing unlocked.
        unsafe { RwSemReadGuard::rwlock(self).raw() }.map()
    }
}

impl<T: ?Sized> NestLock for RwSemUpgradableReadGuard<'_, T> {
    #[inline]
    fn nest_map(&self) -> &LockMap {
        // SAFETY: as for `MutexGuard`: the handle is read, nothing unlocked.
        unsafe { RwSemUpgradableReadGuard::rwlock(self).raw() }.map()
    }
}
