//! [`RawRwLock`]: kernsync's reader/writer semaphore under the validator,
//! with every raw trait parking_lot 0.12's `RawRwLock` implements (lock_api
//! 0.4's rwlock, fair, downgrade, timed, recursive, recursive-timed,
//! upgrade, upgrade-fair, upgrade-downgrade and upgrade-timed traits).
//!
//! Forwarding as in [`raw_mutex`](crate::raw_mutex): to [`Checked`]'s
//! lock_api 0.4 impl (a read is `Read`, a recursive read `RecursiveRead`, an
//! upgradable read `Read`, an upgrade a `Write` checked before it waits), or
//! to the bare semaphore with `send_guard`.
//!
//! kernsync's semaphore is task-fair (a waiting writer blocks new plain
//! readers), as parking_lot's is; recursive reads pass a waiting writer.

use std::time::{Duration, Instant};

use kernsync_rwsem::Checked;

use crate::raw_mutex::forward;

/// kernsync's raw semaphore.
type Inner = kernsync_rwsem::RawRwSem;

/// Raw reader-writer lock type backed by kernsync's validated semaphore.
///
/// Built from `INIT` (`RwLock::new`, `const_rwlock`, `Default`), it is in the
/// class of its first acquisition's site.
pub struct RawRwLock {
    inner: Checked<Inner>,
}

// SAFETY: as for `RawMutex`: readers and a writer exclude each other in
// kernsync's semaphore; each method forwards to the same lock_api 0.4 impl
// (`Checked<RawRwSem>`'s or `RawRwSem`'s) for the whole build.
unsafe impl lock_api::RawRwLock for RawRwLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawRwLock = RawRwLock {
        inner: Checked::first_use(<Inner as lock_api::RawRwLock>::INIT),
    };

    type GuardMarker = crate::GuardMarker;

    #[inline]
    #[track_caller]
    fn lock_shared(&self) {
        forward!(self, RawRwLock::lock_shared())
    }

    #[inline]
    #[track_caller]
    fn try_lock_shared(&self) -> bool {
        forward!(self, RawRwLock::try_lock_shared())
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_shared(&self) {
        // SAFETY: the caller holds a shared acquisition.
        unsafe { forward!(self, RawRwLock::unlock_shared()) }
    }

    #[inline]
    #[track_caller]
    fn lock_exclusive(&self) {
        forward!(self, RawRwLock::lock_exclusive())
    }

    #[inline]
    #[track_caller]
    fn try_lock_exclusive(&self) -> bool {
        forward!(self, RawRwLock::try_lock_exclusive())
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_exclusive(&self) {
        // SAFETY: the caller holds the exclusive acquisition.
        unsafe { forward!(self, RawRwLock::unlock_exclusive()) }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        <Inner as lock_api::RawRwLock>::is_locked(self.inner.raw())
    }

    #[inline]
    fn is_locked_exclusive(&self) -> bool {
        <Inner as lock_api::RawRwLock>::is_locked_exclusive(self.inner.raw())
    }
}

// SAFETY: as for `RawRwLock`; a bump holds the lock again on return; each
// method forwards to the same lock_api 0.4 impl (`Checked<RawRwSem>`'s or
// `RawRwSem`'s) for the whole build.
unsafe impl lock_api::RawRwLockFair for RawRwLock {
    #[inline]
    #[track_caller]
    unsafe fn unlock_shared_fair(&self) {
        // SAFETY: the caller holds a shared acquisition.
        unsafe { forward!(self, RawRwLockFair::unlock_shared_fair()) }
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_exclusive_fair(&self) {
        // SAFETY: the caller holds the exclusive acquisition.
        unsafe { forward!(self, RawRwLockFair::unlock_exclusive_fair()) }
    }

    #[inline]
    #[track_caller]
    unsafe fn bump_shared(&self) {
        // SAFETY: the caller holds a shared acquisition, held again on return.
        unsafe { forward!(self, RawRwLockFair::bump_shared()) }
    }

    #[inline]
    #[track_caller]
    unsafe fn bump_exclusive(&self) {
        // SAFETY: the caller holds the exclusive acquisition, held again on return.
        unsafe { forward!(self, RawRwLockFair::bump_exclusive()) }
    }
}

// SAFETY: as for `RawRwLock`; a downgrade never admits a writer; each method
// forwards to the same lock_api 0.4 impl (`Checked<RawRwSem>`'s or
// `RawRwSem`'s) for the whole build.
unsafe impl lock_api::RawRwLockDowngrade for RawRwLock {
    #[inline]
    #[track_caller]
    unsafe fn downgrade(&self) {
        // SAFETY: the caller holds the exclusive acquisition.
        unsafe { forward!(self, RawRwLockDowngrade::downgrade()) }
    }
}

// SAFETY: as for `RawRwLock`; a timed-out attempt holds nothing; each method
// forwards to the same lock_api 0.4 impl (`Checked<RawRwSem>`'s or
// `RawRwSem`'s) for the whole build.
unsafe impl lock_api::RawRwLockTimed for RawRwLock {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    #[track_caller]
    fn try_lock_shared_for(&self, timeout: Duration) -> bool {
        forward!(self, RawRwLockTimed::try_lock_shared_for(timeout))
    }

    #[inline]
    #[track_caller]
    fn try_lock_shared_until(&self, timeout: Instant) -> bool {
        forward!(self, RawRwLockTimed::try_lock_shared_until(timeout))
    }

    #[inline]
    #[track_caller]
    fn try_lock_exclusive_for(&self, timeout: Duration) -> bool {
        forward!(self, RawRwLockTimed::try_lock_exclusive_for(timeout))
    }

    #[inline]
    #[track_caller]
    fn try_lock_exclusive_until(&self, timeout: Instant) -> bool {
        forward!(self, RawRwLockTimed::try_lock_exclusive_until(timeout))
    }
}

// SAFETY: as for `RawRwLock`; a recursive read never waits for a waiting
// writer; each method forwards to the same lock_api 0.4 impl
// (`Checked<RawRwSem>`'s or `RawRwSem`'s) for the whole build.
unsafe impl lock_api::RawRwLockRecursive for RawRwLock {
    #[inline]
    #[track_caller]
    fn lock_shared_recursive(&self) {
        forward!(self, RawRwLockRecursive::lock_shared_recursive())
    }

    #[inline]
    #[track_caller]
    fn try_lock_shared_recursive(&self) -> bool {
        forward!(self, RawRwLockRecursive::try_lock_shared_recursive())
    }
}

// SAFETY: as for `RawRwLockRecursive` and `RawRwLockTimed`; each method
// forwards to the same lock_api 0.4 impl (`Checked<RawRwSem>`'s or
// `RawRwSem`'s) for the whole build.
unsafe impl lock_api::RawRwLockRecursiveTimed for RawRwLock {
    #[inline]
    #[track_caller]
    fn try_lock_shared_recursive_for(&self, timeout: Duration) -> bool {
        forward!(
            self,
            RawRwLockRecursiveTimed::try_lock_shared_recursive_for(timeout)
        )
    }

    #[inline]
    #[track_caller]
    fn try_lock_shared_recursive_until(&self, timeout: Instant) -> bool {
        forward!(
            self,
            RawRwLockRecursiveTimed::try_lock_shared_recursive_until(timeout)
        )
    }
}

// SAFETY: as for `RawRwLock`; one upgradable reader at a time, a failed
// `try_upgrade` keeps it; each method forwards to the same lock_api 0.4 impl
// (`Checked<RawRwSem>`'s or `RawRwSem`'s) for the whole build.
unsafe impl lock_api::RawRwLockUpgrade for RawRwLock {
    #[inline]
    #[track_caller]
    fn lock_upgradable(&self) {
        forward!(self, RawRwLockUpgrade::lock_upgradable())
    }

    #[inline]
    #[track_caller]
    fn try_lock_upgradable(&self) -> bool {
        forward!(self, RawRwLockUpgrade::try_lock_upgradable())
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_upgradable(&self) {
        // SAFETY: the caller holds the upgradable acquisition.
        unsafe { forward!(self, RawRwLockUpgrade::unlock_upgradable()) }
    }

    #[inline]
    #[track_caller]
    unsafe fn upgrade(&self) {
        // SAFETY: the caller holds the upgradable acquisition.
        unsafe { forward!(self, RawRwLockUpgrade::upgrade()) }
    }

    #[inline]
    #[track_caller]
    unsafe fn try_upgrade(&self) -> bool {
        // SAFETY: the caller holds the upgradable acquisition.
        unsafe { forward!(self, RawRwLockUpgrade::try_upgrade()) }
    }
}

// SAFETY: as for `RawRwLockFair`, for the upgradable mode; each method
// forwards to the same lock_api 0.4 impl (`Checked<RawRwSem>`'s or
// `RawRwSem`'s) for the whole build.
unsafe impl lock_api::RawRwLockUpgradeFair for RawRwLock {
    #[inline]
    #[track_caller]
    unsafe fn unlock_upgradable_fair(&self) {
        // SAFETY: the caller holds the upgradable acquisition.
        unsafe { forward!(self, RawRwLockUpgradeFair::unlock_upgradable_fair()) }
    }

    #[inline]
    #[track_caller]
    unsafe fn bump_upgradable(&self) {
        // SAFETY: the caller holds the upgradable acquisition, held again on return.
        unsafe { forward!(self, RawRwLockUpgradeFair::bump_upgradable()) }
    }
}

// SAFETY: as for `RawRwLockDowngrade`; each method forwards to the same
// lock_api 0.4 impl (`Checked<RawRwSem>`'s or `RawRwSem`'s) for the whole
// build.
unsafe impl lock_api::RawRwLockUpgradeDowngrade for RawRwLock {
    #[inline]
    #[track_caller]
    unsafe fn downgrade_upgradable(&self) {
        // SAFETY: the caller holds the upgradable acquisition.
        unsafe { forward!(self, RawRwLockUpgradeDowngrade::downgrade_upgradable()) }
    }

    #[inline]
    #[track_caller]
    unsafe fn downgrade_to_upgradable(&self) {
        // SAFETY: the caller holds the exclusive acquisition.
        unsafe { forward!(self, RawRwLockUpgradeDowngrade::downgrade_to_upgradable()) }
    }
}

// SAFETY: as for `RawRwLockUpgrade` and `RawRwLockTimed`; a timed-out upgrade
// keeps the upgradable read; each method forwards to the same lock_api 0.4
// impl (`Checked<RawRwSem>`'s or `RawRwSem`'s) for the whole build.
unsafe impl lock_api::RawRwLockUpgradeTimed for RawRwLock {
    #[inline]
    #[track_caller]
    fn try_lock_upgradable_for(&self, timeout: Duration) -> bool {
        forward!(
            self,
            RawRwLockUpgradeTimed::try_lock_upgradable_for(timeout)
        )
    }

    #[inline]
    #[track_caller]
    fn try_lock_upgradable_until(&self, timeout: Instant) -> bool {
        forward!(
            self,
            RawRwLockUpgradeTimed::try_lock_upgradable_until(timeout)
        )
    }

    #[inline]
    #[track_caller]
    unsafe fn try_upgrade_for(&self, timeout: Duration) -> bool {
        // SAFETY: the caller holds the upgradable acquisition.
        unsafe { forward!(self, RawRwLockUpgradeTimed::try_upgrade_for(timeout)) }
    }

    #[inline]
    #[track_caller]
    unsafe fn try_upgrade_until(&self, timeout: Instant) -> bool {
        // SAFETY: the caller holds the upgradable acquisition.
        unsafe { forward!(self, RawRwLockUpgradeTimed::try_upgrade_until(timeout)) }
    }
}
