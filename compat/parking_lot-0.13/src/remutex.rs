//! `ReentrantMutex`: lock_api's reentrant mutex over [`RawMutex`].
//!
//! Not validated: lock_api 0.5's `RawReentrantMutex::lock` is not
//! `#[track_caller]`, so the first acquisition site of the inner mutex is a
//! line of lock_api itself, and the validator leaves a lock whose class
//! would be named by lock_api's code unvalidated rather than joining every
//! reentrant mutex of the program into one class (see the README).

use core::num::NonZeroUsize;
use lock_api::GetThreadId;

use crate::raw_mutex::RawMutex;

/// Implementation of the `GetThreadId` trait for `lock_api::ReentrantMutex`.
pub struct RawThreadId;

// SAFETY: the address of a thread-local is unique among live threads and
// non-zero (the variable has a non-zero size, so no two threads' copies share
// an address).
unsafe impl GetThreadId for RawThreadId {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawThreadId = RawThreadId;

    fn nonzero_thread_id(&self) -> NonZeroUsize {
        thread_local!(static KEY: u8 = const { 0 });
        KEY.with(|x| {
            NonZeroUsize::new(core::ptr::from_ref(x).addr())
                .expect("thread-local variable address is null")
        })
    }
}

/// A mutex which can be recursively locked by a single thread.
///
/// This type is identical to `Mutex` except for the following points:
///
/// - Locking multiple times from the same thread will work correctly instead of
///   deadlocking.
/// - `ReentrantMutexGuard` does not give mutable references to the locked data.
///   Use a `RefCell` if you need this.
///
/// Not checked by the lock-order validator (see the module docs).
pub type ReentrantMutex<T> = lock_api::ReentrantMutex<RawMutex, RawThreadId, T>;

/// An RAII implementation of a "scoped lock" of a reentrant mutex. When this
/// structure is dropped (falls out of scope), the lock will be unlocked.
pub type ReentrantMutexGuard<'a, T> = lock_api::ReentrantMutexGuard<'a, RawMutex, RawThreadId, T>;

/// An RAII mutex guard returned by `ReentrantMutexGuard::map`, which can point to a
/// subfield of the protected data.
pub type MappedReentrantMutexGuard<'a, T> =
    lock_api::MappedReentrantMutexGuard<'a, RawMutex, RawThreadId, T>;
