//! `Mutex<T>`: std's mutex, poisoning included, over kernsync's checked
//! mutex.

use core::fmt;
use core::ops::{Deref, DerefMut};
use core::panic::{Location, RefUnwindSafe, UnwindSafe};
use std::sync::{LockResult, TryLockError, TryLockResult};

use kernsync_lockdep::{LockKind, LockMap};
use kernsync_rwsem::CheckedRawMutex;

use crate::poison::{self, map_result, Data};

/// A mutual-exclusion lock with std's API and poisoning, whose every
/// acquisition is checked by the lock-order validator.
///
/// The class of a lock made by [`Mutex::new`] (or `Default`, `From`) is its
/// construction site, so a `static` has a class of its own; [`Mutex::named`]
/// adds a name, for locks made at one line that nest.
///
/// ```
/// use kernsync_sync::Mutex;
/// static COUNT: Mutex<u32> = Mutex::new(0);
/// *COUNT.lock().unwrap() += 1;
/// assert_eq!(*COUNT.lock().unwrap(), 1);
/// ```
pub struct Mutex<T: ?Sized> {
    inner: kernsync_rwsem::Mutex<Data<T>>,
}

// As std: the lock is the unwind boundary (poisoning records a panic).
impl<T: ?Sized> UnwindSafe for Mutex<T> {}
impl<T: ?Sized> RefUnwindSafe for Mutex<T> {}

/// A guard of a [`Mutex`]: the data, until it is dropped.
///
/// Dropped while its thread panics, it poisons the lock. `!Send` (as std's).
#[must_use = "if unused the Mutex will immediately unlock"]
#[clippy::has_significant_drop]
pub struct MutexGuard<'a, T: ?Sized> {
    pub(crate) inner: kernsync_rwsem::MutexGuard<'a, Data<T>>,
    poison: poison::Guard,
}

// SAFETY: a shared guard gives only `&T` (through `Deref`, `Debug`,
// `Display`), which may be shared when `T: Sync`; the poison flag is atomic.
// As std's `MutexGuard`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

// As std's guard (a reference to an unwind-safe lock): poisoning records a
// panic while it is held.
impl<T: ?Sized> UnwindSafe for MutexGuard<'_, T> {}
impl<T: ?Sized> RefUnwindSafe for MutexGuard<'_, T> {}

/// What this `Mutex` offers, for the validator's hints: std's surface has
/// no nesting annotations, so hints point at [`Mutex::named`].
const MUTEX: LockKind = LockKind {
    name: "Mutex",
    recursive_read: None,
    upgradable_read: None,
    nested: None,
    nest_lock: None,
    ordered: None,
    named: Some("kernsync::sync::Mutex::named"),
};

impl<T> Mutex<T> {
    /// A mutex holding `t`, unlocked, of the class named by the caller's line.
    #[inline]
    #[track_caller]
    pub const fn new(t: T) -> Mutex<T> {
        Mutex::with_map(t, LockMap::at_site(Location::caller()))
    }

    /// A mutex holding `t`, of its own class named `name` in reports (the
    /// caller's line *and* `name`), as kernsync's `Mutex::named`.
    #[inline]
    #[track_caller]
    pub const fn named(name: &'static str, t: T) -> Mutex<T> {
        Mutex::with_map(t, LockMap::at_site_named(Location::caller(), name))
    }

    /// A mutex holding `t`, with the validator handle `map`.
    #[inline]
    pub const fn with_map(t: T, map: LockMap) -> Mutex<T> {
        Mutex {
            inner: kernsync_rwsem::Mutex::with_map(
                Data::new(t),
                map.or_kind(&MUTEX).nesting_by_depth().forgettable(),
            ),
        }
    }
}

impl<T: ?Sized> Mutex<T> {
    #[inline]
    fn guard<'a>(&'a self, inner: kernsync_rwsem::MutexGuard<'a, Data<T>>) -> MutexGuard<'a, T> {
        MutexGuard {
            inner,
            poison: poison::Guard::new(),
        }
    }

    /// Acquires the mutex, blocking, validated before it can block. `Err`
    /// (holding the guard: the lock is taken) if poisoned.
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        let guard = self.guard(self.inner.lock());
        map_result(self.flag(), guard)
    }

    /// The lock if it can be had at once: `WouldBlock` if not, `Poisoned`
    /// (holding the guard) if poisoned.
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        match self.inner.try_lock() {
            Some(inner) => Ok(map_result(self.flag(), self.guard(inner))?),
            None => Err(TryLockError::WouldBlock),
        }
    }
}

crate::poison::poisoning_lock!(Mutex);

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => {
                d.field("data", &&*guard);
            }
            Err(TryLockError::Poisoned(err)) => {
                d.field("data", &&**err.get_ref());
            }
            // Quoted, as std 1.95's `Mutex` prints it (its `RwLock` does not).
            Err(TryLockError::WouldBlock) => {
                d.field("data", &"<locked>");
            }
        }
        d.field("poisoned", &self.flag().get());
        d.finish_non_exhaustive()
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The data's place in the lock, at the address the inner guard keeps.
    #[inline]
    fn data_ptr(this: &Self) -> *mut Data<T> {
        lock_api::MutexGuard::mutex(&this.inner).data_ptr()
    }

    /// The poison flag of the guard's lock.
    #[inline]
    pub(crate) fn flag(this: &Self) -> &'a poison::Flag {
        // SAFETY: the lock outlives `'a`, the guard's borrow of it.
        unsafe { Data::flag(Self::data_ptr(this)) }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.inner.value
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and the borrow of the guard
        // bounds the value's.
        unsafe { Data::value_mut(Self::data_ptr(self)) }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    /// Poisons the lock if the thread began panicking while holding it; the
    /// lock is then released (by the inner guard).
    #[inline]
    fn drop(&mut self) {
        if self.poison.panicked() {
            poison(lock_api::MutexGuard::mutex(&self.inner));
        }
    }
}

/// Poisons `lock`. Out of line and given the address the guard keeps for
/// the unlock, so a lock/unlock pair keeps no second address (the flag's)
/// live for a store it almost never makes: inline, the store's address was
/// computed on the fast path and kept in a saved register, 38 instructions a
/// pair (std's: 37) against 35.
#[cold]
#[inline(never)]
fn poison<T: ?Sized>(lock: &lock_api::Mutex<CheckedRawMutex, Data<T>>) {
    // SAFETY: `data_ptr` points into `lock`, borrowed for this call.
    unsafe { Data::flag(lock.data_ptr()) }.poison();
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
