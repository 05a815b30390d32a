//! [`Mutex`]: the async mutex, one permit of a [`RawSemaphore`].

use core::cell::{Cell, UnsafeCell};
use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};
use core::panic::Location;
use core::ptr::{self, NonNull};
use std::sync::Arc;

use kernsync_lockdep::{LockClass, LockKind, LockMap, Mode};

use crate::check::{Check, Token};
use crate::future::{sealed::Sealed, Acquiring, Handle};
use crate::raw::RawSemaphore;
use crate::Base;

/// What a [`Mutex`] offers, for the validator's hints.
const MUTEX: LockKind = LockKind {
    name: "kernsync_async::Mutex",
    recursive_read: None,
    upgradable_read: None,
    nested: None,
    nest_lock: None,
    ordered: None,
    named: Some("Mutex::named"),
};

/// The future of [`Mutex::lock`].
pub type LockFuture<'a, T> = Acquiring<&'a Mutex<T>, MutexGuard<'a, T>>;
/// The future of [`Mutex::lock_owned`].
pub type LockOwnedFuture<T> = Acquiring<Arc<Mutex<T>>, OwnedMutexGuard<T>>;

/// An async mutual-exclusion lock, eventually fair and runtime-agnostic.
///
/// `lock().await` waits without blocking the thread; waiters are served in
/// the order they first polled, and dropping a waiting `lock()` future
/// gives its place to the next one. An unlock wakes the next waiter rather
/// than handing it the lock, so a running task may lock it again first;
/// a waiter passed over a few times, or waiting past 0.5 ms, is handed the
/// lock directly (see [`raw`](crate::raw)). A guard may be held across `.await`s
/// and (if `T: Send`) move between threads with its task. No poisoning.
///
/// The lock is a class of the lock-order validator: its construction site
/// ([`Mutex::new`] is `#[track_caller]`), or a name ([`Mutex::named`]). See
/// the [crate docs](crate) for what is checked without a tracked task.
///
/// ```
/// use kernsync_async::{block_on, Mutex};
///
/// let m = Mutex::new(0);
/// block_on(async {
///     *m.lock().await += 1;
/// });
/// assert_eq!(*m.blocking_lock(), 1);
/// ```
pub struct Mutex<T: ?Sized> {
    base: Base,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out `&mut T` to one holder at a time, on any
// thread: `T: Send` is all that requires (as for `std::sync::Mutex`).
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    kernsync_primitive::const_fn! {
        /// An unlocked mutex holding `value`, of the class named by the
        /// caller's line.
        #[inline]
        #[track_caller]
        pub const fn new(value: T) -> Mutex<T> {
            Mutex::with_map(value, LockMap::at_site(Location::caller()))
        }

        /// An unlocked mutex holding `value`, of its own class named `name`
        /// in reports (the caller's line *and* `name`).
        #[inline]
        #[track_caller]
        pub const fn named(name: &'static str, value: T) -> Mutex<T> {
            Mutex::with_map(value, LockMap::at_site_named(Location::caller(), name))
        }

        /// An unlocked mutex holding `value`, of class `class` (for
        /// statics, and locks one function makes for many callers).
        #[inline]
        pub const fn with_class(value: T, class: &'static LockClass) -> Mutex<T> {
            Mutex::with_map(value, LockMap::new(class))
        }

        /// An unlocked mutex holding `value`, with the validator handle `map`.
        #[inline]
        pub const fn with_map(value: T, map: LockMap) -> Mutex<T> {
            Mutex {
                base: Base::new(1, map.or_kind(&MUTEX).awaitable()),
                data: UnsafeCell::new(value),
            }
        }
    }

    /// The data, consuming the mutex.
    #[inline]
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex: a future that resolves to the guard once this
    /// caller's turn comes (FIFO among waiters; see the type's docs).
    /// Checked when called (see the crate docs).
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> LockFuture<'_, T> {
        let token = Check::begin(&self.base.map, Mode::Write);
        Acquiring::new(self, 1, false, token, MutexGuard::new)
    }

    /// The lock if it is free and nobody waits for it.
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.base.sem.try_acquire(1) {
            true => Some(MutexGuard::new(
                self,
                Check::try_acquired(&self.base.map, Mode::Write),
            )),
            false => None,
        }
    }

    /// [`lock`](Mutex::lock) through an `Arc`: the guard owns a reference
    /// to the mutex, so it is `'static` (it can move into a spawned task).
    #[inline]
    #[track_caller]
    pub fn lock_owned(self: Arc<Self>) -> LockOwnedFuture<T> {
        let token = Check::begin_owned(&self.base.map, Mode::Write);
        Acquiring::new(self, 1, false, token, OwnedMutexGuard::new)
    }

    /// [`try_lock`](Mutex::try_lock) through an `Arc`.
    #[inline]
    #[track_caller]
    pub fn try_lock_owned(self: &Arc<Self>) -> Option<OwnedMutexGuard<T>> {
        match self.base.sem.try_acquire(1) {
            true => {
                let token = Check::try_acquired_owned(&self.base.map, Mode::Write);
                Some(OwnedMutexGuard::new(self.clone(), token))
            }
            false => None,
        }
    }

    /// Locks the mutex from synchronous code, blocking the thread until
    /// the guard is had. A thread-bound acquisition: the validator holds
    /// it on this thread until the guard drops, which must be on this
    /// thread too. Do not call it inside an async task (it blocks the
    /// worker thread).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let m = Arc::new(kernsync_async::Mutex::new(0));
    /// let m2 = m.clone();
    /// std::thread::spawn(move || *m2.blocking_lock() += 1).join().unwrap();
    /// assert_eq!(*m.blocking_lock(), 1);
    /// ```
    #[track_caller]
    pub fn blocking_lock(&self) -> MutexGuard<'_, T> {
        let token = Check::blocking(&self.base.map, Mode::Write);
        if !self.base.sem.try_acquire(1) {
            crate::block_on(self.base.sem.acquire(1));
        }
        MutexGuard::new(self, token)
    }

    /// The data, through the unique borrow (no locking needed).
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Whether the mutex is locked now (a snapshot).
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.base.sem.available() == 0
    }

    /// The validator handle of this lock.
    #[inline]
    pub fn lock_map(&self) -> &LockMap {
        &self.base.map
    }
}

impl<T: ?Sized> Sealed for &Mutex<T> {}
impl<T: ?Sized> Handle for &Mutex<T> {
    #[inline]
    fn sem(&self) -> &RawSemaphore {
        &self.base.sem
    }
    #[inline]
    fn map(&self) -> &LockMap {
        &self.base.map
    }
}
impl<T: ?Sized> Sealed for Arc<Mutex<T>> {}
impl<T: ?Sized> Handle for Arc<Mutex<T>> {
    #[inline]
    fn sem(&self) -> &RawSemaphore {
        &self.base.sem
    }
    #[inline]
    fn map(&self) -> &LockMap {
        &self.base.map
    }
}

impl<T: Default> Default for Mutex<T> {
    /// A mutex of `T::default()`, of the class named by the caller's line.
    #[inline]
    #[track_caller]
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    /// A mutex of `value`, of the class named by the caller's line.
    #[inline]
    #[track_caller]
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        // Unchecked: printing is not an acquisition the program makes.
        match self.base.sem.try_acquire(1) {
            true => {
                // SAFETY: the permit just taken excludes every other holder.
                d.field("data", &unsafe { &*self.data.get() });
                self.base.sem.release(1);
            }
            false => {
                d.field("data", &format_args!("<locked>"));
            }
        }
        d.finish()
    }
}

// ---------------------------------------------------------------------------
// Guards.
// ---------------------------------------------------------------------------

/// A held [`Mutex`]: the data through `Deref`/`DerefMut`; dropping it
/// unlocks (and wakes the next waiter).
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    lock: &'a Mutex<T>,
    token: Token,
    /// Send iff `T: Send`, Sync iff `T: Send + Sync`.
    _marker: PhantomData<&'a mut T>,
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    #[inline]
    fn new(lock: &'a Mutex<T>, token: Token) -> Self {
        MutexGuard {
            lock,
            token,
            _marker: PhantomData,
        }
    }

    /// The guard's parts, without running its `Drop`.
    #[inline]
    fn into_parts(this: Self) -> (&'a Mutex<T>, Token) {
        let this = ManuallyDrop::new(this);
        // SAFETY: `this` is never used or dropped again, so the token is
        // moved out exactly once.
        (this.lock, unsafe { ptr::read(&this.token) })
    }

    /// The mutex this guard holds.
    #[inline]
    pub fn mutex(this: &Self) -> &'a Mutex<T> {
        this.lock
    }

    /// A guard of a part of the data (the lock stays held).
    #[inline]
    pub fn map<U: ?Sized>(this: Self, f: impl FnOnce(&mut T) -> &mut U) -> MappedMutexGuard<'a, U> {
        let (lock, token) = MutexGuard::into_parts(this);
        // SAFETY: the lock is held (its permit moves into the mapped guard).
        let data = NonNull::from(f(unsafe { &mut *lock.data.get() }));
        MappedMutexGuard::new(&lock.base, token, data)
    }

    /// [`map`](MutexGuard::map) if `f` gives a part; the guard back if not.
    #[inline]
    pub fn try_map<U: ?Sized>(
        this: Self,
        f: impl FnOnce(&mut T) -> Option<&mut U>,
    ) -> Result<MappedMutexGuard<'a, U>, Self> {
        // SAFETY: the lock is held; the borrow ends before `this` is used.
        match f(unsafe { &mut *this.lock.data.get() }) {
            Some(part) => {
                let data = NonNull::from(part);
                let (lock, token) = MutexGuard::into_parts(this);
                Ok(MappedMutexGuard::new(&lock.base, token, data))
            }
            None => Err(this),
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock's only permit.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock's only permit.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the token is read once, here, and the guard is gone after.
        let token = unsafe { ptr::read(&self.token) };
        self.lock.base.unlock(token, 1);
    }
}

/// A [`MutexGuard`] mapped to a part of the data.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MappedMutexGuard<'a, T: ?Sized> {
    base: &'a Base,
    token: Token,
    data: NonNull<T>,
    _marker: PhantomData<&'a mut T>,
}

// SAFETY: the guard is a unique borrow of the part (`&mut T`), which is
// `Send` iff `T: Send`; the lock's `Base` is `Sync`.
unsafe impl<T: ?Sized + Send> Send for MappedMutexGuard<'_, T> {}
// SAFETY: shared, it gives `&T` only: `T: Sync` is what that needs.
unsafe impl<T: ?Sized + Sync> Sync for MappedMutexGuard<'_, T> {}

impl<'a, T: ?Sized> MappedMutexGuard<'a, T> {
    #[inline]
    fn new(base: &'a Base, token: Token, data: NonNull<T>) -> Self {
        MappedMutexGuard {
            base,
            token,
            data,
            _marker: PhantomData,
        }
    }

    #[inline]
    fn into_parts(this: Self) -> (&'a Base, Token, NonNull<T>) {
        let this = ManuallyDrop::new(this);
        // SAFETY: `this` is never used or dropped again, so the token is
        // moved out exactly once.
        (this.base, unsafe { ptr::read(&this.token) }, this.data)
    }

    /// A guard of a part of this part.
    #[inline]
    pub fn map<U: ?Sized>(this: Self, f: impl FnOnce(&mut T) -> &mut U) -> MappedMutexGuard<'a, U> {
        let (base, token, mut data) = MappedMutexGuard::into_parts(this);
        // SAFETY: the lock is held and `data` points into its data.
        let data = NonNull::from(f(unsafe { data.as_mut() }));
        MappedMutexGuard::new(base, token, data)
    }

    /// [`map`](MappedMutexGuard::map) if `f` gives a part; the guard back if not.
    #[inline]
    pub fn try_map<U: ?Sized>(
        mut this: Self,
        f: impl FnOnce(&mut T) -> Option<&mut U>,
    ) -> Result<MappedMutexGuard<'a, U>, Self> {
        // SAFETY: the lock is held; the borrow ends before `this` is used.
        match f(unsafe { this.data.as_mut() }) {
            Some(part) => {
                let data = NonNull::from(part);
                let (base, token, _) = MappedMutexGuard::into_parts(this);
                Ok(MappedMutexGuard::new(base, token, data))
            }
            None => Err(this),
        }
    }
}

impl<T: ?Sized> Deref for MappedMutexGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the lock is held and `data` points into its data.
        unsafe { self.data.as_ref() }
    }
}

impl<T: ?Sized> DerefMut for MappedMutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the lock is held and `data` points into its data.
        unsafe { self.data.as_mut() }
    }
}

impl<T: ?Sized> Drop for MappedMutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the token is read once, here, and the guard is gone after.
        let token = unsafe { ptr::read(&self.token) };
        self.base.unlock(token, 1);
    }
}

/// A held [`Mutex`] that owns an `Arc` of it (`'static` when `T` is), from
/// [`Mutex::lock_owned`]: it can move into a spawned task.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct OwnedMutexGuard<T: ?Sized> {
    lock: Arc<Mutex<T>>,
    token: Token,
    /// Keeps it `!Sync` unless `T: Sync` (see the impl below).
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: shared, the guard gives `&T` only: with `T: Send` (for the lock)
// and `T: Sync` it may be shared (as a `MutexGuard`).
unsafe impl<T: ?Sized + Send + Sync> Sync for OwnedMutexGuard<T> {}

impl<T: ?Sized> OwnedMutexGuard<T> {
    #[inline]
    fn new(lock: Arc<Mutex<T>>, token: Token) -> Self {
        OwnedMutexGuard {
            lock,
            token,
            _not_sync: PhantomData,
        }
    }

    /// The mutex this guard holds.
    #[inline]
    pub fn mutex(this: &Self) -> &Arc<Mutex<T>> {
        &this.lock
    }
}

impl<T: ?Sized> Deref for OwnedMutexGuard<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock's only permit.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for OwnedMutexGuard<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock's only permit.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for OwnedMutexGuard<T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the token is read once, here, and the guard is gone after.
        let token = unsafe { ptr::read(&self.token) };
        self.lock.base.unlock(token, 1);
    }
}

guard_fmt!(
    MutexGuard<'_, T>,
    MappedMutexGuard<'_, T>,
    OwnedMutexGuard<T>
);
