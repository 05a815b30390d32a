//! [`RawRwSem`]'s guard states and its lock_api 0.5 trait impls, each a
//! thin forward to the state machine in the parent module.

use core::marker::PhantomData;
#[cfg(not(loom))]
use std::time::{Duration, Instant};

#[cfg(not(loom))]
use super::RawRwSem;

/// Guard state of a shared acquisition of [`RawRwSem`] (`!Send`: a read is
/// released by the thread that took it). It remembers whether the read was
/// recursive, so a bump relocks the same way (a plain relock could wait for
/// a writer that waits for another read this thread holds).
#[derive(Debug)]
pub struct SharedGuard {
    // Read by `bump_shared`, which loom builds leave out with lock_api's traits.
    #[cfg_attr(loom, allow(dead_code))]
    recursive: bool,
    _not_send: PhantomData<*mut ()>,
}

/// Guard state of the exclusive acquisition of [`RawRwSem`] (zero-sized,
/// `!Send`).
#[derive(Debug)]
pub struct ExclusiveGuard(PhantomData<*mut ()>);

/// Guard state of the upgradable acquisition of [`RawRwSem`] (zero-sized,
/// `!Send`).
#[derive(Debug)]
pub struct UpgradableGuard(PhantomData<*mut ()>);

// SAFETY: the markers hold no data but a flag read only through `&mut`,
// and have no `&self` methods; a shared
// reference to it gives another thread nothing to act on, so `&guard` (and
// with it `&RwLockReadGuard`, lock_api derives guard `Sync` from this) may
// cross threads. Only moving it (`Send`) would matter, and that stays off.
unsafe impl Sync for SharedGuard {}
// SAFETY: as for `SharedGuard`: no data, nothing to do through `&`.
unsafe impl Sync for ExclusiveGuard {}
// SAFETY: as for `SharedGuard`: no data, nothing to do through `&`.
unsafe impl Sync for UpgradableGuard {}

#[cfg(not(loom))]
impl SharedGuard {
    /// The state of a (plain) shared acquisition the caller has made.
    #[inline]
    pub(crate) const fn new() -> SharedGuard {
        SharedGuard {
            recursive: false,
            _not_send: PhantomData,
        }
    }

    /// The state of a recursive shared acquisition the caller has made.
    #[inline]
    pub(crate) const fn recursive() -> SharedGuard {
        SharedGuard {
            recursive: true,
            _not_send: PhantomData,
        }
    }
}

#[cfg(not(loom))]
impl ExclusiveGuard {
    #[inline]
    const fn new() -> ExclusiveGuard {
        ExclusiveGuard(PhantomData)
    }
}

#[cfg(not(loom))]
impl UpgradableGuard {
    #[inline]
    const fn new() -> UpgradableGuard {
        UpgradableGuard(PhantomData)
    }
}

#[cfg(not(loom))]
impl RawRwSem {
    /// [`lock_shared_recursive`](RawRwSem::lock_shared_recursive), returning
    /// the guard state that `lock_api::RwLock::make_read_guard_unchecked`
    /// takes (lock_api 0.5 has no recursive-read trait).
    #[inline]
    pub fn lock_shared_recursive_guard(&self) -> SharedGuard {
        self.lock_shared_recursive();
        SharedGuard::recursive()
    }

    /// [`try_lock_shared_recursive`](RawRwSem::try_lock_shared_recursive),
    /// returning the guard state on success.
    #[inline]
    pub fn try_lock_shared_recursive_guard(&self) -> Option<SharedGuard> {
        self.try_lock_shared_recursive()
            .then(SharedGuard::recursive)
    }

    /// [`try_lock_shared_recursive_until`](RawRwSem::try_lock_shared_recursive_until),
    /// returning the guard state on success.
    #[inline]
    pub fn try_lock_shared_recursive_until_guard(&self, deadline: Instant) -> Option<SharedGuard> {
        self.try_lock_shared_recursive_until(deadline)
            .then(SharedGuard::recursive)
    }
}

// SAFETY: readers and a writer exclude each other through WRITER_BIT and the
// reader count; locks Acquire, unlocks Release; every guard state names its
// mode; no operation panics after acquiring except the `bump_*` relocks,
// which abort; nothing refers to the lock's address while it is unlocked and
// unwaited, so it may be moved or dropped under `&mut`.
#[cfg(not(loom))]
unsafe impl lock_api::RawRwLock for RawRwSem {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawRwSem = RawRwSem::new();
    type SharedGuard = SharedGuard;
    type ExclusiveGuard = ExclusiveGuard;

    #[inline]
    fn lock_shared(&self) -> SharedGuard {
        RawRwSem::lock_shared(self);
        SharedGuard::new()
    }

    #[inline]
    fn try_lock_shared(&self) -> Option<SharedGuard> {
        RawRwSem::try_lock_shared(self).then(SharedGuard::new)
    }

    #[inline]
    unsafe fn unlock_shared(&self, _guard: SharedGuard) {
        // SAFETY: the guard state proves a shared acquisition.
        unsafe { RawRwSem::unlock_shared(self) }
    }

    #[inline]
    fn lock_exclusive(&self) -> ExclusiveGuard {
        RawRwSem::lock_exclusive(self);
        ExclusiveGuard::new()
    }

    #[inline]
    fn try_lock_exclusive(&self) -> Option<ExclusiveGuard> {
        RawRwSem::try_lock_exclusive(self).then(ExclusiveGuard::new)
    }

    #[inline]
    unsafe fn unlock_exclusive(&self, _guard: ExclusiveGuard) {
        // SAFETY: the guard state proves the exclusive acquisition.
        unsafe { RawRwSem::unlock_exclusive(self) }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        RawRwSem::is_locked(self)
    }

    #[inline]
    fn is_locked_exclusive(&self) -> bool {
        RawRwSem::is_locked_exclusive(self)
    }
}

// SAFETY: fair unlocks release like the unfair ones (a handoff keeps the lock
// held for the woken threads); bumps restore the original mode or abort.
#[cfg(not(loom))]
unsafe impl lock_api::RawRwLockFair for RawRwSem {
    #[inline]
    unsafe fn unlock_shared_fair(&self, _guard: SharedGuard) {
        // SAFETY: the guard state proves a shared acquisition.
        unsafe { RawRwSem::unlock_shared_fair(self) }
    }

    #[inline]
    unsafe fn unlock_exclusive_fair(&self, _guard: ExclusiveGuard) {
        // SAFETY: the guard state proves the exclusive acquisition.
        unsafe { RawRwSem::unlock_exclusive_fair(self) }
    }

    #[inline]
    unsafe fn bump_shared(&self, guard: &mut SharedGuard) {
        // SAFETY: the guard state proves a shared acquisition of the kind it
        // records, held again (the same way) on return.
        unsafe {
            if guard.recursive {
                RawRwSem::bump_shared_recursive(self)
            } else {
                RawRwSem::bump_shared(self)
            }
        }
    }

    #[inline]
    unsafe fn bump_exclusive(&self, _guard: &mut ExclusiveGuard) {
        // SAFETY: the guard state proves the exclusive acquisition, held again
        // on return.
        unsafe { RawRwSem::bump_exclusive(self) }
    }
}

// SAFETY: the downgrade is one Release RMW that never admits a writer.
#[cfg(not(loom))]
unsafe impl lock_api::RawRwLockDowngrade for RawRwSem {
    #[inline]
    unsafe fn downgrade(&self, _guard: ExclusiveGuard) -> SharedGuard {
        // SAFETY: the guard state proves the exclusive acquisition.
        unsafe { RawRwSem::downgrade(self) };
        SharedGuard::new()
    }
}

// SAFETY: a timed-out attempt holds nothing and leaves the queue and state
// as if it had never waited.
#[cfg(not(loom))]
unsafe impl lock_api::RawRwLockTimed for RawRwSem {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_shared_for(&self, timeout: Duration) -> Option<SharedGuard> {
        RawRwSem::try_lock_shared_for(self, timeout).then(SharedGuard::new)
    }

    #[inline]
    fn try_lock_shared_until(&self, timeout: Instant) -> Option<SharedGuard> {
        RawRwSem::try_lock_shared_until(self, timeout).then(SharedGuard::new)
    }

    #[inline]
    fn try_lock_exclusive_for(&self, timeout: Duration) -> Option<ExclusiveGuard> {
        RawRwSem::try_lock_exclusive_for(self, timeout).then(ExclusiveGuard::new)
    }

    #[inline]
    fn try_lock_exclusive_until(&self, timeout: Instant) -> Option<ExclusiveGuard> {
        RawRwSem::try_lock_exclusive_until(self, timeout).then(ExclusiveGuard::new)
    }
}

// SAFETY: UPGRADABLE_BIT admits one upgradable reader among plain ones; the
// upgrade Acquires the readers' Release unlocks; a failed try_upgrade keeps
// the upgradable read.
#[cfg(not(loom))]
unsafe impl lock_api::RawRwLockUpgrade for RawRwSem {
    type UpgradableGuard = UpgradableGuard;

    #[inline]
    fn lock_upgradable(&self) -> UpgradableGuard {
        RawRwSem::lock_upgradable(self);
        UpgradableGuard::new()
    }

    #[inline]
    fn try_lock_upgradable(&self) -> Option<UpgradableGuard> {
        RawRwSem::try_lock_upgradable(self).then(UpgradableGuard::new)
    }

    #[inline]
    unsafe fn unlock_upgradable(&self, _guard: UpgradableGuard) {
        // SAFETY: the guard state proves the upgradable acquisition.
        unsafe { RawRwSem::unlock_upgradable(self) }
    }

    #[inline]
    unsafe fn upgrade(&self, _guard: UpgradableGuard) -> ExclusiveGuard {
        // SAFETY: the guard state proves the upgradable acquisition.
        unsafe { RawRwSem::upgrade(self) };
        ExclusiveGuard::new()
    }

    #[inline]
    unsafe fn try_upgrade(
        &self,
        guard: UpgradableGuard,
    ) -> Result<ExclusiveGuard, UpgradableGuard> {
        // SAFETY: the guard state proves the upgradable acquisition.
        if unsafe { RawRwSem::try_upgrade(self) } {
            Ok(ExclusiveGuard::new())
        } else {
            Err(guard)
        }
    }
}

// SAFETY: as RawRwLockFair, for the upgradable mode.
#[cfg(not(loom))]
unsafe impl lock_api::RawRwLockUpgradeFair for RawRwSem {
    #[inline]
    unsafe fn unlock_upgradable_fair(&self, _guard: UpgradableGuard) {
        // SAFETY: the guard state proves the upgradable acquisition.
        unsafe { RawRwSem::unlock_upgradable_fair(self) }
    }

    #[inline]
    unsafe fn bump_upgradable(&self, _guard: &mut UpgradableGuard) {
        // SAFETY: the guard state proves the upgradable acquisition, held
        // again on return.
        unsafe { RawRwSem::bump_upgradable(self) }
    }
}

// SAFETY: both downgrades are single Release RMWs that never admit a writer.
#[cfg(not(loom))]
unsafe impl lock_api::RawRwLockUpgradeDowngrade for RawRwSem {
    #[inline]
    unsafe fn downgrade_upgradable(&self, _guard: UpgradableGuard) -> SharedGuard {
        // SAFETY: the guard state proves the upgradable acquisition.
        unsafe { RawRwSem::downgrade_upgradable(self) };
        SharedGuard::new()
    }

    #[inline]
    unsafe fn downgrade_to_upgradable(&self, _guard: ExclusiveGuard) -> UpgradableGuard {
        // SAFETY: the guard state proves the exclusive acquisition.
        unsafe { RawRwSem::downgrade_to_upgradable(self) };
        UpgradableGuard::new()
    }
}

// SAFETY: a timed-out upgrade restores the upgradable read (state and guard)
// and lets in the readers its claim was blocking.
#[cfg(not(loom))]
unsafe impl lock_api::RawRwLockUpgradeTimed for RawRwSem {
    #[inline]
    fn try_lock_upgradable_for(&self, timeout: Duration) -> Option<UpgradableGuard> {
        RawRwSem::try_lock_upgradable_for(self, timeout).then(UpgradableGuard::new)
    }

    #[inline]
    fn try_lock_upgradable_until(&self, timeout: Instant) -> Option<UpgradableGuard> {
        RawRwSem::try_lock_upgradable_until(self, timeout).then(UpgradableGuard::new)
    }

    #[inline]
    unsafe fn try_upgrade_for(
        &self,
        guard: UpgradableGuard,
        timeout: Duration,
    ) -> Result<ExclusiveGuard, UpgradableGuard> {
        // SAFETY: the guard state proves the upgradable acquisition.
        if unsafe { RawRwSem::try_upgrade_for(self, timeout) } {
            Ok(ExclusiveGuard::new())
        } else {
            Err(guard)
        }
    }

    #[inline]
    unsafe fn try_upgrade_until(
        &self,
        guard: UpgradableGuard,
        timeout: Instant,
    ) -> Result<ExclusiveGuard, UpgradableGuard> {
        // SAFETY: the guard state proves the upgradable acquisition.
        if unsafe { RawRwSem::try_upgrade_until(self, timeout) } {
            Ok(ExclusiveGuard::new())
        } else {
            Err(guard)
        }
    }
}
