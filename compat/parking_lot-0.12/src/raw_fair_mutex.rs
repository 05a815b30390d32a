//! [`RawFairMutex`]: [`RawMutex`] whose every unlock is fair.

use lock_api::RawMutexFair as _;

use crate::raw_mutex::RawMutex;

/// Raw fair mutex type backed by kernsync's validated mutex: every unlock
/// hands the mutex to the next waiter (`unlock_fair`).
pub struct RawFairMutex(RawMutex);

// SAFETY: forwards to `RawMutex`, with `unlock` as its `unlock_fair`, which
// releases (or hands over) the mutex as `unlock` does.
unsafe impl lock_api::RawMutex for RawFairMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = RawFairMutex(<RawMutex as lock_api::RawMutex>::INIT);

    type GuardMarker = <RawMutex as lock_api::RawMutex>::GuardMarker;

    #[inline]
    #[track_caller]
    fn lock(&self) {
        self.0.lock()
    }

    #[inline]
    #[track_caller]
    fn try_lock(&self) -> bool {
        self.0.try_lock()
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock(&self) {
        // SAFETY: the caller holds the mutex.
        unsafe { self.0.unlock_fair() }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.0.is_locked()
    }
}

// SAFETY: as for `RawMutex`.
unsafe impl lock_api::RawMutexFair for RawFairMutex {
    #[inline]
    #[track_caller]
    unsafe fn unlock_fair(&self) {
        // SAFETY: the caller holds the mutex.
        unsafe { self.0.unlock_fair() }
    }

    #[inline]
    #[track_caller]
    unsafe fn bump(&self) {
        // SAFETY: the caller holds the mutex; it holds it again on return.
        unsafe { self.0.bump() }
    }
}

// SAFETY: as for `RawMutex`.
unsafe impl lock_api::RawMutexTimed for RawFairMutex {
    type Duration = <RawMutex as lock_api::RawMutexTimed>::Duration;
    type Instant = <RawMutex as lock_api::RawMutexTimed>::Instant;

    #[inline]
    #[track_caller]
    fn try_lock_until(&self, timeout: Self::Instant) -> bool {
        self.0.try_lock_until(timeout)
    }

    #[inline]
    #[track_caller]
    fn try_lock_for(&self, timeout: Self::Duration) -> bool {
        self.0.try_lock_for(timeout)
    }
}
