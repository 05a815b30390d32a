//! The guards of [`RwSem`]: borrowed and owned, read, write and
//! upgradable, with their mode changes (upgrade, downgrades) and mappings.

use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};
use core::ptr::{self, NonNull};
use std::sync::Arc;

use kernsync_lockdep::LockMap;

use super::{RwSem, UpgradeFuture, UpgradeOwnedFuture, READ, UPGRADABLE, WRITE};
use crate::check::{Check, Token};
use crate::future::{sealed::Sealed, Acquiring, Handle};
use crate::raw::RawSemaphore;
use crate::Base;

/// Moves `$this`'s token out and forgets the guard (no `Drop`).
macro_rules! take_token {
    ($this:ident) => {{
        let this = ManuallyDrop::new($this);
        // SAFETY: `this` is never used or dropped again, so the token is
        // moved out exactly once.
        let token = unsafe { ptr::read(&this.token) };
        (this, token)
    }};
}

// ---------------------------------------------------------------------------
// Read.
// ---------------------------------------------------------------------------

/// A shared hold of an [`RwSem`] (or of a part of its data, after
/// [`map`](RwSemReadGuard::map)).
#[must_use = "if unused the RwSem will immediately unlock"]
pub struct RwSemReadGuard<'a, T: ?Sized> {
    base: &'a Base,
    token: Token,
    data: NonNull<T>,
    _marker: PhantomData<&'a T>,
}

// SAFETY: the guard is a shared borrow (`&T`), which may move to or be
// shared with another thread iff `T: Sync`; the lock's `Base` is `Sync`.
unsafe impl<T: ?Sized + Sync> Send for RwSemReadGuard<'_, T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Sync> Sync for RwSemReadGuard<'_, T> {}

impl<'a, T: ?Sized> RwSemReadGuard<'a, T> {
    #[inline]
    pub(super) fn new(base: &'a Base, token: Token, data: *mut T) -> Self {
        RwSemReadGuard {
            base,
            token,
            // SAFETY: `data` comes from `UnsafeCell::get` of a live lock
            // (or from a reference), never null.
            data: unsafe { NonNull::new_unchecked(data) },
            _marker: PhantomData,
        }
    }

    /// A read guard of a part of the data (the read stays held).
    #[inline]
    pub fn map<U: ?Sized>(this: Self, f: impl FnOnce(&T) -> &U) -> RwSemReadGuard<'a, U> {
        // SAFETY: the read is held and `data` points into the lock's data.
        let part: *const U = f(unsafe { this.data.as_ref() });
        let (this, token) = take_token!(this);
        RwSemReadGuard::new(this.base, token, part.cast_mut())
    }

    /// [`map`](RwSemReadGuard::map) if `f` gives a part; the guard back if not.
    #[inline]
    pub fn try_map<U: ?Sized>(
        this: Self,
        f: impl FnOnce(&T) -> Option<&U>,
    ) -> Result<RwSemReadGuard<'a, U>, Self> {
        // SAFETY: the read is held and `data` points into the lock's data.
        let Some(part) = f(unsafe { this.data.as_ref() }) else {
            return Err(this);
        };
        let part: *const U = part;
        let (this, token) = take_token!(this);
        Ok(RwSemReadGuard::new(this.base, token, part.cast_mut()))
    }
}

impl<T: ?Sized> Deref for RwSemReadGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the read is held and `data` points into the lock's data.
        unsafe { self.data.as_ref() }
    }
}

impl<T: ?Sized> Drop for RwSemReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the token is read once, here, and the guard is gone after.
        let token = unsafe { ptr::read(&self.token) };
        self.base.unlock(token, READ);
    }
}

// ---------------------------------------------------------------------------
// Write.
// ---------------------------------------------------------------------------

/// An exclusive hold of an [`RwSem`].
#[must_use = "if unused the RwSem will immediately unlock"]
pub struct RwSemWriteGuard<'a, T: ?Sized> {
    lock: &'a RwSem<T>,
    token: Token,
    /// With the `&RwSem`: Send and Sync iff `T: Send + Sync`.
    _marker: PhantomData<&'a mut T>,
}

impl<'a, T: ?Sized> RwSemWriteGuard<'a, T> {
    #[inline]
    pub(super) fn new(lock: &'a RwSem<T>, token: Token) -> Self {
        RwSemWriteGuard {
            lock,
            token,
            _marker: PhantomData,
        }
    }

    /// The semaphore this guard holds.
    #[inline]
    pub fn rwsem(this: &Self) -> &'a RwSem<T> {
        this.lock
    }

    /// Turns the write into a read, atomically: no writer can come between,
    /// and the readers queued behind it are woken (in FIFO order, up to the
    /// first waiting writer).
    #[inline]
    #[track_caller]
    pub fn downgrade(this: Self) -> RwSemReadGuard<'a, T> {
        let (this, mut token) = take_token!(this);
        let lock = this.lock;
        Check::downgrade(&lock.base.map, &mut token);
        lock.base.sem.release(WRITE - READ);
        RwSemReadGuard::new(&lock.base, token, lock.data.get())
    }

    /// Turns the write into an upgradable read, atomically.
    #[inline]
    #[track_caller]
    pub fn downgrade_to_upgradable(this: Self) -> RwSemUpgradableReadGuard<'a, T> {
        let (this, mut token) = take_token!(this);
        let lock = this.lock;
        Check::downgrade(&lock.base.map, &mut token);
        lock.base.sem.release(WRITE - UPGRADABLE);
        RwSemUpgradableReadGuard::new(lock, token)
    }

    /// A write guard of a part of the data (the write stays held; a mapped
    /// guard cannot downgrade).
    #[inline]
    pub fn map<U: ?Sized>(
        this: Self,
        f: impl FnOnce(&mut T) -> &mut U,
    ) -> MappedRwSemWriteGuard<'a, U> {
        let (this, token) = take_token!(this);
        let lock = this.lock;
        // SAFETY: the write is held (its permits move into the mapped guard).
        let part = NonNull::from(f(unsafe { &mut *lock.data.get() }));
        MappedRwSemWriteGuard::new(&lock.base, token, part)
    }

    /// [`map`](RwSemWriteGuard::map) if `f` gives a part; the guard back if not.
    #[inline]
    pub fn try_map<U: ?Sized>(
        this: Self,
        f: impl FnOnce(&mut T) -> Option<&mut U>,
    ) -> Result<MappedRwSemWriteGuard<'a, U>, Self> {
        // SAFETY: the write is held; the borrow ends before `this` is used.
        let Some(part) = f(unsafe { &mut *this.lock.data.get() }) else {
            return Err(this);
        };
        let part = NonNull::from(part);
        let (this, token) = take_token!(this);
        Ok(MappedRwSemWriteGuard::new(&this.lock.base, token, part))
    }
}

impl<T: ?Sized> Deref for RwSemWriteGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the write is held: no other guard exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwSemWriteGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write is held: no other guard exists.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwSemWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the token is read once, here, and the guard is gone after.
        let token = unsafe { ptr::read(&self.token) };
        self.lock.base.unlock(token, WRITE);
    }
}

/// An [`RwSemWriteGuard`] mapped to a part of the data.
#[must_use = "if unused the RwSem will immediately unlock"]
pub struct MappedRwSemWriteGuard<'a, T: ?Sized> {
    base: &'a Base,
    token: Token,
    data: NonNull<T>,
    _marker: PhantomData<&'a mut T>,
}

// SAFETY: the guard is a unique borrow of the part (`&mut T`), `Send` iff
// `T: Send`; the lock's `Base` is `Sync`.
unsafe impl<T: ?Sized + Send> Send for MappedRwSemWriteGuard<'_, T> {}
// SAFETY: shared, it gives `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for MappedRwSemWriteGuard<'_, T> {}

impl<'a, T: ?Sized> MappedRwSemWriteGuard<'a, T> {
    #[inline]
    fn new(base: &'a Base, token: Token, data: NonNull<T>) -> Self {
        MappedRwSemWriteGuard {
            base,
            token,
            data,
            _marker: PhantomData,
        }
    }

    /// A guard of a part of this part.
    #[inline]
    pub fn map<U: ?Sized>(
        this: Self,
        f: impl FnOnce(&mut T) -> &mut U,
    ) -> MappedRwSemWriteGuard<'a, U> {
        let (mut this, token) = take_token!(this);
        // SAFETY: the write is held and `data` points into the lock's data.
        let part = NonNull::from(f(unsafe { this.data.as_mut() }));
        MappedRwSemWriteGuard::new(this.base, token, part)
    }

    /// [`map`](MappedRwSemWriteGuard::map) if `f` gives a part; the guard
    /// back if not.
    #[inline]
    pub fn try_map<U: ?Sized>(
        mut this: Self,
        f: impl FnOnce(&mut T) -> Option<&mut U>,
    ) -> Result<MappedRwSemWriteGuard<'a, U>, Self> {
        // SAFETY: the write is held; the borrow ends before `this` is used.
        let Some(part) = f(unsafe { this.data.as_mut() }) else {
            return Err(this);
        };
        let part = NonNull::from(part);
        let (this, token) = take_token!(this);
        Ok(MappedRwSemWriteGuard::new(this.base, token, part))
    }
}

impl<T: ?Sized> Deref for MappedRwSemWriteGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the write is held and `data` points into the lock's data.
        unsafe { self.data.as_ref() }
    }
}

impl<T: ?Sized> DerefMut for MappedRwSemWriteGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write is held and `data` points into the lock's data.
        unsafe { self.data.as_mut() }
    }
}

impl<T: ?Sized> Drop for MappedRwSemWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the token is read once, here, and the guard is gone after.
        let token = unsafe { ptr::read(&self.token) };
        self.base.unlock(token, WRITE);
    }
}

// ---------------------------------------------------------------------------
// Upgradable read.
// ---------------------------------------------------------------------------

/// An upgradable read of an [`RwSem`]: shared with readers, exclusive of
/// writers and other upgradable readers; it can
/// [`upgrade`](RwSemUpgradableReadGuard::upgrade) to a write.
#[must_use = "if unused the RwSem will immediately unlock"]
pub struct RwSemUpgradableReadGuard<'a, T: ?Sized> {
    lock: &'a RwSem<T>,
    token: Token,
    _marker: PhantomData<&'a T>,
}

impl<'a, T: ?Sized> RwSemUpgradableReadGuard<'a, T> {
    #[inline]
    pub(super) fn new(lock: &'a RwSem<T>, token: Token) -> Self {
        RwSemUpgradableReadGuard {
            lock,
            token,
            _marker: PhantomData,
        }
    }

    /// Upgrades to a write: resolves once the readers beside it are gone.
    /// It waits ahead of every queued waiter (they wait for it), and new
    /// readers queue behind it. Dropping the future before it resolves
    /// releases the upgradable read too.
    #[inline]
    #[track_caller]
    pub fn upgrade(this: Self) -> UpgradeFuture<'a, T> {
        let mut this = this;
        Check::upgrade(&this.lock.base.map, &mut this.token);
        Acquiring::new(this, WRITE - UPGRADABLE, true, Token::NONE, |g, _| {
            let (g, token) = take_token!(g);
            RwSemWriteGuard::new(g.lock, token)
        })
    }

    /// Upgrades to a write if no reader is beside it; the guard back if not.
    #[inline]
    #[track_caller]
    pub fn try_upgrade(this: Self) -> Result<RwSemWriteGuard<'a, T>, Self> {
        if !this.lock.base.sem.try_acquire_first(WRITE - UPGRADABLE) {
            return Err(this);
        }
        let (this, mut token) = take_token!(this);
        Check::try_upgraded(&this.lock.base.map, &mut token);
        Ok(RwSemWriteGuard::new(this.lock, token))
    }

    /// Turns the upgradable read into a plain read (letting another
    /// upgradable reader or a writer queue up).
    #[inline]
    pub fn downgrade(this: Self) -> RwSemReadGuard<'a, T> {
        let (this, token) = take_token!(this);
        let lock = this.lock;
        lock.base.sem.release(UPGRADABLE - READ);
        RwSemReadGuard::new(&lock.base, token, lock.data.get())
    }

    /// The semaphore this guard holds.
    #[inline]
    pub fn rwsem(this: &Self) -> &'a RwSem<T> {
        this.lock
    }
}

impl<T: ?Sized> Sealed for RwSemUpgradableReadGuard<'_, T> {}
impl<T: ?Sized> Handle for RwSemUpgradableReadGuard<'_, T> {
    #[inline]
    fn sem(&self) -> &RawSemaphore {
        &self.lock.base.sem
    }
    #[inline]
    fn map(&self) -> &LockMap {
        &self.lock.base.map
    }
}

impl<T: ?Sized> Deref for RwSemUpgradableReadGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: a read is held: no writer exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwSemUpgradableReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the token is read once, here, and the guard is gone after.
        let token = unsafe { ptr::read(&self.token) };
        self.lock.base.unlock(token, UPGRADABLE);
    }
}

// ---------------------------------------------------------------------------
// Owned guards.
// ---------------------------------------------------------------------------

/// A shared hold of an [`RwSem`] that owns an `Arc` of it.
#[must_use = "if unused the RwSem will immediately unlock"]
pub struct OwnedRwSemReadGuard<T: ?Sized> {
    lock: Arc<RwSem<T>>,
    token: Token,
}

impl<T: ?Sized> OwnedRwSemReadGuard<T> {
    #[inline]
    pub(super) fn new(lock: Arc<RwSem<T>>, token: Token) -> Self {
        OwnedRwSemReadGuard { lock, token }
    }

    /// The semaphore this guard holds.
    #[inline]
    pub fn rwsem(this: &Self) -> &Arc<RwSem<T>> {
        &this.lock
    }
}

impl<T: ?Sized> Deref for OwnedRwSemReadGuard<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: a read is held: no writer exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for OwnedRwSemReadGuard<T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the token is read once, here, and the guard is gone after.
        let token = unsafe { ptr::read(&self.token) };
        self.lock.base.unlock(token, READ);
    }
}

/// An exclusive hold of an [`RwSem`] that owns an `Arc` of it.
#[must_use = "if unused the RwSem will immediately unlock"]
pub struct OwnedRwSemWriteGuard<T: ?Sized> {
    lock: Arc<RwSem<T>>,
    token: Token,
}

impl<T: ?Sized> OwnedRwSemWriteGuard<T> {
    #[inline]
    pub(super) fn new(lock: Arc<RwSem<T>>, token: Token) -> Self {
        OwnedRwSemWriteGuard { lock, token }
    }

    /// Moves the `Arc` and token out, forgetting the guard.
    #[inline]
    fn into_parts(this: Self) -> (Arc<RwSem<T>>, Token) {
        let (this, token) = take_token!(this);
        // SAFETY: as the token: `this` is forgotten, so the `Arc` is moved
        // out exactly once.
        (unsafe { ptr::read(&this.lock) }, token)
    }

    /// The semaphore this guard holds.
    #[inline]
    pub fn rwsem(this: &Self) -> &Arc<RwSem<T>> {
        &this.lock
    }

    /// Turns the write into a read, atomically (see
    /// [`RwSemWriteGuard::downgrade`]).
    #[inline]
    #[track_caller]
    pub fn downgrade(this: Self) -> OwnedRwSemReadGuard<T> {
        let (lock, mut token) = OwnedRwSemWriteGuard::into_parts(this);
        Check::downgrade(&lock.base.map, &mut token);
        lock.base.sem.release(WRITE - READ);
        OwnedRwSemReadGuard::new(lock, token)
    }

    /// Turns the write into an upgradable read, atomically.
    #[inline]
    #[track_caller]
    pub fn downgrade_to_upgradable(this: Self) -> OwnedRwSemUpgradableReadGuard<T> {
        let (lock, mut token) = OwnedRwSemWriteGuard::into_parts(this);
        Check::downgrade(&lock.base.map, &mut token);
        lock.base.sem.release(WRITE - UPGRADABLE);
        OwnedRwSemUpgradableReadGuard::new(lock, token)
    }
}

impl<T: ?Sized> Deref for OwnedRwSemWriteGuard<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the write is held: no other guard exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for OwnedRwSemWriteGuard<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write is held: no other guard exists.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for OwnedRwSemWriteGuard<T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the token is read once, here, and the guard is gone after.
        let token = unsafe { ptr::read(&self.token) };
        self.lock.base.unlock(token, WRITE);
    }
}

/// An upgradable read of an [`RwSem`] that owns an `Arc` of it.
#[must_use = "if unused the RwSem will immediately unlock"]
pub struct OwnedRwSemUpgradableReadGuard<T: ?Sized> {
    lock: Arc<RwSem<T>>,
    token: Token,
}

impl<T: ?Sized> OwnedRwSemUpgradableReadGuard<T> {
    #[inline]
    pub(super) fn new(lock: Arc<RwSem<T>>, token: Token) -> Self {
        OwnedRwSemUpgradableReadGuard { lock, token }
    }

    /// Moves the `Arc` and token out, forgetting the guard.
    #[inline]
    fn into_parts(this: Self) -> (Arc<RwSem<T>>, Token) {
        let (this, token) = take_token!(this);
        // SAFETY: as the token: `this` is forgotten, so the `Arc` is moved
        // out exactly once.
        (unsafe { ptr::read(&this.lock) }, token)
    }

    /// The semaphore this guard holds.
    #[inline]
    pub fn rwsem(this: &Self) -> &Arc<RwSem<T>> {
        &this.lock
    }

    /// Upgrades to a write (see [`RwSemUpgradableReadGuard::upgrade`]).
    #[inline]
    #[track_caller]
    pub fn upgrade(this: Self) -> UpgradeOwnedFuture<T> {
        let mut this = this;
        Check::upgrade(&this.lock.base.map, &mut this.token);
        Acquiring::new(this, WRITE - UPGRADABLE, true, Token::NONE, |g, _| {
            let (lock, token) = OwnedRwSemUpgradableReadGuard::into_parts(g);
            OwnedRwSemWriteGuard::new(lock, token)
        })
    }

    /// Upgrades to a write if no reader is beside it; the guard back if not.
    #[inline]
    #[track_caller]
    pub fn try_upgrade(this: Self) -> Result<OwnedRwSemWriteGuard<T>, Self> {
        if !this.lock.base.sem.try_acquire_first(WRITE - UPGRADABLE) {
            return Err(this);
        }
        let (lock, mut token) = OwnedRwSemUpgradableReadGuard::into_parts(this);
        Check::try_upgraded(&lock.base.map, &mut token);
        Ok(OwnedRwSemWriteGuard::new(lock, token))
    }

    /// Turns the upgradable read into a plain read.
    #[inline]
    pub fn downgrade(this: Self) -> OwnedRwSemReadGuard<T> {
        let (lock, token) = OwnedRwSemUpgradableReadGuard::into_parts(this);
        lock.base.sem.release(UPGRADABLE - READ);
        OwnedRwSemReadGuard::new(lock, token)
    }
}

impl<T: ?Sized> Sealed for OwnedRwSemUpgradableReadGuard<T> {}
impl<T: ?Sized> Handle for OwnedRwSemUpgradableReadGuard<T> {
    #[inline]
    fn sem(&self) -> &RawSemaphore {
        &self.lock.base.sem
    }
    #[inline]
    fn map(&self) -> &LockMap {
        &self.lock.base.map
    }
}

impl<T: ?Sized> Deref for OwnedRwSemUpgradableReadGuard<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: a read is held: no writer exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for OwnedRwSemUpgradableReadGuard<T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the token is read once, here, and the guard is gone after.
        let token = unsafe { ptr::read(&self.token) };
        self.lock.base.unlock(token, UPGRADABLE);
    }
}

guard_fmt!(
    RwSemReadGuard<'_, T>,
    RwSemWriteGuard<'_, T>,
    MappedRwSemWriteGuard<'_, T>,
    RwSemUpgradableReadGuard<'_, T>,
    OwnedRwSemReadGuard<T>,
    OwnedRwSemWriteGuard<T>,
    OwnedRwSemUpgradableReadGuard<T>,
);
