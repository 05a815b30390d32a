//! `RawRwLock`: kernsync's reader/writer semaphore with the validator's
//! calls around it; `RawRwLock<true>` reads recursively.

use core::time::Duration;
use std::time::Instant;

use kernsync_lockdep::{Held, Mode};
use kernsync_rwsem::RawRwSem;

use crate::check::{GuardState, Map};

/// Raw reader-writer lock type backed by kernsync's task-fair semaphore,
/// each acquisition checked by the lock-order validator.
///
/// With `RECURSIVE = false` (the default, [`RwLock`](crate::RwLock)'s) a
/// read waits behind a waiting writer, so a thread that reads a lock it
/// already reads may deadlock: the validator reports that as possible
/// recursive locking. With `RECURSIVE = true`
/// ([`RawRwLockRecursive`], [`RecursiveRwLock`](crate::RecursiveRwLock)'s) a
/// read never waits for a waiting writer while the lock is read-held (so
/// writers may starve), and reads are `RecursiveRead` for the validator.
/// Upgradable reads are `Read`; an upgrade is a new `Write` acquisition.
pub struct RawRwLock<const RECURSIVE: bool = false> {
    raw: RawRwSem,
    map: Map,
}

/// A reader-writer lock whose reads may recurse: [`RawRwLock<true>`].
pub type RawRwLockRecursive = RawRwLock<true>;

impl<const RECURSIVE: bool> RawRwLock<RECURSIVE> {
    /// The validator's mode of a read of this lock.
    const READ: Mode = if RECURSIVE {
        Mode::RecursiveRead
    } else {
        Mode::Read
    };

    /// The state of an attempt that waited and got the lock, or the
    /// validator's record undone when it timed out.
    #[inline]
    fn got(&self, got: bool, held: Held) -> Option<GuardState> {
        if got {
            Some(GuardState::new(held))
        } else {
            self.map.release(held);
            None
        }
    }

    /// The state of an immediate attempt in `mode`.
    #[inline]
    #[track_caller]
    fn tried(&self, got: bool, mode: Mode) -> Option<GuardState> {
        got.then(|| GuardState::new(self.map.try_acquired(mode)))
    }

    /// Whether threads are parked on this lock (for tests that wait until a
    /// writer is queued; upstream has it only in its own test builds).
    #[doc(hidden)]
    pub fn has_parked_threads(&self) -> bool {
        self.raw.has_parked_threads()
    }
}

// SAFETY: kernsync's `RawRwSem` provides the exclusion and the ordering; the
// validator calls around it neither lock nor unlock it. Acquisitions report
// (and may unwind) before the raw lock is taken; unlocks release the raw
// lock before telling the validator. The recursive reads are `RawRwSem`'s
// own and are released by its `unlock_shared` as plain reads are.
unsafe impl<const RECURSIVE: bool> lock_api::RawRwLock for RawRwLock<RECURSIVE> {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = RawRwLock {
        raw: RawRwSem::new(),
        map: Map::first_use(),
    };

    type SharedGuard = GuardState;
    type ExclusiveGuard = GuardState;

    #[inline]
    #[track_caller]
    fn lock_shared(&self) -> GuardState {
        let held = self.map.acquire(Self::READ);
        if RECURSIVE {
            self.raw.lock_shared_recursive();
        } else {
            self.raw.lock_shared();
        }
        GuardState::new(held)
    }

    #[inline]
    #[track_caller]
    fn try_lock_shared(&self) -> Option<GuardState> {
        let got = if RECURSIVE {
            self.raw.try_lock_shared_recursive()
        } else {
            self.raw.try_lock_shared()
        };
        self.tried(got, Self::READ)
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_shared(&self, guard: GuardState) {
        // SAFETY: the caller gives the state of a shared acquisition.
        unsafe { self.raw.unlock_shared() };
        self.map.release(guard.held);
    }

    #[inline]
    #[track_caller]
    fn lock_exclusive(&self) -> GuardState {
        let held = self.map.acquire(Mode::Write);
        self.raw.lock_exclusive();
        GuardState::new(held)
    }

    #[inline]
    #[track_caller]
    fn try_lock_exclusive(&self) -> Option<GuardState> {
        self.tried(self.raw.try_lock_exclusive(), Mode::Write)
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_exclusive(&self, guard: GuardState) {
        // SAFETY: the caller gives the state of an exclusive acquisition.
        unsafe { self.raw.unlock_exclusive() };
        self.map.release(guard.held);
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    #[inline]
    fn is_locked_exclusive(&self) -> bool {
        self.raw.is_locked_exclusive()
    }
}

// SAFETY: as for `RawRwLock`; bumps return holding the lock in the same
// mode (kernsync's abort rather than unwind without it), and the validator
// keeps it held throughout.
unsafe impl<const RECURSIVE: bool> lock_api::RawRwLockFair for RawRwLock<RECURSIVE> {
    #[inline]
    #[track_caller]
    unsafe fn unlock_shared_fair(&self, guard: GuardState) {
        // SAFETY: the caller gives the state of a shared acquisition.
        unsafe { self.raw.unlock_shared_fair() };
        self.map.release(guard.held);
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_exclusive_fair(&self, guard: GuardState) {
        // SAFETY: the caller gives the state of an exclusive acquisition.
        unsafe { self.raw.unlock_exclusive_fair() };
        self.map.release(guard.held);
    }

    #[inline]
    unsafe fn bump_shared(&self, _guard: &mut GuardState) {
        if RECURSIVE {
            // SAFETY: the caller holds a shared acquisition. A recursive
            // read re-takes it without waiting for a waiting writer (which
            // may wait for this thread's other reads).
            unsafe { self.raw.bump_shared_recursive() }
        } else {
            // SAFETY: the caller holds a shared acquisition.
            unsafe { self.raw.bump_shared() }
        }
    }

    #[inline]
    unsafe fn bump_exclusive(&self, _guard: &mut GuardState) {
        // SAFETY: the caller holds an exclusive acquisition.
        unsafe { self.raw.bump_exclusive() }
    }
}

// SAFETY: a downgrade never releases the raw lock; the validator only
// changes the held mode (to `Read`, adding no edge).
unsafe impl<const RECURSIVE: bool> lock_api::RawRwLockDowngrade for RawRwLock<RECURSIVE> {
    #[inline]
    #[track_caller]
    unsafe fn downgrade(&self, mut guard: GuardState) -> GuardState {
        // SAFETY: the caller gives the state of an exclusive acquisition.
        unsafe { self.raw.downgrade() };
        self.map.downgrade(&mut guard.held);
        guard
    }
}

// SAFETY: as for `RawRwLock`; timed acquisitions are recorded before they
// can wait and undone in the validator if they time out, when the raw lock
// was not taken.
unsafe impl<const RECURSIVE: bool> lock_api::RawRwLockTimed for RawRwLock<RECURSIVE> {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    #[track_caller]
    fn try_lock_shared_for(&self, timeout: Duration) -> Option<GuardState> {
        let held = self.map.acquire(Self::READ);
        let got = if RECURSIVE {
            self.raw.try_lock_shared_recursive_for(timeout)
        } else {
            self.raw.try_lock_shared_for(timeout)
        };
        self.got(got, held)
    }

    #[inline]
    #[track_caller]
    fn try_lock_shared_until(&self, timeout: Instant) -> Option<GuardState> {
        let held = self.map.acquire(Self::READ);
        let got = if RECURSIVE {
            self.raw.try_lock_shared_recursive_until(timeout)
        } else {
            self.raw.try_lock_shared_until(timeout)
        };
        self.got(got, held)
    }

    #[inline]
    #[track_caller]
    fn try_lock_exclusive_for(&self, timeout: Duration) -> Option<GuardState> {
        let held = self.map.acquire(Mode::Write);
        self.got(self.raw.try_lock_exclusive_for(timeout), held)
    }

    #[inline]
    #[track_caller]
    fn try_lock_exclusive_until(&self, timeout: Instant) -> Option<GuardState> {
        let held = self.map.acquire(Mode::Write);
        self.got(self.raw.try_lock_exclusive_until(timeout), held)
    }
}

// SAFETY: as for `RawRwLock`. An upgrade is recorded as a new `Write`
// acquisition before it waits; an immediate `try_upgrade` adds no edge and
// leaves the upgradable acquisition (raw and recorded) as it was on failure.
unsafe impl<const RECURSIVE: bool> lock_api::RawRwLockUpgrade for RawRwLock<RECURSIVE> {
    type UpgradableGuard = GuardState;

    #[inline]
    #[track_caller]
    fn lock_upgradable(&self) -> GuardState {
        let held = self.map.acquire(Mode::Read);
        self.raw.lock_upgradable();
        GuardState::new(held)
    }

    #[inline]
    #[track_caller]
    fn try_lock_upgradable(&self) -> Option<GuardState> {
        self.tried(self.raw.try_lock_upgradable(), Mode::Read)
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_upgradable(&self, guard: GuardState) {
        // SAFETY: the caller gives the state of an upgradable acquisition.
        unsafe { self.raw.unlock_upgradable() };
        self.map.release(guard.held);
    }

    #[inline]
    #[track_caller]
    unsafe fn upgrade(&self, mut guard: GuardState) -> GuardState {
        self.map.upgrade(&mut guard.held);
        // SAFETY: the caller gives the state of an upgradable acquisition.
        unsafe { self.raw.upgrade() };
        guard
    }

    #[inline]
    #[track_caller]
    unsafe fn try_upgrade(&self, mut guard: GuardState) -> Result<GuardState, GuardState> {
        // SAFETY: the caller gives the state of an upgradable acquisition.
        if unsafe { self.raw.try_upgrade() } {
            self.map.try_upgraded(&mut guard.held);
            Ok(guard)
        } else {
            Err(guard)
        }
    }
}

// SAFETY: as for `RawRwLockFair` and `RawRwLockUpgrade`.
unsafe impl<const RECURSIVE: bool> lock_api::RawRwLockUpgradeFair for RawRwLock<RECURSIVE> {
    #[inline]
    #[track_caller]
    unsafe fn unlock_upgradable_fair(&self, guard: GuardState) {
        // SAFETY: the caller gives the state of an upgradable acquisition.
        unsafe { self.raw.unlock_upgradable_fair() };
        self.map.release(guard.held);
    }

    #[inline]
    unsafe fn bump_upgradable(&self, _guard: &mut GuardState) {
        // SAFETY: the caller holds an upgradable acquisition.
        unsafe { self.raw.bump_upgradable() }
    }
}

// SAFETY: downgrades never release the raw lock; upgradable and shared are
// both `Read` for the validator (a recursive lock's later reads are
// `RecursiveRead`, but a downgraded entry keeps the `Read` it had), and
// exclusive becomes `Read`.
unsafe impl<const RECURSIVE: bool> lock_api::RawRwLockUpgradeDowngrade for RawRwLock<RECURSIVE> {
    #[inline]
    unsafe fn downgrade_upgradable(&self, guard: GuardState) -> GuardState {
        // SAFETY: the caller gives the state of an upgradable acquisition.
        unsafe { self.raw.downgrade_upgradable() };
        guard
    }

    #[inline]
    #[track_caller]
    unsafe fn downgrade_to_upgradable(&self, mut guard: GuardState) -> GuardState {
        // SAFETY: the caller gives the state of an exclusive acquisition.
        unsafe { self.raw.downgrade_to_upgradable() };
        self.map.downgrade(&mut guard.held);
        guard
    }
}

// SAFETY: as for `RawRwLockTimed` and `RawRwLockUpgrade`: a timed upgrade is
// recorded as a `Write` before it waits and turned back to `Read` if it
// times out, when the raw lock is still held upgradable.
unsafe impl<const RECURSIVE: bool> lock_api::RawRwLockUpgradeTimed for RawRwLock<RECURSIVE> {
    #[inline]
    #[track_caller]
    fn try_lock_upgradable_until(&self, timeout: Instant) -> Option<GuardState> {
        let held = self.map.acquire(Mode::Read);
        self.got(self.raw.try_lock_upgradable_until(timeout), held)
    }

    #[inline]
    #[track_caller]
    fn try_lock_upgradable_for(&self, timeout: Duration) -> Option<GuardState> {
        let held = self.map.acquire(Mode::Read);
        self.got(self.raw.try_lock_upgradable_for(timeout), held)
    }

    #[inline]
    #[track_caller]
    unsafe fn try_upgrade_until(
        &self,
        mut guard: GuardState,
        timeout: Instant,
    ) -> Result<GuardState, GuardState> {
        self.map.upgrade(&mut guard.held);
        // SAFETY: the caller gives the state of an upgradable acquisition.
        if unsafe { self.raw.try_upgrade_until(timeout) } {
            Ok(guard)
        } else {
            self.map.downgrade(&mut guard.held);
            Err(guard)
        }
    }

    #[inline]
    #[track_caller]
    unsafe fn try_upgrade_for(
        &self,
        mut guard: GuardState,
        timeout: Duration,
    ) -> Result<GuardState, GuardState> {
        self.map.upgrade(&mut guard.held);
        // SAFETY: the caller gives the state of an upgradable acquisition.
        if unsafe { self.raw.try_upgrade_for(timeout) } {
            Ok(guard)
        } else {
            self.map.downgrade(&mut guard.held);
            Err(guard)
        }
    }
}
