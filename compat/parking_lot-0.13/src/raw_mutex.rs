//! `RawMutex`: kernsync's raw mutex with the validator's calls around it.

use core::time::Duration;
use std::time::Instant;

use kernsync_lockdep::{Held, Mode};
use kernsync_rwsem::RawMutex as KRawMutex;

use crate::check::{GuardState, Map};

/// Raw mutex type backed by kernsync's mutex (eventually fair, parking in
/// the global parking lot like parking_lot's), each acquisition checked by
/// the lock-order validator.
///
/// Made from `INIT` (so by `Mutex::new`, `Default`, statics), a lock is in
/// the class of its first acquisition's site: a report names the line that
/// first took it ("lock first taken at file:line:col").
pub struct RawMutex {
    pub(crate) raw: KRawMutex,
    pub(crate) map: Map,
}

impl RawMutex {
    /// The state of an attempt that took the lock, recorded as `held`.
    #[inline]
    fn got(&self, got: bool, held: Held) -> Option<GuardState> {
        if got {
            Some(GuardState::new(held))
        } else {
            self.map.release(held);
            None
        }
    }
}

// SAFETY: kernsync's `RawMutex` provides the exclusion and the Acquire/
// Release ordering; the validator calls around it neither lock nor unlock
// it. An acquisition reports (and may panic, in `panic` mode) before the raw
// lock is taken, so a lock that unwinds holds nothing; an unlock releases
// the raw mutex first, so one that unwinds in the validator has released.
unsafe impl lock_api::RawMutex for RawMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawMutex = RawMutex {
        raw: KRawMutex::new(),
        map: Map::first_use(),
    };

    type Guard = GuardState;

    #[inline]
    #[track_caller]
    fn lock(&self) -> GuardState {
        let held = self.map.acquire(Mode::Write);
        self.raw.lock();
        GuardState::new(held)
    }

    #[inline]
    #[track_caller]
    fn try_lock(&self) -> Option<GuardState> {
        self.raw
            .try_lock()
            .then(|| GuardState::new(self.map.try_acquired(Mode::Write)))
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock(&self, guard: GuardState) {
        // SAFETY: the caller gives the state of an acquisition it holds.
        unsafe { self.raw.unlock() };
        self.map.release(guard.held);
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }
}

// SAFETY: as for `RawMutex`; a bump returns holding the mutex (kernsync's
// aborts rather than unwinding without it) and the validator keeps it held
// throughout.
unsafe impl lock_api::RawMutexFair for RawMutex {
    #[inline]
    #[track_caller]
    unsafe fn unlock_fair(&self, guard: GuardState) {
        // SAFETY: the caller gives the state of an acquisition it holds.
        unsafe { self.raw.unlock_fair() };
        self.map.release(guard.held);
    }

    #[inline]
    unsafe fn bump(&self, _guard: &mut GuardState) {
        // SAFETY: the caller holds the mutex.
        unsafe { self.raw.bump() }
    }
}

// SAFETY: as for `RawMutex`; a timed acquisition can wait, so it is recorded
// like a blocking one and released in the validator if it times out (when
// the raw mutex was not taken).
unsafe impl lock_api::RawMutexTimed for RawMutex {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    #[track_caller]
    fn try_lock_until(&self, timeout: Instant) -> Option<GuardState> {
        let held = self.map.acquire(Mode::Write);
        self.got(self.raw.try_lock_until(timeout), held)
    }

    #[inline]
    #[track_caller]
    fn try_lock_for(&self, timeout: Duration) -> Option<GuardState> {
        let held = self.map.acquire(Mode::Write);
        self.got(self.raw.try_lock_for(timeout), held)
    }
}
