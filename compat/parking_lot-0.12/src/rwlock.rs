//! `RwLock`: lock_api 0.4's reader-writer lock over [`RawRwLock`].

use crate::raw_rwlock::RawRwLock;

/// A reader-writer lock, validated by kernsync's lock-order checker.
///
/// lock_api 0.4's `RwLock` over [`RawRwLock`], as in parking_lot 0.12:
/// task-fair (a waiting writer blocks new readers, so a thread taking a read
/// twice can deadlock against a writer: use `read_recursive`, which the
/// validator knows does not wait for waiting writers), upgradable reads,
/// downgrades, timed and fair variants. Each lock's class is the site of its
/// first acquisition.
pub type RwLock<T> = lock_api::RwLock<RawRwLock, T>;

/// Creates a new reader-writer lock in an unlocked state ready for use
/// (usable in a constant context).
pub const fn const_rwlock<T>(val: T) -> RwLock<T> {
    RwLock::const_new(<RawRwLock as lock_api::RawRwLock>::INIT, val)
}

/// An RAII guard of a shared read of an [`RwLock`].
pub type RwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawRwLock, T>;

/// An RAII guard of the exclusive write of an [`RwLock`].
pub type RwLockWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, RawRwLock, T>;

/// An [`RwLockReadGuard`] mapped to a part of the protected data.
pub type MappedRwLockReadGuard<'a, T> = lock_api::MappedRwLockReadGuard<'a, RawRwLock, T>;

/// An [`RwLockWriteGuard`] mapped to a part of the protected data.
pub type MappedRwLockWriteGuard<'a, T> = lock_api::MappedRwLockWriteGuard<'a, RawRwLock, T>;

/// An RAII guard of an upgradable read of an [`RwLock`] (one at a time,
/// beside plain readers), which can be upgraded to a write.
pub type RwLockUpgradableReadGuard<'a, T> = lock_api::RwLockUpgradableReadGuard<'a, RawRwLock, T>;
