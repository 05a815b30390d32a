#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn)]

/// `Debug` and `Display` of guards: those of the data.
macro_rules! guard_fmt {
    ($($Guard:ty),* $(,)?) => {$(
        impl<T: ?Sized + ::core::fmt::Debug> ::core::fmt::Debug for $Guard {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Debug::fmt(&**self, f)
            }
        }
        impl<T: ?Sized + ::core::fmt::Display> ::core::fmt::Display for $Guard {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(&**self, f)
            }
        }
    )*};
}

mod block_on;
mod check;
mod future;
mod mutex;
pub mod raw;
pub mod rt;
mod rwsem;

pub use block_on::block_on;
pub use future::{Acquiring, Handle};
/// Tracked tasks, from the validator: a tracked future's held locks are its
/// own, swapped onto whichever thread polls it (see [`rt`] for spawn helpers).
pub use kernsync_lockdep::{in_tracked_task, tracked, tracked_named, Tracked};
pub use mutex::{
    LockFuture, LockOwnedFuture, MappedMutexGuard, Mutex, MutexGuard, OwnedMutexGuard,
};
pub use rwsem::{
    MappedRwSemWriteGuard, OwnedRwSemReadGuard, OwnedRwSemUpgradableReadGuard,
    OwnedRwSemWriteGuard, ReadFuture, ReadOwnedFuture, RwSem, RwSemReadGuard,
    RwSemUpgradableReadGuard, RwSemWriteGuard, UpgradableReadFuture, UpgradableReadOwnedFuture,
    UpgradeFuture, UpgradeOwnedFuture, WriteFuture, WriteOwnedFuture,
};

use check::{Check, Token};
use kernsync_lockdep::LockMap;
use raw::RawSemaphore;

/// What every lock of this crate is made of: its semaphore and its
/// validator handle.
pub(crate) struct Base {
    pub(crate) sem: RawSemaphore,
    pub(crate) map: LockMap,
}

impl Base {
    kernsync_primitive::const_fn! {
        #[inline]
        pub(crate) const fn new(permits: usize, map: LockMap) -> Base {
            Base {
                sem: RawSemaphore::new(permits),
                map,
            }
        }
    }

    /// A guard's release: the permits, then the validator's record (a
    /// report raised there may panic, and the lock must be free by then).
    #[inline]
    #[track_caller]
    pub(crate) fn unlock(&self, token: Token, permits: usize) {
        self.sem.release(permits);
        Check::release(&self.map, token);
    }
}
