//! `FairMutex`: lock_api 0.4's mutex over [`RawFairMutex`].

use crate::raw_fair_mutex::RawFairMutex;

/// A mutex whose every unlock is fair (the next waiter gets it), validated
/// by kernsync's lock-order checker like [`Mutex`](crate::Mutex).
pub type FairMutex<T> = lock_api::Mutex<RawFairMutex, T>;

/// Creates a new fair mutex in an unlocked state ready for use (usable in a
/// constant context).
pub const fn const_fair_mutex<T>(val: T) -> FairMutex<T> {
    FairMutex::const_new(<RawFairMutex as lock_api::RawMutex>::INIT, val)
}

/// An RAII guard of a [`FairMutex`].
pub type FairMutexGuard<'a, T> = lock_api::MutexGuard<'a, RawFairMutex, T>;

/// A [`FairMutexGuard`] mapped to a part of the protected data.
pub type MappedFairMutexGuard<'a, T> = lock_api::MappedMutexGuard<'a, RawFairMutex, T>;
