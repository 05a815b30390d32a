//! `Mutex<T>`: the order-checked mutex.

use kernsync_lockdep::LockKind;
use std::time::{Duration, Instant};

use crate::checked::CheckedRawMutex;
use crate::{NestLock, RawMutex};

/// A guard of a [`Mutex`] (lock_api's, with `map`, `unlocked`, `unlock_fair`,
/// `bump`).
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, CheckedRawMutex, T>;
/// A mutex guard mapped to a part of the data.
pub type MappedMutexGuard<'a, T> = lock_api::MappedMutexGuard<'a, CheckedRawMutex, T>;

/// A mutual-exclusion lock whose every acquisition is checked by the
/// lock-order validator, with eventual fairness like parking_lot's.
///
/// The class of a lock made by [`Mutex::new`] is its construction site;
/// [`Mutex::with_class`] names one. No poisoning; guards are `!Send`. See
/// [`RwSem`](crate::RwSem) for the rules shared by all kernsync locks.
///
/// ```
/// use kernsync_rwsem::Mutex;
/// let m = Mutex::new(0);
/// *m.lock() += 1;
/// assert_eq!(*m.lock(), 1);
/// ```
///
/// A guard cannot move to another thread (the held-lock stack is per thread):
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// let m = kernsync_rwsem::Mutex::new(0);
/// send(m.lock());
/// ```
pub struct Mutex<T: ?Sized> {
    inner: lock_api::Mutex<CheckedRawMutex, T>,
}

crate::checked_lock_impls!(Mutex(lock_api::Mutex, RawMutex), try = try_lock, kind = MUTEX);

/// What a [`Mutex`] offers, for the validator's hints.
const MUTEX: LockKind = LockKind {
    name: "Mutex",
    recursive_read: None,
    upgradable_read: None,
    nested: Some("Mutex::lock_nested"),
    nest_lock: Some("Mutex::lock_nest_lock"),
    ordered: Some("Mutex::lock_ordered"),
    named: Some("Mutex::named"),
};

impl<T: ?Sized> Mutex<T> {
    #[inline]
    fn raw(&self) -> &CheckedRawMutex {
        // SAFETY: only used to acquire, and by the condvar, which releases
        // and re-acquires on behalf of a guard it borrows.
        unsafe { self.inner.raw() }
    }

    /// Acquires the lock, validated before it can block.
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.inner.lock()
    }

    /// Acquires the lock as subclass `subclass` (below 8), for nesting two
    /// locks of one class in a fixed order.
    #[inline]
    #[track_caller]
    pub fn lock_nested(&self, subclass: u8) -> MutexGuard<'_, T> {
        let token = self.raw().lock_nested(subclass);
        // SAFETY: the acquisition `token` stands for was just made.
        unsafe { self.inner.make_guard_unchecked(token) }
    }

    /// Acquires the lock as one of many locks of its class held at once
    /// under `outer` (Linux's `mutex_lock_nest_lock`): the outer lock
    /// serialises every thread that takes them, so they are not recursive
    /// locking, and they share one entry of the held-lock stack. Order
    /// against other classes is checked as usual.
    ///
    /// ```
    /// use kernsync_rwsem::Mutex;
    ///
    /// let all = Mutex::new(());
    /// let items: Vec<Mutex<u32>> = (0..100).map(|i| Mutex::new(i)).collect(); // one class
    /// let outer = all.lock();
    /// let held: Vec<_> = items.iter().map(|m| m.lock_nest_lock(&outer)).collect();
    /// assert_eq!(held.iter().map(|g| **g).sum::<u32>(), 4950);
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock_nest_lock(&self, outer: &(impl NestLock + ?Sized)) -> MutexGuard<'_, T> {
        let token = self.raw().lock_nest_lock(outer.nest_map());
        // SAFETY: the acquisition `token` stands for was just made.
        unsafe { self.inner.make_guard_unchecked(token) }
    }

    /// Acquires the lock in a stated order among the locks of its class
    /// (Linux's `lock_set_cmp_fn` ordering): while this thread holds locks
    /// of the class taken so, each one taken must have a larger `key` (an
    /// index, an id, an address); out of order is reported as recursive
    /// locking.
    #[inline]
    #[track_caller]
    pub fn lock_ordered(&self, key: u64) -> MutexGuard<'_, T> {
        let token = self.raw().lock_ordered(key);
        // SAFETY: the acquisition `token` stands for was just made.
        unsafe { self.inner.make_guard_unchecked(token) }
    }

    /// The lock if it can be had at once (adds no dependency).
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.inner.try_lock()
    }

    /// [`lock`](Mutex::lock), giving up after `timeout`.
    #[inline]
    #[track_caller]
    pub fn try_lock_for(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        self.inner.try_lock_for(timeout)
    }

    /// [`lock`](Mutex::lock), giving up at `deadline`.
    #[inline]
    #[track_caller]
    pub fn try_lock_until(&self, deadline: Instant) -> Option<MutexGuard<'_, T>> {
        self.inner.try_lock_until(deadline)
    }

    /// Whether the lock is held.
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }
}
