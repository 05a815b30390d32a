//! The checked raw locks: a raw lock plus its validator handle, implementing
//! lock_api's raw traits with the validator's token in the guard state.
//!
//! Every acquisition reports to the validator *before* it can block (so a
//! deadlock is reported instead of hanging), every release after the raw
//! unlock (so a report raised there cannot leave the lock held). The typed
//! `RwSem` and `Mutex` are `lock_api` locks over these, so they keep the whole
//! `lock_api` guard API (mapping, downgrade, upgrade, `unlocked`), and lock_api
//! 0.5's lock methods are `#[track_caller]`, so the validator sees the user's
//! line.

use core::marker::PhantomData;
use core::panic::Location;
use std::time::{Duration, Instant};

use kernsync_lockdep::{Held, LockClass, LockMap, Mode};

use crate::{RawMutex, RawRwSem};

/// The guard state of a checked lock: the validator's token. `!Send` (a lock
/// is released by the thread that took it: the held-lock stack is per
/// thread), `Sync` (sharing `&guard` shares nothing of it).
pub struct Token {
    held: Held,
    /// A recursive read (its bump must relock recursively).
    recursive: bool,
    _not_send: PhantomData<*mut ()>,
}

// SAFETY: a `Token` is plain data (an address and a class id) that no `&self`
// method reads or writes, so sharing `&Token` between threads is harmless;
// only moving it (releasing on another thread) is forbidden, by `!Send`.
unsafe impl Sync for Token {}

impl Token {
    #[inline]
    fn new(held: Held) -> Token {
        Token {
            held,
            recursive: false,
            _not_send: PhantomData,
        }
    }

    #[inline]
    fn recursive(held: Held) -> Token {
        Token {
            recursive: true,
            ..Token::new(held)
        }
    }
}

/// [`RawRwSem`] with a validator handle: the raw lock of [`RwSem`](crate::RwSem).
pub struct CheckedRawRwSem {
    raw: RawRwSem,
    map: LockMap,
}

impl CheckedRawRwSem {
    /// A lock whose class is the construction site `site`.
    #[inline]
    pub(crate) const fn at_site(site: &'static Location<'static>) -> CheckedRawRwSem {
        CheckedRawRwSem {
            raw: RawRwSem::new(),
            map: LockMap::at_site(site),
        }
    }

    /// A lock of class `class`.
    #[inline]
    pub(crate) const fn with_class(class: &'static LockClass) -> CheckedRawRwSem {
        CheckedRawRwSem {
            raw: RawRwSem::new(),
            map: LockMap::new(class),
        }
    }

    /// The validator handle (for `assert_held` and annotations).
    #[inline]
    pub(crate) fn map(&self) -> &LockMap {
        &self.map
    }

    /// A blocking shared acquisition in `mode`, as subclass `subclass`.
    #[inline]
    #[track_caller]
    pub(crate) fn lock_shared_as(&self, mode: Mode, subclass: u8) -> Token {
        let held = self.map.acquire_nested(mode, subclass);
        if mode == Mode::RecursiveRead {
            self.raw.lock_shared_recursive();
            Token::recursive(held)
        } else {
            self.raw.lock_shared();
            Token::new(held)
        }
    }

    /// An immediate recursive shared acquisition.
    #[inline]
    #[track_caller]
    pub(crate) fn try_lock_shared_recursive(&self) -> Option<Token> {
        self.raw
            .try_lock_shared_recursive()
            .then(|| Token::recursive(self.map.try_acquired(Mode::RecursiveRead)))
    }

    /// A timed recursive shared acquisition.
    #[inline]
    #[track_caller]
    pub(crate) fn try_lock_shared_recursive_until(&self, deadline: Instant) -> Option<Token> {
        let held = self.map.acquire(Mode::RecursiveRead);
        let got = self.raw.try_lock_shared_recursive_until(deadline);
        self.timed(held, got).map(|t| Token::recursive(t.held))
    }

    /// A blocking exclusive acquisition as subclass `subclass`.
    #[inline]
    #[track_caller]
    pub(crate) fn lock_exclusive_as(&self, subclass: u8) -> Token {
        let held = self.map.acquire_nested(Mode::Write, subclass);
        self.raw.lock_exclusive();
        Token::new(held)
    }

    /// A blocking upgradable acquisition (a `Read` for the validator: it
    /// waits behind a waiting writer) as subclass `subclass`.
    #[inline]
    #[track_caller]
    pub(crate) fn lock_upgradable_as(&self, subclass: u8) -> Token {
        let held = self.map.acquire_nested(Mode::Read, subclass);
        self.raw.lock_upgradable();
        Token::new(held)
    }

    /// The token of a timed acquisition that `got` the lock or not (a timed
    /// acquisition could wait, so it was recorded like a blocking one).
    #[inline]
    #[track_caller]
    fn timed(&self, held: Held, got: bool) -> Option<Token> {
        if got {
            Some(Token::new(held))
        } else {
            self.map.release(held);
            None
        }
    }
}

// SAFETY: the raw lock provides the exclusion and the memory ordering; the
// validator calls around it neither lock nor unlock it. A lock operation that
// unwinds (a validator report in `Panic` mode) does so before the raw lock
// is taken; an unlock releases the raw lock before telling the validator.
unsafe impl lock_api::RawRwLock for CheckedRawRwSem {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: CheckedRawRwSem = CheckedRawRwSem {
        raw: RawRwSem::new(),
        map: LockMap::anonymous(),
    };
    type SharedGuard = Token;
    type ExclusiveGuard = Token;

    #[inline]
    #[track_caller]
    fn lock_shared(&self) -> Token {
        self.lock_shared_as(Mode::Read, 0)
    }

    #[inline]
    #[track_caller]
    fn try_lock_shared(&self) -> Option<Token> {
        self.raw
            .try_lock_shared()
            .then(|| Token::new(self.map.try_acquired(Mode::Read)))
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_shared(&self, guard: Token) {
        // SAFETY: the caller gives the state of a shared acquisition of ours.
        unsafe { self.raw.unlock_shared() };
        self.map.release(guard.held);
    }

    #[inline]
    #[track_caller]
    fn lock_exclusive(&self) -> Token {
        self.lock_exclusive_as(0)
    }

    #[inline]
    #[track_caller]
    fn try_lock_exclusive(&self) -> Option<Token> {
        self.raw
            .try_lock_exclusive()
            .then(|| Token::new(self.map.try_acquired(Mode::Write)))
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_exclusive(&self, guard: Token) {
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

// SAFETY: as for `RawRwLock`: fair unlocks release the raw lock first; a bump
// is a fair unlock and a relock of the same kind, and the validator keeps the
// acquisition held throughout (the thread holds it again on return).
unsafe impl lock_api::RawRwLockFair for CheckedRawRwSem {
    #[inline]
    #[track_caller]
    unsafe fn unlock_shared_fair(&self, guard: Token) {
        // SAFETY: the caller gives the state of a shared acquisition.
        unsafe { self.raw.unlock_shared_fair() };
        self.map.release(guard.held);
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_exclusive_fair(&self, guard: Token) {
        // SAFETY: the caller gives the state of an exclusive acquisition.
        unsafe { self.raw.unlock_exclusive_fair() };
        self.map.release(guard.held);
    }

    #[inline]
    unsafe fn bump_shared(&self, guard: &mut Token) {
        // SAFETY: the caller holds the shared acquisition `guard` stands for;
        // a recursive read relocks recursively (a plain relock could wait for
        // a writer that waits for another read this thread holds).
        unsafe {
            if guard.recursive {
                self.raw.bump_shared_recursive()
            } else {
                self.raw.bump_shared()
            }
        }
    }

    #[inline]
    unsafe fn bump_exclusive(&self, _guard: &mut Token) {
        // SAFETY: the caller holds the exclusive acquisition.
        unsafe { self.raw.bump_exclusive() };
    }
}

// SAFETY: the raw downgrade never releases the lock; the validator only
// changes the held mode.
unsafe impl lock_api::RawRwLockDowngrade for CheckedRawRwSem {
    #[inline]
    #[track_caller]
    unsafe fn downgrade(&self, mut guard: Token) -> Token {
        // SAFETY: the caller gives the state of an exclusive acquisition.
        unsafe { self.raw.downgrade() };
        self.map.downgrade(&mut guard.held);
        guard
    }
}

// SAFETY: timed acquisitions are recorded before they can wait and released
// in the validator if they time out, when the raw lock was not taken.
unsafe impl lock_api::RawRwLockTimed for CheckedRawRwSem {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    #[track_caller]
    fn try_lock_shared_for(&self, timeout: Duration) -> Option<Token> {
        let held = self.map.acquire(Mode::Read);
        self.timed(held, self.raw.try_lock_shared_for(timeout))
    }

    #[inline]
    #[track_caller]
    fn try_lock_shared_until(&self, deadline: Instant) -> Option<Token> {
        let held = self.map.acquire(Mode::Read);
        self.timed(held, self.raw.try_lock_shared_until(deadline))
    }

    #[inline]
    #[track_caller]
    fn try_lock_exclusive_for(&self, timeout: Duration) -> Option<Token> {
        let held = self.map.acquire(Mode::Write);
        self.timed(held, self.raw.try_lock_exclusive_for(timeout))
    }

    #[inline]
    #[track_caller]
    fn try_lock_exclusive_until(&self, deadline: Instant) -> Option<Token> {
        let held = self.map.acquire(Mode::Write);
        self.timed(held, self.raw.try_lock_exclusive_until(deadline))
    }
}

// SAFETY: as for `RawRwLock`. An upgrade is validated as a new `Write`
// acquisition before it waits; an immediate `try_upgrade` adds no edge.
unsafe impl lock_api::RawRwLockUpgrade for CheckedRawRwSem {
    type UpgradableGuard = Token;

    #[inline]
    #[track_caller]
    fn lock_upgradable(&self) -> Token {
        self.lock_upgradable_as(0)
    }

    #[inline]
    #[track_caller]
    fn try_lock_upgradable(&self) -> Option<Token> {
        self.raw
            .try_lock_upgradable()
            .then(|| Token::new(self.map.try_acquired(Mode::Read)))
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_upgradable(&self, guard: Token) {
        // SAFETY: the caller gives the state of an upgradable acquisition.
        unsafe { self.raw.unlock_upgradable() };
        self.map.release(guard.held);
    }

    #[inline]
    #[track_caller]
    unsafe fn upgrade(&self, mut guard: Token) -> Token {
        self.map.upgrade(&mut guard.held);
        // SAFETY: the caller gives the state of an upgradable acquisition.
        unsafe { self.raw.upgrade() };
        guard
    }

    #[inline]
    #[track_caller]
    unsafe fn try_upgrade(&self, mut guard: Token) -> Result<Token, Token> {
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
unsafe impl lock_api::RawRwLockUpgradeFair for CheckedRawRwSem {
    #[inline]
    #[track_caller]
    unsafe fn unlock_upgradable_fair(&self, guard: Token) {
        // SAFETY: the caller gives the state of an upgradable acquisition.
        unsafe { self.raw.unlock_upgradable_fair() };
        self.map.release(guard.held);
    }

    #[inline]
    unsafe fn bump_upgradable(&self, _guard: &mut Token) {
        // SAFETY: the caller holds the upgradable acquisition.
        unsafe { self.raw.bump_upgradable() };
    }
}

// SAFETY: downgrades never release the lock; upgradable and shared are both
// `Read` for the validator, exclusive becomes `Read`.
unsafe impl lock_api::RawRwLockUpgradeDowngrade for CheckedRawRwSem {
    #[inline]
    unsafe fn downgrade_upgradable(&self, guard: Token) -> Token {
        // SAFETY: the caller gives the state of an upgradable acquisition.
        unsafe { self.raw.downgrade_upgradable() };
        guard
    }

    #[inline]
    #[track_caller]
    unsafe fn downgrade_to_upgradable(&self, mut guard: Token) -> Token {
        // SAFETY: the caller gives the state of an exclusive acquisition.
        unsafe { self.raw.downgrade_to_upgradable() };
        self.map.downgrade(&mut guard.held);
        guard
    }
}

// SAFETY: as for `RawRwLockTimed` and `RawRwLockUpgrade`: a timed upgrade is
// recorded as a `Write` before it waits and turned back to `Read` if it times
// out, when the raw lock is still held upgradable.
unsafe impl lock_api::RawRwLockUpgradeTimed for CheckedRawRwSem {
    #[inline]
    #[track_caller]
    fn try_lock_upgradable_for(&self, timeout: Duration) -> Option<Token> {
        let held = self.map.acquire(Mode::Read);
        self.timed(held, self.raw.try_lock_upgradable_for(timeout))
    }

    #[inline]
    #[track_caller]
    fn try_lock_upgradable_until(&self, deadline: Instant) -> Option<Token> {
        let held = self.map.acquire(Mode::Read);
        self.timed(held, self.raw.try_lock_upgradable_until(deadline))
    }

    #[inline]
    #[track_caller]
    unsafe fn try_upgrade_for(&self, mut guard: Token, timeout: Duration) -> Result<Token, Token> {
        self.map.upgrade(&mut guard.held);
        // SAFETY: the caller gives the state of an upgradable acquisition.
        if unsafe { self.raw.try_upgrade_for(timeout) } {
            Ok(guard)
        } else {
            self.map.downgrade(&mut guard.held);
            Err(guard)
        }
    }

    #[inline]
    #[track_caller]
    unsafe fn try_upgrade_until(
        &self,
        mut guard: Token,
        deadline: Instant,
    ) -> Result<Token, Token> {
        self.map.upgrade(&mut guard.held);
        // SAFETY: the caller gives the state of an upgradable acquisition.
        if unsafe { self.raw.try_upgrade_until(deadline) } {
            Ok(guard)
        } else {
            self.map.downgrade(&mut guard.held);
            Err(guard)
        }
    }
}

/// [`RawMutex`] with a validator handle: the raw lock of [`Mutex`](crate::Mutex).
pub struct CheckedRawMutex {
    raw: RawMutex,
    map: LockMap,
}

impl CheckedRawMutex {
    /// A lock whose class is the construction site `site`.
    #[inline]
    pub(crate) const fn at_site(site: &'static Location<'static>) -> CheckedRawMutex {
        CheckedRawMutex {
            raw: RawMutex::new(),
            map: LockMap::at_site(site),
        }
    }

    /// A lock of class `class`.
    #[inline]
    pub(crate) const fn with_class(class: &'static LockClass) -> CheckedRawMutex {
        CheckedRawMutex {
            raw: RawMutex::new(),
            map: LockMap::new(class),
        }
    }

    /// The validator handle.
    #[inline]
    pub(crate) fn map(&self) -> &LockMap {
        &self.map
    }

    /// The raw mutex (for the condition variable).
    #[inline]
    pub(crate) fn raw(&self) -> &RawMutex {
        &self.raw
    }

    /// A blocking acquisition as subclass `subclass`.
    #[inline]
    #[track_caller]
    pub(crate) fn lock_as(&self, subclass: u8) -> Token {
        let held = self.map.acquire_nested(Mode::Write, subclass);
        self.raw.lock();
        Token::new(held)
    }
}

// SAFETY: the raw mutex provides the exclusion and ordering; see the
// `RawRwLock` impl above for the order of validator calls around it.
unsafe impl lock_api::RawMutex for CheckedRawMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: CheckedRawMutex = CheckedRawMutex {
        raw: RawMutex::new(),
        map: LockMap::anonymous(),
    };
    type Guard = Token;

    #[inline]
    #[track_caller]
    fn lock(&self) -> Token {
        self.lock_as(0)
    }

    #[inline]
    #[track_caller]
    fn try_lock(&self) -> Option<Token> {
        self.raw
            .try_lock()
            .then(|| Token::new(self.map.try_acquired(Mode::Write)))
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock(&self, guard: Token) {
        // SAFETY: the caller gives the state of an acquisition of ours.
        unsafe { self.raw.unlock() };
        self.map.release(guard.held);
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }
}

// SAFETY: as for `RawMutex`; a bump keeps the acquisition held.
unsafe impl lock_api::RawMutexFair for CheckedRawMutex {
    #[inline]
    #[track_caller]
    unsafe fn unlock_fair(&self, guard: Token) {
        // SAFETY: the caller gives the state of an acquisition of ours.
        unsafe { self.raw.unlock_fair() };
        self.map.release(guard.held);
    }

    #[inline]
    unsafe fn bump(&self, _guard: &mut Token) {
        // SAFETY: the caller holds the acquisition.
        unsafe { self.raw.bump() };
    }
}

// SAFETY: as for `RawRwLockTimed`.
unsafe impl lock_api::RawMutexTimed for CheckedRawMutex {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    #[track_caller]
    fn try_lock_for(&self, timeout: Duration) -> Option<Token> {
        let held = self.map.acquire(Mode::Write);
        if self.raw.try_lock_for(timeout) {
            Some(Token::new(held))
        } else {
            self.map.release(held);
            None
        }
    }

    #[inline]
    #[track_caller]
    fn try_lock_until(&self, deadline: Instant) -> Option<Token> {
        let held = self.map.acquire(Mode::Write);
        if self.raw.try_lock_until(deadline) {
            Some(Token::new(held))
        } else {
            self.map.release(held);
            None
        }
    }
}
