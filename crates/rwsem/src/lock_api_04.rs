//! lock_api **0.4**'s raw traits (the `lock_api_04` feature), beside the 0.5
//! ones the rest of the crate implements: for [`RawMutex`], [`RawRwSem`] and
//! [`Checked<R>`] over any lock_api 0.4 raw lock `R` (parking_lot 0.12's).
//!
//! lock_api 0.4 is tokenless: `lock(&self)`, `unlock(&self)`, no guard
//! state. So every impl here must be able to do without the guard state the
//! 0.5 impl keeps:
//!
//! - [`RawMutex`]'s and [`RawRwSem`]'s exclusive and upgradable guard states
//!   are zero-sized markers: nothing to recover. [`RawRwSem`]'s shared guard
//!   state remembers whether the read was recursive, and only `bump_shared`
//!   reads it (a recursive read is bumped with a recursive relock). Without
//!   it a bump relocks as lock_api 0.4 specifies (`unlock_shared_fair`, then
//!   `lock_shared`): a plain read, which waits behind a waiting writer. So
//!   bumping a read, or calling `RwLockReadGuard::unlocked` (which lock_api
//!   0.4 itself relocks with `lock_shared`), while this thread holds another
//!   read of the same lock can deadlock against a waiting writer, as it can
//!   with parking_lot 0.12. Memory safety does not depend on it.
//! - [`Checked<R>`] keeps the validator's [`Held`] token in its 0.5 guard
//!   state. Here the token is let go at the acquisition (it is plain data
//!   with no `Drop`: the held entry stays on the thread's held-lock stack)
//!   and the release is [`LockMap::release_unpaired`], which releases this
//!   thread's most recent acquisition of the lock. That is exact because a
//!   lock_api 0.4 guard is `!Send` (`GuardNoSend`): the thread that unlocks
//!   is the thread that locked. Only reads can be held twice by one thread;
//!   dropping the older read first releases the newer entry, whose mode
//!   (`Read` or `RecursiveRead`) and site may differ, but either is shared
//!   for every dependency the remaining entry adds. A mode change
//!   (downgrade, upgrade) finds the entry by its lock
//!   ([`LockMap::held_token`]) and changes it in place, as the 0.5 impl
//!   does with its token: a downgrade or an immediate upgrade adds no
//!   dependency, a waiting upgrade is checked as a `Write` acquisition
//!   before it waits.

use core::mem;

use kernsync_lockdep::{Held, Mode};
use lock_api_04 as api;
use lock_api_04::GuardNoSend;
use std::time::{Duration, Instant};

use crate::{Checked, RawMutex, RawRwSem};

// ---------------------------------------------------------------------------
// kernsync's raw locks
// ---------------------------------------------------------------------------

// SAFETY: the inherent `lock`/`try_lock*` return only once the mutex is
// owned and every unlock gives it up, with the orderings argued at the 0.5
// impl (raw_mutex.rs); none of them unwinds. The 0.5 guard state is a
// zero-sized marker, so the tokenless unlock loses nothing; the guard stays
// `!Send` (`GuardNoSend`), as under 0.5.
unsafe impl api::RawMutex for RawMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawMutex = RawMutex::new();
    type GuardMarker = GuardNoSend;

    #[inline]
    fn lock(&self) {
        RawMutex::lock(self);
    }

    #[inline]
    fn try_lock(&self) -> bool {
        RawMutex::try_lock(self)
    }

    #[inline]
    unsafe fn unlock(&self) {
        // SAFETY: the caller holds the mutex (the trait's contract).
        unsafe { RawMutex::unlock(self) }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        RawMutex::is_locked(self)
    }
}

// SAFETY: `unlock_fair` releases or hands over the mutex; `bump` returns
// holding it, aborting rather than unwinding without it.
unsafe impl api::RawMutexFair for RawMutex {
    #[inline]
    unsafe fn unlock_fair(&self) {
        // SAFETY: the caller holds the mutex.
        unsafe { RawMutex::unlock_fair(self) }
    }

    #[inline]
    unsafe fn bump(&self) {
        // SAFETY: the caller holds the mutex; it holds it again on return.
        unsafe { RawMutex::bump(self) }
    }
}

// SAFETY: a timed-out attempt holds nothing and returns no earlier than its
// deadline.
unsafe impl api::RawMutexTimed for RawMutex {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_for(&self, timeout: Duration) -> bool {
        RawMutex::try_lock_for(self, timeout)
    }

    #[inline]
    fn try_lock_until(&self, deadline: Instant) -> bool {
        RawMutex::try_lock_until(self, deadline)
    }
}

// SAFETY: readers and a writer exclude each other as argued at the 0.5 impl
// (raw_rwsem/traits.rs); each method forwards to the state machine's
// operation of the same name. The 0.5 exclusive and upgradable guard states
// are zero-sized markers; the shared one's `recursive` flag is read only by
// `bump_shared` (see `RawRwLockFair` below). Guards stay `!Send`.
unsafe impl api::RawRwLock for RawRwSem {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawRwSem = RawRwSem::new();
    type GuardMarker = GuardNoSend;

    #[inline]
    fn lock_shared(&self) {
        RawRwSem::lock_shared(self);
    }

    #[inline]
    fn try_lock_shared(&self) -> bool {
        RawRwSem::try_lock_shared(self)
    }

    #[inline]
    unsafe fn unlock_shared(&self) {
        // SAFETY: the caller holds a shared acquisition (plain or recursive:
        // both are one reader in the count).
        unsafe { RawRwSem::unlock_shared(self) }
    }

    #[inline]
    fn lock_exclusive(&self) {
        RawRwSem::lock_exclusive(self);
    }

    #[inline]
    fn try_lock_exclusive(&self) -> bool {
        RawRwSem::try_lock_exclusive(self)
    }

    #[inline]
    unsafe fn unlock_exclusive(&self) {
        // SAFETY: the caller holds the exclusive acquisition.
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

// SAFETY: fair unlocks release (or hand off) like the unfair ones; bumps
// return holding the lock in the same mode or abort. `bump_shared` cannot
// know whether the read was recursive and relocks as a plain read, which is
// what lock_api 0.4 specifies for it (`unlock_shared_fair` then
// `lock_shared`); that is a liveness caveat (module docs), not a safety one.
unsafe impl api::RawRwLockFair for RawRwSem {
    #[inline]
    unsafe fn unlock_shared_fair(&self) {
        // SAFETY: the caller holds a shared acquisition.
        unsafe { RawRwSem::unlock_shared_fair(self) }
    }

    #[inline]
    unsafe fn unlock_exclusive_fair(&self) {
        // SAFETY: the caller holds the exclusive acquisition.
        unsafe { RawRwSem::unlock_exclusive_fair(self) }
    }

    #[inline]
    unsafe fn bump_shared(&self) {
        // SAFETY: the caller holds a shared acquisition, held again on return.
        unsafe { RawRwSem::bump_shared(self) }
    }

    #[inline]
    unsafe fn bump_exclusive(&self) {
        // SAFETY: the caller holds the exclusive acquisition, held again on
        // return.
        unsafe { RawRwSem::bump_exclusive(self) }
    }
}

// SAFETY: the downgrade is one Release RMW that never admits a writer.
unsafe impl api::RawRwLockDowngrade for RawRwSem {
    #[inline]
    unsafe fn downgrade(&self) {
        // SAFETY: the caller holds the exclusive acquisition.
        unsafe { RawRwSem::downgrade(self) }
    }
}

// SAFETY: a timed-out attempt holds nothing and leaves the state as if it
// had never waited.
unsafe impl api::RawRwLockTimed for RawRwSem {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_shared_for(&self, timeout: Duration) -> bool {
        RawRwSem::try_lock_shared_for(self, timeout)
    }

    #[inline]
    fn try_lock_shared_until(&self, deadline: Instant) -> bool {
        RawRwSem::try_lock_shared_until(self, deadline)
    }

    #[inline]
    fn try_lock_exclusive_for(&self, timeout: Duration) -> bool {
        RawRwSem::try_lock_exclusive_for(self, timeout)
    }

    #[inline]
    fn try_lock_exclusive_until(&self, deadline: Instant) -> bool {
        RawRwSem::try_lock_exclusive_until(self, deadline)
    }
}

// SAFETY: a recursive read is an ordinary reader in the count (released by
// `unlock_shared`); it only passes a *waiting* writer while the lock is
// read-held, never a writer that holds it, so exclusion is kept, and a
// thread holding a read never blocks here (lock_api 0.4's requirement).
unsafe impl api::RawRwLockRecursive for RawRwSem {
    #[inline]
    fn lock_shared_recursive(&self) {
        RawRwSem::lock_shared_recursive(self);
    }

    #[inline]
    fn try_lock_shared_recursive(&self) -> bool {
        RawRwSem::try_lock_shared_recursive(self)
    }
}

// SAFETY: as `RawRwLockRecursive` and `RawRwLockTimed`.
unsafe impl api::RawRwLockRecursiveTimed for RawRwSem {
    #[inline]
    fn try_lock_shared_recursive_for(&self, timeout: Duration) -> bool {
        RawRwSem::try_lock_shared_recursive_for(self, timeout)
    }

    #[inline]
    fn try_lock_shared_recursive_until(&self, deadline: Instant) -> bool {
        RawRwSem::try_lock_shared_recursive_until(self, deadline)
    }
}

// SAFETY: UPGRADABLE_BIT admits one upgradable reader among plain ones; the
// upgrade Acquires the readers' Release unlocks; a failed try_upgrade keeps
// the upgradable read.
unsafe impl api::RawRwLockUpgrade for RawRwSem {
    #[inline]
    fn lock_upgradable(&self) {
        RawRwSem::lock_upgradable(self);
    }

    #[inline]
    fn try_lock_upgradable(&self) -> bool {
        RawRwSem::try_lock_upgradable(self)
    }

    #[inline]
    unsafe fn unlock_upgradable(&self) {
        // SAFETY: the caller holds the upgradable acquisition.
        unsafe { RawRwSem::unlock_upgradable(self) }
    }

    #[inline]
    unsafe fn upgrade(&self) {
        // SAFETY: the caller holds the upgradable acquisition.
        unsafe { RawRwSem::upgrade(self) }
    }

    #[inline]
    unsafe fn try_upgrade(&self) -> bool {
        // SAFETY: the caller holds the upgradable acquisition.
        unsafe { RawRwSem::try_upgrade(self) }
    }
}

// SAFETY: as `RawRwLockFair`, for the upgradable mode.
unsafe impl api::RawRwLockUpgradeFair for RawRwSem {
    #[inline]
    unsafe fn unlock_upgradable_fair(&self) {
        // SAFETY: the caller holds the upgradable acquisition.
        unsafe { RawRwSem::unlock_upgradable_fair(self) }
    }

    #[inline]
    unsafe fn bump_upgradable(&self) {
        // SAFETY: the caller holds the upgradable acquisition, held again on
        // return.
        unsafe { RawRwSem::bump_upgradable(self) }
    }
}

// SAFETY: both downgrades are single Release RMWs that never admit a writer.
unsafe impl api::RawRwLockUpgradeDowngrade for RawRwSem {
    #[inline]
    unsafe fn downgrade_upgradable(&self) {
        // SAFETY: the caller holds the upgradable acquisition.
        unsafe { RawRwSem::downgrade_upgradable(self) }
    }

    #[inline]
    unsafe fn downgrade_to_upgradable(&self) {
        // SAFETY: the caller holds the exclusive acquisition.
        unsafe { RawRwSem::downgrade_to_upgradable(self) }
    }
}

// SAFETY: a timed-out upgrade restores the upgradable read and lets in the
// readers its claim was blocking.
unsafe impl api::RawRwLockUpgradeTimed for RawRwSem {
    #[inline]
    fn try_lock_upgradable_for(&self, timeout: Duration) -> bool {
        RawRwSem::try_lock_upgradable_for(self, timeout)
    }

    #[inline]
    fn try_lock_upgradable_until(&self, deadline: Instant) -> bool {
        RawRwSem::try_lock_upgradable_until(self, deadline)
    }

    #[inline]
    unsafe fn try_upgrade_for(&self, timeout: Duration) -> bool {
        // SAFETY: the caller holds the upgradable acquisition.
        unsafe { RawRwSem::try_upgrade_for(self, timeout) }
    }

    #[inline]
    unsafe fn try_upgrade_until(&self, deadline: Instant) -> bool {
        // SAFETY: the caller holds the upgradable acquisition.
        unsafe { RawRwSem::try_upgrade_until(self, deadline) }
    }
}

// ---------------------------------------------------------------------------
// Checked<R>
// ---------------------------------------------------------------------------

/// Lets go of a validator token that a tokenless trait has nowhere to keep.
/// `Held` is plain data (an address and an entry id) with no `Drop`, so
/// dropping it would do the same today; `forget` says the intent and stays
/// right if `Held` ever gains a `Drop` that releases: the entry must stay on
/// the thread's held-lock stack until [`LockMap::release_unpaired`] takes it
/// off (a forgotten lock_api guard leaves it there, and the lock held, as it
/// is).
#[inline(always)]
#[allow(clippy::forget_non_drop)]
fn keep_entry(held: Held) {
    mem::forget(held);
}

impl<R> Checked<R> {
    /// A timed acquisition's end: it was recorded before it could wait; keep
    /// the entry if it got the lock, release it (with its own token) if not.
    #[inline]
    #[track_caller]
    fn timed_04(&self, held: Held, got: bool) -> bool {
        if got {
            keep_entry(held);
        } else {
            self.map().release(held);
        }
        got
    }

    /// An immediate attempt's end: record it only if it got the lock.
    #[inline]
    #[track_caller]
    fn tried_04(&self, mode: Mode, got: bool) -> bool {
        if got {
            keep_entry(self.map().try_acquired(mode));
        }
        got
    }

    /// A mode change that does not wait (a downgrade to `Read`, an
    /// immediate upgrade to `Write`): the held entry, found by its lock,
    /// changes mode in place ([`LockMap::downgrade`],
    /// [`LockMap::try_upgraded`]) and adds no dependency.
    #[inline]
    #[track_caller]
    fn change_mode_04(&self, mode: Mode) {
        let mut held = self.map().held_token();
        match mode {
            Mode::Write => self.map().try_upgraded(&mut held),
            _ => self.map().downgrade(&mut held),
        }
        keep_entry(held);
    }

    /// An upgrade that can wait, checked before it waits as a new `Write`
    /// acquisition of the held entry ([`LockMap::upgrade`]). If the check
    /// unwinds, the entry is still on the held stack, for the unlock of the
    /// upgradable guard that lock_api drops while unwinding.
    #[inline]
    #[track_caller]
    fn upgrade_04(&self) {
        let mut held = self.map().held_token();
        self.map().upgrade(&mut held);
        keep_entry(held);
    }
}

// SAFETY: `R` provides the exclusion and the memory ordering; the validator
// calls around it neither lock nor unlock it. An acquisition is checked (and
// may unwind, in panic mode) before `R` is locked; an unlock releases `R`
// before telling the validator, so an unwinding unlock has released the
// lock. Guards are `!Send` (`GuardNoSend`), whatever `R` allows, so the
// thread that unlocks is the one whose held stack has the entry.
unsafe impl<R: api::RawMutex> api::RawMutex for Checked<R> {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Checked<R> = Checked::first_use(R::INIT);
    type GuardMarker = GuardNoSend;

    #[inline]
    #[track_caller]
    fn lock(&self) {
        keep_entry(self.map().acquire(Mode::Write));
        self.raw().lock();
    }

    #[inline]
    #[track_caller]
    fn try_lock(&self) -> bool {
        self.tried_04(Mode::Write, self.raw().try_lock())
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock(&self) {
        // SAFETY: the caller holds the lock, so it holds `R`.
        unsafe { self.raw().unlock() };
        self.map().release_unpaired();
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.raw().is_locked()
    }
}

// SAFETY: as for `RawMutex`; a bump keeps the lock held throughout (in `R`
// and in the validator, which it does not touch).
unsafe impl<R: api::RawMutexFair> api::RawMutexFair for Checked<R> {
    #[inline]
    #[track_caller]
    unsafe fn unlock_fair(&self) {
        // SAFETY: the caller holds the lock, so it holds `R`.
        unsafe { self.raw().unlock_fair() };
        self.map().release_unpaired();
    }

    #[inline]
    unsafe fn bump(&self) {
        // SAFETY: the caller holds the lock, so it holds `R`.
        unsafe { self.raw().bump() }
    }
}

// SAFETY: a timed acquisition is recorded before it can wait and released in
// the validator if it times out, when `R` was not locked.
unsafe impl<R: api::RawMutexTimed> api::RawMutexTimed for Checked<R> {
    type Duration = R::Duration;
    type Instant = R::Instant;

    #[inline]
    #[track_caller]
    fn try_lock_for(&self, timeout: R::Duration) -> bool {
        let held = self.map().acquire(Mode::Write);
        self.timed_04(held, self.raw().try_lock_for(timeout))
    }

    #[inline]
    #[track_caller]
    fn try_lock_until(&self, deadline: R::Instant) -> bool {
        let held = self.map().acquire(Mode::Write);
        self.timed_04(held, self.raw().try_lock_until(deadline))
    }
}

// SAFETY: as for `RawMutex`.
unsafe impl<R: api::RawRwLock> api::RawRwLock for Checked<R> {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Checked<R> = Checked::first_use(R::INIT);
    type GuardMarker = GuardNoSend;

    #[inline]
    #[track_caller]
    fn lock_shared(&self) {
        keep_entry(self.map().acquire(Mode::Read));
        self.raw().lock_shared();
    }

    #[inline]
    #[track_caller]
    fn try_lock_shared(&self) -> bool {
        self.tried_04(Mode::Read, self.raw().try_lock_shared())
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_shared(&self) {
        // SAFETY: the caller holds a shared lock, so a shared acquisition of `R`.
        unsafe { self.raw().unlock_shared() };
        self.map().release_unpaired();
    }

    #[inline]
    #[track_caller]
    fn lock_exclusive(&self) {
        keep_entry(self.map().acquire(Mode::Write));
        self.raw().lock_exclusive();
    }

    #[inline]
    #[track_caller]
    fn try_lock_exclusive(&self) -> bool {
        self.tried_04(Mode::Write, self.raw().try_lock_exclusive())
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_exclusive(&self) {
        // SAFETY: the caller holds the exclusive lock, so `R`'s.
        unsafe { self.raw().unlock_exclusive() };
        self.map().release_unpaired();
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.raw().is_locked()
    }

    #[inline]
    fn is_locked_exclusive(&self) -> bool {
        self.raw().is_locked_exclusive()
    }
}

// SAFETY: as for `RawMutexFair`.
unsafe impl<R: api::RawRwLockFair> api::RawRwLockFair for Checked<R> {
    #[inline]
    #[track_caller]
    unsafe fn unlock_shared_fair(&self) {
        // SAFETY: the caller holds a shared acquisition of `R`.
        unsafe { self.raw().unlock_shared_fair() };
        self.map().release_unpaired();
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_exclusive_fair(&self) {
        // SAFETY: the caller holds the exclusive acquisition of `R`.
        unsafe { self.raw().unlock_exclusive_fair() };
        self.map().release_unpaired();
    }

    #[inline]
    unsafe fn bump_shared(&self) {
        // SAFETY: the caller holds a shared acquisition of `R`.
        unsafe { self.raw().bump_shared() }
    }

    #[inline]
    unsafe fn bump_exclusive(&self) {
        // SAFETY: the caller holds the exclusive acquisition of `R`.
        unsafe { self.raw().bump_exclusive() }
    }
}

// SAFETY: a downgrade never releases `R`; the validator's entry becomes a
// `Read` after `R` is downgraded, by calls that cannot report (so nothing
// unwinds with `R` downgraded and lock_api's write guard still alive).
unsafe impl<R: api::RawRwLockDowngrade> api::RawRwLockDowngrade for Checked<R> {
    #[inline]
    #[track_caller]
    unsafe fn downgrade(&self) {
        // SAFETY: the caller holds the exclusive acquisition of `R`.
        unsafe { self.raw().downgrade() };
        self.change_mode_04(Mode::Read);
    }
}

// SAFETY: as for `RawMutexTimed`.
unsafe impl<R: api::RawRwLockTimed> api::RawRwLockTimed for Checked<R> {
    type Duration = R::Duration;
    type Instant = R::Instant;

    #[inline]
    #[track_caller]
    fn try_lock_shared_for(&self, timeout: R::Duration) -> bool {
        let held = self.map().acquire(Mode::Read);
        self.timed_04(held, self.raw().try_lock_shared_for(timeout))
    }

    #[inline]
    #[track_caller]
    fn try_lock_shared_until(&self, deadline: R::Instant) -> bool {
        let held = self.map().acquire(Mode::Read);
        self.timed_04(held, self.raw().try_lock_shared_until(deadline))
    }

    #[inline]
    #[track_caller]
    fn try_lock_exclusive_for(&self, timeout: R::Duration) -> bool {
        let held = self.map().acquire(Mode::Write);
        self.timed_04(held, self.raw().try_lock_exclusive_for(timeout))
    }

    #[inline]
    #[track_caller]
    fn try_lock_exclusive_until(&self, deadline: R::Instant) -> bool {
        let held = self.map().acquire(Mode::Write);
        self.timed_04(held, self.raw().try_lock_exclusive_until(deadline))
    }
}

// SAFETY: as for `RawRwLock`; `R`'s recursive reads are `RecursiveRead` for
// the validator (they never wait for a waiting writer), released like any
// read.
unsafe impl<R: api::RawRwLockRecursive> api::RawRwLockRecursive for Checked<R> {
    #[inline]
    #[track_caller]
    fn lock_shared_recursive(&self) {
        keep_entry(self.map().acquire(Mode::RecursiveRead));
        self.raw().lock_shared_recursive();
    }

    #[inline]
    #[track_caller]
    fn try_lock_shared_recursive(&self) -> bool {
        self.tried_04(Mode::RecursiveRead, self.raw().try_lock_shared_recursive())
    }
}

// SAFETY: as for `RawRwLockRecursive` and `RawRwLockTimed`.
unsafe impl<R: api::RawRwLockRecursiveTimed> api::RawRwLockRecursiveTimed for Checked<R> {
    #[inline]
    #[track_caller]
    fn try_lock_shared_recursive_for(&self, timeout: R::Duration) -> bool {
        let held = self.map().acquire(Mode::RecursiveRead);
        self.timed_04(held, self.raw().try_lock_shared_recursive_for(timeout))
    }

    #[inline]
    #[track_caller]
    fn try_lock_shared_recursive_until(&self, deadline: R::Instant) -> bool {
        let held = self.map().acquire(Mode::RecursiveRead);
        self.timed_04(held, self.raw().try_lock_shared_recursive_until(deadline))
    }
}

// SAFETY: as for `RawRwLock`. An upgradable read is a `Read`; an upgrade is
// checked as a `Write` before `R` can wait (re-recording the read if the
// check unwinds, `R` untouched); an immediate `try_upgrade` changes the mode
// only once `R` has upgraded, by calls that cannot report.
unsafe impl<R: api::RawRwLockUpgrade> api::RawRwLockUpgrade for Checked<R> {
    #[inline]
    #[track_caller]
    fn lock_upgradable(&self) {
        keep_entry(self.map().acquire(Mode::Read));
        self.raw().lock_upgradable();
    }

    #[inline]
    #[track_caller]
    fn try_lock_upgradable(&self) -> bool {
        self.tried_04(Mode::Read, self.raw().try_lock_upgradable())
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_upgradable(&self) {
        // SAFETY: the caller holds the upgradable acquisition of `R`.
        unsafe { self.raw().unlock_upgradable() };
        self.map().release_unpaired();
    }

    #[inline]
    #[track_caller]
    unsafe fn upgrade(&self) {
        self.upgrade_04();
        // SAFETY: the caller holds the upgradable acquisition of `R`.
        unsafe { self.raw().upgrade() }
    }

    #[inline]
    #[track_caller]
    unsafe fn try_upgrade(&self) -> bool {
        // SAFETY: the caller holds the upgradable acquisition of `R`.
        let upgraded = unsafe { self.raw().try_upgrade() };
        if upgraded {
            self.change_mode_04(Mode::Write);
        }
        upgraded
    }
}

// SAFETY: as for `RawRwLockFair` and `RawRwLockUpgrade`.
unsafe impl<R: api::RawRwLockUpgradeFair> api::RawRwLockUpgradeFair for Checked<R> {
    #[inline]
    #[track_caller]
    unsafe fn unlock_upgradable_fair(&self) {
        // SAFETY: the caller holds the upgradable acquisition of `R`.
        unsafe { self.raw().unlock_upgradable_fair() };
        self.map().release_unpaired();
    }

    #[inline]
    unsafe fn bump_upgradable(&self) {
        // SAFETY: the caller holds the upgradable acquisition of `R`.
        unsafe { self.raw().bump_upgradable() }
    }
}

// SAFETY: downgrades never release `R`; upgradable and shared are both
// `Read` for the validator (nothing to record), exclusive becomes `Read` as
// in `RawRwLockDowngrade`.
unsafe impl<R: api::RawRwLockUpgradeDowngrade> api::RawRwLockUpgradeDowngrade for Checked<R> {
    #[inline]
    unsafe fn downgrade_upgradable(&self) {
        // SAFETY: the caller holds the upgradable acquisition of `R`.
        unsafe { self.raw().downgrade_upgradable() }
    }

    #[inline]
    #[track_caller]
    unsafe fn downgrade_to_upgradable(&self) {
        // SAFETY: the caller holds the exclusive acquisition of `R`.
        unsafe { self.raw().downgrade_to_upgradable() };
        self.change_mode_04(Mode::Read);
    }
}

// SAFETY: as for `RawRwLockTimed` and `RawRwLockUpgrade`: a timed upgrade is
// checked as a `Write` before it waits and turned back to `Read` (by calls
// that cannot report) if it times out, when `R` is still held upgradable.
unsafe impl<R: api::RawRwLockUpgradeTimed> api::RawRwLockUpgradeTimed for Checked<R> {
    #[inline]
    #[track_caller]
    fn try_lock_upgradable_for(&self, timeout: R::Duration) -> bool {
        let held = self.map().acquire(Mode::Read);
        self.timed_04(held, self.raw().try_lock_upgradable_for(timeout))
    }

    #[inline]
    #[track_caller]
    fn try_lock_upgradable_until(&self, deadline: R::Instant) -> bool {
        let held = self.map().acquire(Mode::Read);
        self.timed_04(held, self.raw().try_lock_upgradable_until(deadline))
    }

    #[inline]
    #[track_caller]
    unsafe fn try_upgrade_for(&self, timeout: R::Duration) -> bool {
        self.upgrade_04();
        // SAFETY: the caller holds the upgradable acquisition of `R`.
        let upgraded = unsafe { self.raw().try_upgrade_for(timeout) };
        if !upgraded {
            self.change_mode_04(Mode::Read);
        }
        upgraded
    }

    #[inline]
    #[track_caller]
    unsafe fn try_upgrade_until(&self, deadline: R::Instant) -> bool {
        self.upgrade_04();
        // SAFETY: the caller holds the upgradable acquisition of `R`.
        let upgraded = unsafe { self.raw().try_upgrade_until(deadline) };
        if !upgraded {
            self.change_mode_04(Mode::Read);
        }
        upgraded
    }
}
