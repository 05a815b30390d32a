//! `RwSem<T>`: the order-checked reader/writer semaphore.

use kernsync_lockdep::LockKind;
use std::time::{Duration, Instant};

use crate::checked::CheckedRawRwSem;
use crate::{NestLock, RawRwSem};

/// A shared read guard of a [`RwSem`] (lock_api's, with its whole API:
/// `map`, `try_map`, `unlocked`, `rwlock`).
pub type RwSemReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, CheckedRawRwSem, T>;
/// An exclusive write guard of a [`RwSem`] (with `downgrade`,
/// `downgrade_to_upgradable`, `map`).
pub type RwSemWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, CheckedRawRwSem, T>;
/// An upgradable read guard of a [`RwSem`] (with `upgrade`, `try_upgrade*`,
/// `downgrade`).
pub type RwSemUpgradableReadGuard<'a, T> =
    lock_api::RwLockUpgradableReadGuard<'a, CheckedRawRwSem, T>;
/// A read guard mapped to a part of the data.
pub type MappedRwSemReadGuard<'a, T> = lock_api::MappedRwLockReadGuard<'a, CheckedRawRwSem, T>;
/// A write guard mapped to a part of the data.
pub type MappedRwSemWriteGuard<'a, T> = lock_api::MappedRwLockWriteGuard<'a, CheckedRawRwSem, T>;

/// A task-fair reader/writer semaphore whose every acquisition is checked by
/// the lock-order validator (compiled out in release builds unless the
/// `lockdep` feature keeps it).
///
/// - `read` is lockdep's `Read`: it waits behind a waiting writer, so read-side
///   cycles are deadlocks too. `read_recursive` is `RecursiveRead`: it never
///   waits for a waiting writer while the lock is read-held.
/// - `upgradable_read` is a `Read` that excludes other upgradable readers and
///   writers; `upgrade` is a new `Write` acquisition; `downgrade` adds nothing.
/// - Timed acquisitions (`*_for`, `*_until`) are checked like blocking ones,
///   immediate `try_*` ones add no dependency into the lock.
/// - The class of a lock made by [`RwSem::new`] is its construction site;
///   [`RwSem::with_class`] names one for statics and for locks made in
///   generic code. A lock constructed inside the standard library (by
///   `unwrap_or_default()`, `iter::repeat_with(Default::default)`) names no
///   site of yours: it gets a class of its own.
/// - No poisoning: a panic while a guard is held releases the lock (and the
///   validator's record) and the next locker sees the data as it was left.
/// - Guards are `!Send`: the held-lock stack belongs to a thread.
///
/// ```
/// use kernsync_rwsem::RwSem;
/// let table = RwSem::new(vec![1, 2]);
/// assert_eq!(table.read().len(), 2);
/// table.write().push(3);
/// let up = table.upgradable_read();
/// let mut w = kernsync_rwsem::RwSemUpgradableReadGuard::upgrade(up);
/// w.push(4);
/// assert_eq!(*kernsync_rwsem::RwSemWriteGuard::downgrade(w), [1, 2, 3, 4]);
/// ```
pub struct RwSem<T: ?Sized> {
    inner: lock_api::RwLock<CheckedRawRwSem, T>,
}

crate::checked_lock_impls!(RwSem(lock_api::RwLock, RawRwSem), try = try_read, kind = RWSEM);

/// What an [`RwSem`] offers, for the validator's hints.
const RWSEM: LockKind = LockKind {
    name: "RwSem",
    recursive_read: Some("RwSem::read_recursive"),
    upgradable_read: Some("RwSem::upgradable_read"),
    nested: Some("RwSem::read_nested / write_nested"),
    nest_lock: Some("RwSem::read_nest_lock / write_nest_lock"),
    ordered: Some("RwSem::read_ordered / write_ordered"),
    named: Some("RwSem::named"),
};

impl<T: ?Sized> RwSem<T> {
    #[inline]
    fn raw(&self) -> &CheckedRawRwSem {
        // SAFETY: only used to acquire (never to unlock behind a guard).
        unsafe { self.inner.raw() }
    }

    /// Shared access, waiting for a writer that holds *or waits for* the lock.
    #[inline]
    #[track_caller]
    pub fn read(&self) -> RwSemReadGuard<'_, T> {
        self.inner.read()
    }

    /// Shared access of subclass `subclass` (below 8), for nesting two locks
    /// of one class in a fixed order.
    #[inline]
    #[track_caller]
    pub fn read_nested(&self, subclass: u8) -> RwSemReadGuard<'_, T> {
        let token = self.raw().lock_shared_nested(subclass);
        // SAFETY: the shared acquisition `token` stands for was just made.
        unsafe { self.inner.make_read_guard_unchecked(token) }
    }

    /// Shared access that never waits for a *waiting* writer while the lock
    /// is read-held (only for a writer that holds it): safe to take again on
    /// a thread that already reads, and `RecursiveRead` for the validator.
    #[inline]
    #[track_caller]
    pub fn read_recursive(&self) -> RwSemReadGuard<'_, T> {
        let token = self.raw().lock_shared_recursive();
        // SAFETY: the shared acquisition `token` stands for was just made.
        unsafe { self.inner.make_read_guard_unchecked(token) }
    }

    /// [`read_recursive`](RwSem::read_recursive) if it can be had at once.
    #[inline]
    #[track_caller]
    pub fn try_read_recursive(&self) -> Option<RwSemReadGuard<'_, T>> {
        let token = self.raw().try_lock_shared_recursive()?;
        // SAFETY: the shared acquisition `token` stands for was just made.
        Some(unsafe { self.inner.make_read_guard_unchecked(token) })
    }

    /// [`read_recursive`](RwSem::read_recursive), giving up at `deadline`.
    #[inline]
    #[track_caller]
    pub fn try_read_recursive_until(&self, deadline: Instant) -> Option<RwSemReadGuard<'_, T>> {
        let token = self.raw().try_lock_shared_recursive_until(deadline)?;
        // SAFETY: the shared acquisition `token` stands for was just made.
        Some(unsafe { self.inner.make_read_guard_unchecked(token) })
    }

    /// [`read_recursive`](RwSem::read_recursive), giving up after `timeout`
    /// (a timeout past what an `Instant` can hold waits with no limit).
    #[inline]
    #[track_caller]
    pub fn try_read_recursive_for(&self, timeout: Duration) -> Option<RwSemReadGuard<'_, T>> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.try_read_recursive_until(deadline),
            None => Some(self.read_recursive()),
        }
    }

    /// Exclusive access.
    #[inline]
    #[track_caller]
    pub fn write(&self) -> RwSemWriteGuard<'_, T> {
        self.inner.write()
    }

    /// Exclusive access of subclass `subclass` (below 8).
    #[inline]
    #[track_caller]
    pub fn write_nested(&self, subclass: u8) -> RwSemWriteGuard<'_, T> {
        let token = self.raw().lock_exclusive_nested(subclass);
        // SAFETY: the exclusive acquisition `token` stands for was just made.
        unsafe { self.inner.make_write_guard_unchecked(token) }
    }

    /// Shared access as one of many locks of this class held at once under
    /// `outer` (see [`Mutex::lock_nest_lock`](crate::Mutex::lock_nest_lock)).
    #[inline]
    #[track_caller]
    pub fn read_nest_lock(&self, outer: &(impl NestLock + ?Sized)) -> RwSemReadGuard<'_, T> {
        let token = self.raw().lock_shared_nest_lock(outer.nest_map());
        // SAFETY: the shared acquisition `token` stands for was just made.
        unsafe { self.inner.make_read_guard_unchecked(token) }
    }

    /// Exclusive access as one of many locks of this class held at once
    /// under `outer`.
    #[inline]
    #[track_caller]
    pub fn write_nest_lock(&self, outer: &(impl NestLock + ?Sized)) -> RwSemWriteGuard<'_, T> {
        let token = self.raw().lock_exclusive_nest_lock(outer.nest_map());
        // SAFETY: the exclusive acquisition `token` stands for was just made.
        unsafe { self.inner.make_write_guard_unchecked(token) }
    }

    /// Shared access in a stated order among the locks of this class (see
    /// [`Mutex::lock_ordered`](crate::Mutex::lock_ordered)).
    #[inline]
    #[track_caller]
    pub fn read_ordered(&self, key: u64) -> RwSemReadGuard<'_, T> {
        let token = self.raw().lock_shared_ordered(key);
        // SAFETY: the shared acquisition `token` stands for was just made.
        unsafe { self.inner.make_read_guard_unchecked(token) }
    }

    /// Exclusive access in a stated order among the locks of this class.
    #[inline]
    #[track_caller]
    pub fn write_ordered(&self, key: u64) -> RwSemWriteGuard<'_, T> {
        let token = self.raw().lock_exclusive_ordered(key);
        // SAFETY: the exclusive acquisition `token` stands for was just made.
        unsafe { self.inner.make_write_guard_unchecked(token) }
    }

    /// Shared access that may later be upgraded to exclusive; excludes other
    /// upgradable readers and writers.
    #[inline]
    #[track_caller]
    pub fn upgradable_read(&self) -> RwSemUpgradableReadGuard<'_, T> {
        self.inner.upgradable_read()
    }

    /// [`upgradable_read`](RwSem::upgradable_read) of subclass `subclass`.
    #[inline]
    #[track_caller]
    pub fn upgradable_read_nested(&self, subclass: u8) -> RwSemUpgradableReadGuard<'_, T> {
        let token = self.raw().lock_upgradable_nested(subclass);
        // SAFETY: the upgradable acquisition `token` stands for was just made.
        unsafe { self.inner.make_upgradable_guard_unchecked(token) }
    }

    /// [`read`](RwSem::read) if it can be had at once.
    #[inline]
    #[track_caller]
    pub fn try_read(&self) -> Option<RwSemReadGuard<'_, T>> {
        self.inner.try_read()
    }

    /// [`write`](RwSem::write) if it can be had at once.
    #[inline]
    #[track_caller]
    pub fn try_write(&self) -> Option<RwSemWriteGuard<'_, T>> {
        self.inner.try_write()
    }

    /// [`upgradable_read`](RwSem::upgradable_read) if it can be had at once.
    #[inline]
    #[track_caller]
    pub fn try_upgradable_read(&self) -> Option<RwSemUpgradableReadGuard<'_, T>> {
        self.inner.try_upgradable_read()
    }

    /// [`read`](RwSem::read), giving up after `timeout`.
    #[inline]
    #[track_caller]
    pub fn try_read_for(&self, timeout: Duration) -> Option<RwSemReadGuard<'_, T>> {
        self.inner.try_read_for(timeout)
    }

    /// [`read`](RwSem::read), giving up at `deadline`.
    #[inline]
    #[track_caller]
    pub fn try_read_until(&self, deadline: Instant) -> Option<RwSemReadGuard<'_, T>> {
        self.inner.try_read_until(deadline)
    }

    /// [`write`](RwSem::write), giving up after `timeout`.
    #[inline]
    #[track_caller]
    pub fn try_write_for(&self, timeout: Duration) -> Option<RwSemWriteGuard<'_, T>> {
        self.inner.try_write_for(timeout)
    }

    /// [`write`](RwSem::write), giving up at `deadline`.
    #[inline]
    #[track_caller]
    pub fn try_write_until(&self, deadline: Instant) -> Option<RwSemWriteGuard<'_, T>> {
        self.inner.try_write_until(deadline)
    }

    /// [`upgradable_read`](RwSem::upgradable_read), giving up after `timeout`.
    #[inline]
    #[track_caller]
    pub fn try_upgradable_read_for(
        &self,
        timeout: Duration,
    ) -> Option<RwSemUpgradableReadGuard<'_, T>> {
        self.inner.try_upgradable_read_for(timeout)
    }

    /// [`upgradable_read`](RwSem::upgradable_read), giving up at `deadline`.
    #[inline]
    #[track_caller]
    pub fn try_upgradable_read_until(
        &self,
        deadline: Instant,
    ) -> Option<RwSemUpgradableReadGuard<'_, T>> {
        self.inner.try_upgradable_read_until(deadline)
    }

    /// Whether the lock is held (by anyone, in any mode).
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Whether the lock is held for writing.
    #[inline]
    pub fn is_locked_exclusive(&self) -> bool {
        self.inner.is_locked_exclusive()
    }
}
