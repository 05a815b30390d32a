//! `RwLock<T>`: std's reader-writer lock, poisoning included, over
//! kernsync's checked semaphore.

use core::fmt;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};
use core::panic::{Location, RefUnwindSafe, UnwindSafe};
use std::sync::{LockResult, TryLockError, TryLockResult};

use kernsync_lockdep::{LockKind, LockMap};
use kernsync_rwsem::CheckedRawRwSem;

use crate::poison::{self, map_result, Data};

/// A reader-writer lock with std's API and poisoning, whose every
/// acquisition is checked by the lock-order validator.
///
/// Underneath is kernsync's task-fair `RwSem`: a waiting writer blocks new
/// readers, so a read is a `Read` for the validator (a read taken again
/// while a writer waits deadlocks, as with std's lock on Linux). Only a
/// writer's panic poisons the lock, as std's.
///
/// ```
/// use kernsync_sync::RwLock;
/// let lock = RwLock::new(5);
/// std::thread::scope(|s| {
///     // Readers on two threads at once (two reads nested in one thread are
///     // reported: a writer waiting between them would deadlock).
///     let other = s.spawn(|| *lock.read().unwrap());
///     assert_eq!(*lock.read().unwrap() + other.join().unwrap(), 10);
/// });
/// *lock.write().unwrap() += 1;
/// assert_eq!(*lock.read().unwrap(), 6);
/// ```
pub struct RwLock<T: ?Sized> {
    inner: kernsync_rwsem::RwSem<Data<T>>,
}

// As std: the lock is the unwind boundary (poisoning records a panic).
impl<T: ?Sized> UnwindSafe for RwLock<T> {}
impl<T: ?Sized> RefUnwindSafe for RwLock<T> {}

/// A shared guard of a [`RwLock`]. `!Send` (as std's); never poisons.
#[must_use = "if unused the RwLock will immediately unlock"]
#[clippy::has_significant_drop]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    inner: kernsync_rwsem::RwSemReadGuard<'a, Data<T>>,
}

/// An exclusive guard of a [`RwLock`]: dropped while its thread panics, it
/// poisons the lock. `!Send` (as std's).
#[must_use = "if unused the RwLock will immediately unlock"]
#[clippy::has_significant_drop]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    inner: kernsync_rwsem::RwSemWriteGuard<'a, Data<T>>,
    poison: poison::Guard,
}

// SAFETY: a shared read guard gives only `&T`, which may be shared when
// `T: Sync`. As std's `RwLockReadGuard`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}
// SAFETY: a shared write guard gives only `&T`; the poison flag is atomic.
// As std's `RwLockWriteGuard`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

// As std's: a write guard is unwind safe (a panic while it is held
// poisons the lock); a read guard, which does not poison, only when `T` is.
impl<T: ?Sized> UnwindSafe for RwLockWriteGuard<'_, T> {}
impl<T: ?Sized> RefUnwindSafe for RwLockWriteGuard<'_, T> {}
impl<T: ?Sized + RefUnwindSafe> UnwindSafe for RwLockReadGuard<'_, T> {}
impl<T: ?Sized + RefUnwindSafe> RefUnwindSafe for RwLockReadGuard<'_, T> {}

/// What this `RwLock` offers, for the validator's hints: std's surface
/// has no recursive or upgradable read and no nesting annotations.
const RWLOCK: LockKind = LockKind {
    name: "RwLock",
    recursive_read: None,
    upgradable_read: None,
    nested: None,
    nest_lock: None,
    ordered: None,
    named: Some("kernsync::sync::RwLock::named"),
};

impl<T> RwLock<T> {
    /// A lock holding `t`, unlocked, of the class named by the caller's line.
    #[inline]
    #[track_caller]
    pub const fn new(t: T) -> RwLock<T> {
        RwLock::with_map(t, LockMap::at_site(Location::caller()))
    }

    /// A lock holding `t`, of its own class named `name` in reports (the
    /// caller's line *and* `name`).
    #[inline]
    #[track_caller]
    pub const fn named(name: &'static str, t: T) -> RwLock<T> {
        RwLock::with_map(t, LockMap::at_site_named(Location::caller(), name))
    }

    /// A lock holding `t`, with the validator handle `map`.
    #[inline]
    pub const fn with_map(t: T, map: LockMap) -> RwLock<T> {
        RwLock {
            inner: kernsync_rwsem::RwSem::with_map(
                Data::new(t),
                map.or_kind(&RWLOCK).nesting_by_depth().forgettable(),
            ),
        }
    }
}

impl<T: ?Sized> RwLock<T> {
    #[inline]
    fn write_guard<'a>(
        &'a self,
        inner: kernsync_rwsem::RwSemWriteGuard<'a, Data<T>>,
    ) -> RwLockWriteGuard<'a, T> {
        RwLockWriteGuard {
            inner,
            poison: poison::Guard::new(),
        }
    }

    /// Shared access, blocking (behind a waiting writer). `Err` (holding
    /// the guard) if poisoned.
    #[inline]
    #[track_caller]
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        let inner = self.inner.read();
        map_result(self.flag(), RwLockReadGuard { inner })
    }

    /// Shared access if it can be had at once.
    #[inline]
    #[track_caller]
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        match self.inner.try_read() {
            Some(inner) => Ok(map_result(self.flag(), RwLockReadGuard { inner })?),
            None => Err(TryLockError::WouldBlock),
        }
    }

    /// Exclusive access, blocking. `Err` (holding the guard) if poisoned.
    #[inline]
    #[track_caller]
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        let guard = self.write_guard(self.inner.write());
        map_result(self.flag(), guard)
    }

    /// Exclusive access if it can be had at once.
    #[inline]
    #[track_caller]
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        match self.inner.try_write() {
            Some(inner) => Ok(map_result(self.flag(), self.write_guard(inner))?),
            None => Err(TryLockError::WouldBlock),
        }
    }
}

crate::poison::poisoning_lock!(RwLock);

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(guard) => {
                d.field("data", &&*guard);
            }
            Err(TryLockError::Poisoned(err)) => {
                d.field("data", &&**err.get_ref());
            }
            Err(TryLockError::WouldBlock) => {
                d.field("data", &format_args!("<locked>"));
            }
        }
        d.field("poisoned", &self.flag().get());
        d.finish_non_exhaustive()
    }
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns the write guard into a read guard at once: no writer can take
    /// the lock in between (std's `RwLockWriteGuard::downgrade`). For the
    /// validator the held lock becomes a `Read`.
    #[track_caller]
    pub fn downgrade(s: Self) -> RwLockReadGuard<'a, T> {
        let s = ManuallyDrop::new(s);
        // SAFETY: `s` is never used or dropped again, so the inner guard is
        // moved out exactly once; the other field is a `bool` with no drop
        // glue. The poison state is dropped unchecked, as std's downgrade
        // does.
        let inner = unsafe { core::ptr::read(&s.inner) };
        RwLockReadGuard {
            inner: kernsync_rwsem::RwSemWriteGuard::downgrade(inner),
        }
    }
}

impl<T: ?Sized> RwLockWriteGuard<'_, T> {
    /// The data's place in the lock, at the address the inner guard keeps.
    #[inline]
    fn data_ptr(this: &Self) -> *mut Data<T> {
        lock_api::RwLockWriteGuard::rwlock(&this.inner).data_ptr()
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.inner.value
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.inner.value
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock exclusively, and the borrow of
        // the guard bounds the value's.
        unsafe { Data::value_mut(Self::data_ptr(self)) }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    /// Poisons the lock if the thread began panicking while holding it.
    #[inline]
    fn drop(&mut self) {
        if self.poison.panicked() {
            poison(lock_api::RwLockWriteGuard::rwlock(&self.inner));
        }
    }
}

/// Poisons `lock`: out of line and given the address the guard keeps, as
/// the mutex's (see `mutex::poison`).
#[cold]
#[inline(never)]
fn poison<T: ?Sized>(lock: &lock_api::RwLock<CheckedRawRwSem, Data<T>>) {
    // SAFETY: `data_ptr` points into `lock`, borrowed for this call.
    unsafe { Data::flag(lock.data_ptr()) }.poison();
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
