//! [`RwSem`]: the async, task-fair reader/writer semaphore, on one
//! [`RawSemaphore`] whose permits the modes take in different numbers:
//!
//! | mode | permits | so |
//! |---|---|---|
//! | read | [`READ`] (1) | readers share |
//! | upgradable read | [`UPGRADABLE`] (over half) | two never fit together; readers fit beside one |
//! | write | [`WRITE`] (all) | alone |
//!
//! An upgrade takes the `WRITE - UPGRADABLE` it lacks, queued *first* (the
//! waiters behind need the upgradable read gone, so it must not wait
//! behind them); a downgrade releases the difference. One queue in FIFO
//! order serves them all, so a waiting writer (or upgradable reader) blocks
//! later readers: task-fair, like the kernel's `rw_semaphore`. The one
//! exception is the semaphore's woken window (see [`raw`](crate::raw)):
//! between a release waking the first waiter and that waiter's poll, a
//! running task may take what was released; a waiter passed over a few
//! times, or waiting past 0.5 ms, is handed its permits directly.

mod guards;

use core::cell::UnsafeCell;
use core::fmt;
use core::panic::Location;
use std::sync::Arc;

use kernsync_lockdep::{LockClass, LockKind, LockMap, Mode};

use crate::check::{Check, Token};
use crate::future::{sealed::Sealed, Acquiring, Handle};
use crate::raw::RawSemaphore;
use crate::Base;

pub use guards::{
    MappedRwSemWriteGuard, OwnedRwSemReadGuard, OwnedRwSemUpgradableReadGuard,
    OwnedRwSemWriteGuard, RwSemReadGuard, RwSemUpgradableReadGuard, RwSemWriteGuard,
};

/// Every permit of an `RwSem`: a write takes them all (below
/// [`MAX_PERMITS`](crate::raw::MAX_PERMITS) on 32-bit targets too).
const WRITE: usize = 1 << 29;
/// A read's permits.
const READ: usize = 1;
/// An upgradable read's permits: more than half, so two upgradable reads
/// never fit together, while `WRITE - UPGRADABLE` readers fit beside one.
const UPGRADABLE: usize = WRITE / 2 + 1;

/// What an [`RwSem`] offers, for the validator's hints.
const RWSEM: LockKind = LockKind {
    name: "kernsync_async::RwSem",
    recursive_read: None,
    upgradable_read: Some("RwSem::upgradable_read"),
    nested: None,
    nest_lock: None,
    ordered: None,
    named: Some("RwSem::named"),
};

/// The future of [`RwSem::read`].
pub type ReadFuture<'a, T> = Acquiring<&'a RwSem<T>, RwSemReadGuard<'a, T>>;
/// The future of [`RwSem::write`].
pub type WriteFuture<'a, T> = Acquiring<&'a RwSem<T>, RwSemWriteGuard<'a, T>>;
/// The future of [`RwSem::upgradable_read`].
pub type UpgradableReadFuture<'a, T> = Acquiring<&'a RwSem<T>, RwSemUpgradableReadGuard<'a, T>>;
/// The future of [`RwSem::read_owned`].
pub type ReadOwnedFuture<T> = Acquiring<Arc<RwSem<T>>, OwnedRwSemReadGuard<T>>;
/// The future of [`RwSem::write_owned`].
pub type WriteOwnedFuture<T> = Acquiring<Arc<RwSem<T>>, OwnedRwSemWriteGuard<T>>;
/// The future of [`RwSem::upgradable_read_owned`].
pub type UpgradableReadOwnedFuture<T> = Acquiring<Arc<RwSem<T>>, OwnedRwSemUpgradableReadGuard<T>>;
/// The future of [`RwSemUpgradableReadGuard::upgrade`]; dropped before it
/// resolves, it releases the upgradable read too.
pub type UpgradeFuture<'a, T> = Acquiring<RwSemUpgradableReadGuard<'a, T>, RwSemWriteGuard<'a, T>>;
/// The future of [`OwnedRwSemUpgradableReadGuard::upgrade`].
pub type UpgradeOwnedFuture<T> =
    Acquiring<OwnedRwSemUpgradableReadGuard<T>, OwnedRwSemWriteGuard<T>>;

/// An async reader/writer semaphore: task-fair, runtime-agnostic.
///
/// Readers share it, a writer has it alone, and an upgradable reader
/// shares it with readers but not with another upgradable reader or a
/// writer, and can [`upgrade`](RwSemUpgradableReadGuard::upgrade) to a
/// writer. Waiters are served in arrival order: a waiting writer blocks
/// readers that come after it, so no writer starves. A release wakes the
/// first waiter; until it runs, a running task may take the lock (see
/// [`raw`](crate::raw)), but not more than a few times or past 0.5 ms. Dropping a waiting
/// future gives its place to the next. No poisoning.
///
/// Lockdep modes: `read` and `upgradable_read` are `Read` (they wait behind
/// a waiting writer), `write` and `upgrade` are `Write`. See the [crate
/// docs](crate) for what is checked without a tracked task.
///
/// ```
/// use kernsync_async::{block_on, RwSem, RwSemUpgradableReadGuard};
///
/// let lock = RwSem::new(vec![1, 2]);
/// block_on(async {
///     let (a, b) = (lock.read().await, lock.read().await); // readers share
///     assert_eq!(a.len() + b.len(), 4);
///     drop((a, b));
///     let up = lock.upgradable_read().await;
///     let r = lock.read().await; // a reader beside the upgradable read
///     drop(r);
///     let mut w = RwSemUpgradableReadGuard::upgrade(up).await;
///     w.push(3);
/// });
/// assert_eq!(*lock.blocking_read(), [1, 2, 3]);
/// ```
pub struct RwSem<T: ?Sized> {
    base: Base,
    data: UnsafeCell<T>,
}

// SAFETY: a writer gets `&mut T` on any thread (`T: Send`), readers share
// `&T` across threads (`T: Sync`), as for `std::sync::RwLock`.
unsafe impl<T: ?Sized + Send> Send for RwSem<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwSem<T> {}

impl<T> RwSem<T> {
    kernsync_primitive::const_fn! {
        /// An unlocked semaphore holding `value`, of the class named by the
        /// caller's line.
        #[inline]
        #[track_caller]
        pub const fn new(value: T) -> RwSem<T> {
            RwSem::with_map(value, LockMap::at_site(Location::caller()))
        }

        /// An unlocked semaphore holding `value`, of its own class named
        /// `name` in reports (the caller's line *and* `name`).
        #[inline]
        #[track_caller]
        pub const fn named(name: &'static str, value: T) -> RwSem<T> {
            RwSem::with_map(value, LockMap::at_site_named(Location::caller(), name))
        }

        /// An unlocked semaphore holding `value`, of class `class`.
        #[inline]
        pub const fn with_class(value: T, class: &'static LockClass) -> RwSem<T> {
            RwSem::with_map(value, LockMap::new(class))
        }

        /// An unlocked semaphore holding `value`, with the validator handle `map`.
        #[inline]
        pub const fn with_map(value: T, map: LockMap) -> RwSem<T> {
            RwSem {
                base: Base::new(WRITE, map.or_kind(&RWSEM).awaitable()),
                data: UnsafeCell::new(value),
            }
        }
    }

    /// The data, consuming the semaphore.
    #[inline]
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwSem<T> {
    /// Shares the lock: resolves once no writer holds it and every earlier
    /// waiter has been served.
    #[inline]
    #[track_caller]
    pub fn read(&self) -> ReadFuture<'_, T> {
        let token = Check::begin(&self.base.map, Mode::Read);
        Acquiring::new(self, READ, false, token, |l, t| {
            RwSemReadGuard::new(&l.base, t, l.data.get())
        })
    }

    /// Takes the lock alone: resolves once nobody holds it and every
    /// earlier waiter has been served.
    #[inline]
    #[track_caller]
    pub fn write(&self) -> WriteFuture<'_, T> {
        let token = Check::begin(&self.base.map, Mode::Write);
        Acquiring::new(self, WRITE, false, token, RwSemWriteGuard::new)
    }

    /// Takes an upgradable read: shared with readers, not with a writer or
    /// another upgradable reader.
    #[inline]
    #[track_caller]
    pub fn upgradable_read(&self) -> UpgradableReadFuture<'_, T> {
        let token = Check::begin(&self.base.map, Mode::Read);
        Acquiring::new(
            self,
            UPGRADABLE,
            false,
            token,
            RwSemUpgradableReadGuard::new,
        )
    }

    /// [`read`](RwSem::read) through an `Arc`: a `'static` guard.
    #[inline]
    #[track_caller]
    pub fn read_owned(self: Arc<Self>) -> ReadOwnedFuture<T> {
        let token = Check::begin_owned(&self.base.map, Mode::Read);
        Acquiring::new(self, READ, false, token, OwnedRwSemReadGuard::new)
    }

    /// [`write`](RwSem::write) through an `Arc`: a `'static` guard.
    #[inline]
    #[track_caller]
    pub fn write_owned(self: Arc<Self>) -> WriteOwnedFuture<T> {
        let token = Check::begin_owned(&self.base.map, Mode::Write);
        Acquiring::new(self, WRITE, false, token, OwnedRwSemWriteGuard::new)
    }

    /// [`upgradable_read`](RwSem::upgradable_read) through an `Arc`.
    #[inline]
    #[track_caller]
    pub fn upgradable_read_owned(self: Arc<Self>) -> UpgradableReadOwnedFuture<T> {
        let token = Check::begin_owned(&self.base.map, Mode::Read);
        Acquiring::new(
            self,
            UPGRADABLE,
            false,
            token,
            OwnedRwSemUpgradableReadGuard::new,
        )
    }

    /// Takes `permits` now if nobody waits and enough are free, with a
    /// check-only trylock in `mode`.
    #[inline]
    #[track_caller]
    fn try_take(&self, permits: usize, mode: Mode) -> Option<Token> {
        match self.base.sem.try_acquire(permits) {
            true => Some(Check::try_acquired(&self.base.map, mode)),
            false => None,
        }
    }

    /// [`try_take`](Self::try_take) for an owned guard: always check-only.
    #[inline]
    #[track_caller]
    fn try_take_owned(&self, permits: usize, mode: Mode) -> Option<Token> {
        match self.base.sem.try_acquire(permits) {
            true => Some(Check::try_acquired_owned(&self.base.map, mode)),
            false => None,
        }
    }

    /// A read if it can be had at once (no writer holds the lock, nobody
    /// waits).
    #[inline]
    #[track_caller]
    pub fn try_read(&self) -> Option<RwSemReadGuard<'_, T>> {
        let token = self.try_take(READ, Mode::Read)?;
        Some(RwSemReadGuard::new(&self.base, token, self.data.get()))
    }

    /// The write lock if it can be had at once.
    #[inline]
    #[track_caller]
    pub fn try_write(&self) -> Option<RwSemWriteGuard<'_, T>> {
        let token = self.try_take(WRITE, Mode::Write)?;
        Some(RwSemWriteGuard::new(self, token))
    }

    /// An upgradable read if it can be had at once.
    #[inline]
    #[track_caller]
    pub fn try_upgradable_read(&self) -> Option<RwSemUpgradableReadGuard<'_, T>> {
        let token = self.try_take(UPGRADABLE, Mode::Read)?;
        Some(RwSemUpgradableReadGuard::new(self, token))
    }

    /// [`try_read`](RwSem::try_read) through an `Arc`.
    #[inline]
    #[track_caller]
    pub fn try_read_owned(self: &Arc<Self>) -> Option<OwnedRwSemReadGuard<T>> {
        let token = self.try_take_owned(READ, Mode::Read)?;
        Some(OwnedRwSemReadGuard::new(self.clone(), token))
    }

    /// [`try_write`](RwSem::try_write) through an `Arc`.
    #[inline]
    #[track_caller]
    pub fn try_write_owned(self: &Arc<Self>) -> Option<OwnedRwSemWriteGuard<T>> {
        let token = self.try_take_owned(WRITE, Mode::Write)?;
        Some(OwnedRwSemWriteGuard::new(self.clone(), token))
    }

    /// [`try_upgradable_read`](RwSem::try_upgradable_read) through an `Arc`.
    #[inline]
    #[track_caller]
    pub fn try_upgradable_read_owned(self: &Arc<Self>) -> Option<OwnedRwSemUpgradableReadGuard<T>> {
        let token = self.try_take_owned(UPGRADABLE, Mode::Read)?;
        Some(OwnedRwSemUpgradableReadGuard::new(self.clone(), token))
    }

    /// Waits for `permits`, blocking the thread, as a thread-bound
    /// acquisition in `mode` (a held entry of this thread).
    #[track_caller]
    fn blocking_take(&self, permits: usize, mode: Mode) -> Token {
        let token = Check::blocking(&self.base.map, mode);
        if !self.base.sem.try_acquire(permits) {
            crate::block_on(self.base.sem.acquire(permits));
        }
        token
    }

    /// [`read`](RwSem::read) from synchronous code, blocking the thread. A
    /// thread-bound acquisition: the validator holds it on this thread
    /// until the guard drops, which must be on this thread too. Do not call
    /// it inside an async task.
    #[track_caller]
    pub fn blocking_read(&self) -> RwSemReadGuard<'_, T> {
        let token = self.blocking_take(READ, Mode::Read);
        RwSemReadGuard::new(&self.base, token, self.data.get())
    }

    /// [`write`](RwSem::write) from synchronous code, blocking the thread
    /// (a thread-bound acquisition, as [`blocking_read`](RwSem::blocking_read)).
    #[track_caller]
    pub fn blocking_write(&self) -> RwSemWriteGuard<'_, T> {
        let token = self.blocking_take(WRITE, Mode::Write);
        RwSemWriteGuard::new(self, token)
    }

    /// The data, through the unique borrow (no locking needed).
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The validator handle of this lock.
    #[inline]
    pub fn lock_map(&self) -> &LockMap {
        &self.base.map
    }
}

impl<T: ?Sized> Sealed for &RwSem<T> {}
impl<T: ?Sized> Handle for &RwSem<T> {
    #[inline]
    fn sem(&self) -> &RawSemaphore {
        &self.base.sem
    }
    #[inline]
    fn map(&self) -> &LockMap {
        &self.base.map
    }
}
impl<T: ?Sized> Sealed for Arc<RwSem<T>> {}
impl<T: ?Sized> Handle for Arc<RwSem<T>> {
    #[inline]
    fn sem(&self) -> &RawSemaphore {
        &self.base.sem
    }
    #[inline]
    fn map(&self) -> &LockMap {
        &self.base.map
    }
}

impl<T: Default> Default for RwSem<T> {
    /// A semaphore of `T::default()`, of the class named by the caller's line.
    #[inline]
    #[track_caller]
    fn default() -> RwSem<T> {
        RwSem::new(T::default())
    }
}

impl<T> From<T> for RwSem<T> {
    /// A semaphore of `value`, of the class named by the caller's line.
    #[inline]
    #[track_caller]
    fn from(value: T) -> RwSem<T> {
        RwSem::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwSem<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwSem");
        // Unchecked: printing is not an acquisition the program makes.
        match self.base.sem.try_acquire(READ) {
            true => {
                // SAFETY: the read permit just taken excludes writers.
                d.field("data", &unsafe { &*self.data.get() });
                self.base.sem.release(READ);
            }
            false => {
                d.field("data", &format_args!("<locked>"));
            }
        }
        d.finish()
    }
}
