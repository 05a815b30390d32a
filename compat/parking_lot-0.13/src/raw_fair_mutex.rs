//! `RawFairMutex`: [`RawMutex`] whose every unlock is fair.

use crate::check::GuardState;
use crate::raw_mutex::RawMutex;
use lock_api::RawMutexFair as _;

/// Raw fair mutex type: a [`RawMutex`] whose unlock hands the lock to the
/// next waiter (`unlock_fair`). Validated as `RawMutex` is.
pub struct RawFairMutex(RawMutex);

// SAFETY: every operation is `RawMutex`'s, whose contract this forwards;
// `unlock` is `unlock_fair`, which also releases the acquisition.
unsafe impl lock_api::RawMutex for RawFairMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawFairMutex = RawFairMutex(RawMutex::INIT);

    type Guard = GuardState;

    #[inline]
    #[track_caller]
    fn lock(&self) -> GuardState {
        self.0.lock()
    }

    #[inline]
    #[track_caller]
    fn try_lock(&self) -> Option<GuardState> {
        self.0.try_lock()
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock(&self, guard: GuardState) {
        // SAFETY: the caller gives the state of an acquisition it holds.
        unsafe { self.0.unlock_fair(guard) }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.0.is_locked()
    }
}

// SAFETY: forwards to `RawMutex`'s.
unsafe impl lock_api::RawMutexFair for RawFairMutex {
    #[inline]
    #[track_caller]
    unsafe fn unlock_fair(&self, guard: GuardState) {
        // SAFETY: the caller gives the state of an acquisition it holds.
        unsafe { self.0.unlock_fair(guard) }
    }

    #[inline]
    unsafe fn bump(&self, guard: &mut GuardState) {
        // SAFETY: the caller holds the mutex.
        unsafe { self.0.bump(guard) }
    }
}

// SAFETY: forwards to `RawMutex`'s.
unsafe impl lock_api::RawMutexTimed for RawFairMutex {
    type Duration = <RawMutex as lock_api::RawMutexTimed>::Duration;
    type Instant = <RawMutex as lock_api::RawMutexTimed>::Instant;

    #[inline]
    #[track_caller]
    fn try_lock_until(&self, timeout: Self::Instant) -> Option<GuardState> {
        self.0.try_lock_until(timeout)
    }

    #[inline]
    #[track_caller]
    fn try_lock_for(&self, timeout: Self::Duration) -> Option<GuardState> {
        self.0.try_lock_for(timeout)
    }
}
