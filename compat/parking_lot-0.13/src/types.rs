//! The lock types: lock_api's wrappers over this crate's raw locks, under
//! upstream's names.

use crate::raw_condvar::RawCondvar;
use crate::raw_fair_mutex::RawFairMutex;
use crate::raw_mutex::RawMutex;
use crate::raw_rwlock::{RawRwLock, RawRwLockRecursive};

/// A mutual exclusion primitive useful for protecting shared data
/// (lock_api's `Mutex` over [`RawMutex`]: validated, see the crate docs).
///
/// ```
/// use parking_lot::Mutex;
/// let m = Mutex::new(1);
/// *m.lock() += 1;
/// assert_eq!(*m.lock(), 2);
/// ```
///
/// Without the `send_guard` feature a guard cannot move to another thread
/// (the validator's held-lock stack is per thread), as upstream's cannot:
#[cfg_attr(
    not(feature = "send_guard"),
    doc = "```compile_fail\nfn send<T: Send>(_: T) {}\nlet m = parking_lot::Mutex::new(0);\nsend(m.lock());\n```"
)]
pub type Mutex<T> = lock_api::Mutex<RawMutex, T>;

/// An RAII implementation of a "scoped lock" of a mutex.
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawMutex, T>;

/// An RAII mutex guard returned by `MutexGuard::map`, which can point to a
/// subfield of the protected data.
pub type MappedMutexGuard<'a, T> = lock_api::MappedMutexGuard<'a, RawMutex, T>;

/// A mutual exclusion primitive that is always fair, useful for protecting
/// shared data.
pub type FairMutex<T> = lock_api::Mutex<RawFairMutex, T>;

/// An RAII implementation of a "scoped lock" of a fair mutex.
pub type FairMutexGuard<'a, T> = lock_api::MutexGuard<'a, RawFairMutex, T>;

/// An RAII mutex guard returned by `FairMutexGuard::map`.
pub type MappedFairMutexGuard<'a, T> = lock_api::MappedMutexGuard<'a, RawFairMutex, T>;

/// A reader-writer lock (task-fair: a waiting writer blocks new readers).
pub type RwLock<T> = lock_api::RwLock<RawRwLock, T>;

/// RAII structure used to release the shared read access of a lock when
/// dropped.
pub type RwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawRwLock, T>;

/// RAII structure used to release the exclusive write access of a lock when
/// dropped.
pub type RwLockWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, RawRwLock, T>;

/// An RAII read lock guard returned by `RwLockReadGuard::map`.
pub type MappedRwLockReadGuard<'a, T> = lock_api::MappedRwLockReadGuard<'a, RawRwLock, T>;

/// An RAII write lock guard returned by `RwLockWriteGuard::map`.
pub type MappedRwLockWriteGuard<'a, T> = lock_api::MappedRwLockWriteGuard<'a, RawRwLock, T>;

/// RAII structure used to release the upgradable read access of a lock when
/// dropped.
pub type RwLockUpgradableReadGuard<'a, T> = lock_api::RwLockUpgradableReadGuard<'a, RawRwLock, T>;

/// A reader-writer lock which permits recursive read locking.
///
/// This type of lock allows a number of readers or at most one writer at any
/// point in time. Unlike [`RwLock`], a thread can hold multiple read locks
/// without deadlocking, at the cost of allowing writers to starve.
///
/// ```
/// use parking_lot::RecursiveRwLock;
///
/// let lock = RecursiveRwLock::new(5);
/// let first = lock.read();
/// let second = lock.read();
/// assert_eq!(*first, *second);
/// ```
pub type RecursiveRwLock<T> = lock_api::RwLock<RawRwLockRecursive, T>;

/// An RAII guard which releases shared read access when dropped.
pub type RecursiveRwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawRwLockRecursive, T>;

/// An RAII guard which releases exclusive write access when dropped.
pub type RecursiveRwLockWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, RawRwLockRecursive, T>;

/// An RAII guard which releases upgradable read access when dropped.
pub type RecursiveRwLockUpgradableReadGuard<'a, T> =
    lock_api::RwLockUpgradableReadGuard<'a, RawRwLockRecursive, T>;

/// A mapped RAII guard which releases shared access when dropped.
pub type MappedRecursiveRwLockReadGuard<'a, T> =
    lock_api::MappedRwLockReadGuard<'a, RawRwLockRecursive, T>;

/// A mapped RAII guard which releases exclusive access when dropped.
pub type MappedRecursiveRwLockWriteGuard<'a, T> =
    lock_api::MappedRwLockWriteGuard<'a, RawRwLockRecursive, T>;

/// A Condition Variable (lock_api's over [`RawCondvar`]).
///
/// Waits never wake spuriously; a wait is a release and a blocking
/// re-acquisition of the mutex for the validator.
pub type Condvar = lock_api::Condvar<RawCondvar>;
