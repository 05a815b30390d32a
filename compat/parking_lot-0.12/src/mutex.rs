//! `Mutex`: lock_api 0.4's mutex over [`RawMutex`].

use crate::raw_mutex::RawMutex;

/// A mutual exclusion primitive, validated by kernsync's lock-order checker.
///
/// lock_api 0.4's `Mutex` over [`RawMutex`], as in parking_lot 0.12: no
/// poisoning, `const fn new`, guards that map, `try_lock_for`/`until`,
/// `unlock_fair`, `bump`. Each lock's class is the site of its first
/// acquisition (its constructor cannot see its caller).
pub type Mutex<T> = lock_api::Mutex<RawMutex, T>;

/// Creates a new mutex in an unlocked state ready for use (usable in a
/// constant context; `Mutex::new` is `const` too).
pub const fn const_mutex<T>(val: T) -> Mutex<T> {
    Mutex::const_new(<RawMutex as lock_api::RawMutex>::INIT, val)
}

/// An RAII guard of a [`Mutex`]: the mutex is unlocked when it is dropped.
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawMutex, T>;

/// A [`MutexGuard`] mapped to a part of the protected data
/// (`MutexGuard::map`); it cannot be used with a [`Condvar`](crate::Condvar)
/// or unlocked temporarily.
pub type MappedMutexGuard<'a, T> = lock_api::MappedMutexGuard<'a, RawMutex, T>;
