//! `ReentrantMutex`: lock_api 0.4's reentrant mutex over [`RawMutex`].
//!
//! Not validated: lock_api 0.4's `RawReentrantMutex::lock` is not
//! `#[track_caller]`, so the first acquisition's site of the inner
//! [`RawMutex`] is inside lock_api, and kernsync's validator deliberately
//! leaves such locks untracked rather than putting every reentrant mutex of
//! the program into one class (README).

use core::num::NonZeroUsize;

use lock_api::GetThreadId;

use crate::raw_mutex::RawMutex;

/// The current thread's id for `lock_api::ReentrantMutex`.
pub struct RawThreadId;

// SAFETY: the address of a live thread-local of non-zero size is unique to
// its thread among running threads, and never zero.
unsafe impl GetThreadId for RawThreadId {
    const INIT: RawThreadId = RawThreadId;

    fn nonzero_thread_id(&self) -> NonZeroUsize {
        thread_local!(static KEY: u8 = const { 0 });
        KEY.with(|x| {
            NonZeroUsize::new(x as *const u8 as usize)
                .expect("thread-local variable address is null")
        })
    }
}

/// A mutex that one thread may lock again while it holds it.
/// `ReentrantMutexGuard` gives only shared references (use a `RefCell`
/// inside for mutation).
pub type ReentrantMutex<T> = lock_api::ReentrantMutex<RawMutex, RawThreadId, T>;

/// Creates a new reentrant mutex in an unlocked state ready for use (usable
/// in a constant context).
pub const fn const_reentrant_mutex<T>(val: T) -> ReentrantMutex<T> {
    ReentrantMutex::const_new(
        <RawMutex as lock_api::RawMutex>::INIT,
        <RawThreadId as lock_api::GetThreadId>::INIT,
        val,
    )
}

/// An RAII guard of a [`ReentrantMutex`].
pub type ReentrantMutexGuard<'a, T> = lock_api::ReentrantMutexGuard<'a, RawMutex, RawThreadId, T>;

/// A [`ReentrantMutexGuard`] mapped to a part of the protected data.
pub type MappedReentrantMutexGuard<'a, T> =
    lock_api::MappedReentrantMutexGuard<'a, RawMutex, RawThreadId, T>;
