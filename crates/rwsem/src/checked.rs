//! [`Checked<R>`]: the lock-order validator on any `lock_api` raw lock.
//!
//! A `Checked<R>` is a raw lock `R` plus its validator handle, and implements
//! every `lock_api` raw trait `R` implements, with the validator's token
//! added to `R`'s guard state. Every acquisition reports to the validator
//! *before* it can block (so a deadlock is reported instead of hanging),
//! every release after the raw unlock (so a report raised there cannot leave
//! the lock held). lock_api 0.5's lock methods are `#[track_caller]`, so the
//! validator sees the user's line.
//!
//! kernsync's own `RwSem` and `Mutex` are `lock_api` locks over
//! `Checked<RawRwSem>` and `Checked<RawMutex>`; [`Checked`] puts existing
//! locks (parking_lot's, any `lock_api` raw lock) under the validator.

use core::marker::PhantomData;
use core::panic::Location;

use kernsync_lockdep::{Held, LockClass, LockMap, Mode};
use lock_api::{
    RawMutex, RawMutexFair, RawMutexTimed, RawRwLock, RawRwLockDowngrade, RawRwLockFair,
    RawRwLockTimed, RawRwLockUpgrade, RawRwLockUpgradeDowngrade, RawRwLockUpgradeFair,
    RawRwLockUpgradeTimed,
};

use crate::{RawMutex as KernsyncRawMutex, RawRwSem};

/// The raw lock of [`RwSem`](crate::RwSem): kernsync's semaphore, checked.
pub type CheckedRawRwSem = Checked<RawRwSem>;
/// The raw lock of [`Mutex`](crate::Mutex): kernsync's mutex, checked.
pub type CheckedRawMutex = Checked<KernsyncRawMutex>;

/// The guard state of a [`Checked`] lock: the raw lock's own guard state
/// and the validator's token. `!Send` (a lock is released by the thread that
/// took it: the held-lock stack is per thread); `Sync` when the raw guard
/// state is (sharing `&guard` shares nothing of the token).
pub struct CheckedGuard<G> {
    inner: G,
    held: Held,
    _not_send: PhantomData<*mut ()>,
}

// SAFETY: the token is plain data (an address and a class id) that no `&self`
// method reads or writes, so sharing `&CheckedGuard` between threads shares
// only `&G`, which is `Sync` by the bound; moving it is forbidden by `!Send`.
unsafe impl<G: Sync> Sync for CheckedGuard<G> {}

impl<G> CheckedGuard<G> {
    #[inline]
    fn new(inner: G, held: Held) -> CheckedGuard<G> {
        CheckedGuard {
            inner,
            held,
            _not_send: PhantomData,
        }
    }
}

/// A raw lock `R` whose every acquisition is checked by the lock-order
/// validator, implementing every `lock_api` raw trait `R` implements.
///
/// Each acquisition reports before it can block (a deadlock is reported
/// instead of hanging), each release after the raw unlock. Put an existing
/// lock in a named class with [`Checked::new`], or at the caller's line with
/// [`Checked::at_caller`]; one built from the raw type's `const INIT`
/// (`lock_api::RwLock::new`, `lock_api::Mutex::new`, `Default`, `From`) has
/// no construction site and takes the class of its first acquisition's site
/// ([`Checked::first_use`]): bounded by the program's acquisition sites,
/// however many locks it makes.
///
/// ```
/// use kernsync_lockdep::LockClass;
/// use kernsync_rwsem::Checked;
/// use lock_api::RawRwLock as _;
///
/// static TABLE_LOCK: LockClass = LockClass::new("table_lock");
/// // parking_lot's rwlock, validated, in a named class:
/// let table = lock_api::RwLock::from_raw(
///     Checked::new(<parking_lot::RawRwLock>::INIT, &TABLE_LOCK),
///     vec![1, 2, 3],
/// );
/// assert_eq!(table.read().len(), 3);
/// // From `INIT`: the class of the line that first takes it.
/// let alone: lock_api::RwLock<Checked<parking_lot::RawRwLock>, u32> = lock_api::RwLock::new(0);
/// *alone.write() += 1;
/// ```
///
/// # lock_api 0.4 and 0.5
///
/// `lock_api` above is lock_api **0.5** (parking_lot 0.13's). With this
/// crate's `lock_api_04` feature (`kernsync`'s `lock_api_04` passes it on),
/// `Checked<R>` also implements lock_api **0.4**'s raw traits, each one that
/// `R` implements — lock_api 0.4 is parking_lot 0.12's, and most code's — and
/// so do [`RawMutex`](crate::RawMutex) and [`RawRwSem`]: a `Checked` wraps
/// parking_lot 0.12's raw locks, and lock_api 0.4 code can use kernsync's.
/// The crate depends on lock_api 0.4 under the name `lock_api_04`; in your
/// own `Cargo.toml` it is usually plain `lock_api = "0.4"`.
///
/// The two versions' types share their names but are different types:
/// `lock_api_04::Mutex<Checked<R>, T>` and `lock_api::Mutex<Checked<R>, T>`
/// (and their guards) do not convert into each other. A 0.5 guard carries
/// the validator's token; a 0.4 guard cannot, so under 0.4 an unlock
/// releases this thread's latest acquisition of the lock (exact, since 0.4
/// guards are `!Send` here) and a downgrade or upgrade records the lock
/// again in its new mode: it then shows last in the thread's held locks, at
/// the line of the downgrade. Build each lock with the lock_api version its
/// users are written against. Mixing them fails to compile, with these
/// errors (rustc 1.95):
///
/// - A raw lock in the other version's wrapper, here parking_lot 0.12's in
///   lock_api 0.5's `Mutex`:
///   ```text
///   error[E0277]: the trait bound `parking_lot::RawMutex: lock_api::RawMutex` is not satisfied
///   the trait `lock_api::RawMutex` is not implemented for `parking_lot::RawMutex`
///   note: there are multiple different versions of crate `lock_api` in the dependency graph
///   ```
///   and, where it is locked:
///   ```text
///   error[E0599]: the method `lock` exists for struct `lock_api::Mutex<Checked<parking_lot::RawMutex>, u32>`, but its trait bounds were not satisfied
///   ```
///   Fix: use the `Mutex`/`RwLock` of the lock_api that the raw lock's
///   crate uses (`cargo tree -i lock_api@0.4` shows who pulls in 0.4):
///   parking_lot 0.12 with lock_api 0.4, parking_lot 0.13 and kernsync's own
///   types with lock_api 0.5.
/// - One version's lock where the other's is expected:
///   ```text
///   error[E0308]: mismatched types
///   expected `Mutex<Checked<RawMutex>, u32>`, found a different `Mutex<Checked<RawMutex>, u32>`
///   note: there are multiple different versions of crate `lock_api` in the dependency graph
///   ```
///   Fix: construct the lock with the version the function takes; there is
///   no conversion.
/// - Both versions' traits imported, for a method of the raw lock itself:
///   ```text
///   error[E0034]: multiple applicable items in scope
///   multiple `is_locked` found
///   ```
///   Fix: import one version's traits, or call through the trait,
///   `lock_api::RawMutex::is_locked(&raw)`.
///
/// Every lock_api 0.4 operation is tested through `lock_api_04::Mutex` and
/// `lock_api_04::RwLock` over parking_lot 0.12's locks and kernsync's, in
/// the crate's `tests/lock_api_04.rs`.
#[cfg_attr(
    feature = "lock_api_04",
    doc = r#"
parking_lot 0.12's mutex and kernsync's semaphore under lock_api 0.4 (this
example is compiled and run with the `lock_api_04` feature):

```
# use parking_lot_012 as parking_lot; // parking_lot 0.12, a dev-dependency
use kernsync_lockdep::LockClass;
use kernsync_rwsem::{Checked, CheckedRawRwSem};
use lock_api_04::RawMutex as _; // lock_api 0.4's `INIT`

static STATS_LOCK: LockClass = LockClass::new("stats_lock");
// parking_lot 0.12's mutex, validated, in a named class:
let stats = lock_api_04::Mutex::from_raw(
    Checked::new(<parking_lot::RawMutex>::INIT, &STATS_LOCK),
    0u64,
);
*stats.lock() += 1;
// kernsync's checked semaphore as a lock_api 0.4 `RwLock` (from `INIT`: a
// class of its own), with 0.4's recursive reads:
let table: lock_api_04::RwLock<CheckedRawRwSem, Vec<u8>> = lock_api_04::RwLock::new(vec![]);
table.write().push(1);
assert_eq!(table.read_recursive().len(), 1);
assert_eq!(*stats.lock(), 1);
```
"#
)]
pub struct Checked<R> {
    raw: R,
    map: LockMap,
}

impl<R> Checked<R> {
    /// `raw`, in class `class` (for statics, and for locks one function
    /// makes on behalf of many callers).
    #[inline]
    pub const fn new(raw: R, class: &'static LockClass) -> Checked<R> {
        Checked {
            raw,
            map: LockMap::new(class),
        }
    }

    /// `raw`, in the class named by the caller's line.
    #[inline]
    #[track_caller]
    pub const fn at_caller(raw: R) -> Checked<R> {
        Checked::at_site(raw, Location::caller())
    }

    /// `raw`, in the class named by `site`.
    #[inline]
    pub const fn at_site(raw: R, site: &'static Location<'static>) -> Checked<R> {
        Checked {
            raw,
            map: LockMap::at_site(site),
        }
    }

    /// `raw`, with the validator handle `map` (a named or owned class:
    /// [`LockMap::at_site_named`], [`LockMap::owned_by`]).
    #[inline]
    pub const fn with_map(raw: R, map: LockMap) -> Checked<R> {
        Checked { raw, map }
    }

    /// `raw`, in a class of its own (no construction site to name one).
    /// Such classes are never freed: for locks made in numbers, prefer
    /// [`first_use`](Checked::first_use) or a named class.
    #[inline]
    pub const fn anonymous(raw: R) -> Checked<R> {
        Checked {
            raw,
            map: LockMap::anonymous(),
        }
    }

    /// `raw`, in the class of the site of its first acquisition
    /// ([`LockMap::first_use`]): what a lock built from the raw type's
    /// `const INIT` gets, since lock_api's lock methods are
    /// `#[track_caller]` and its constructors cannot see their caller.
    #[inline]
    pub const fn first_use(raw: R) -> Checked<R> {
        Checked {
            raw,
            map: LockMap::first_use(),
        }
    }

    /// The validator handle (for `assert_held` and annotations).
    #[inline]
    pub fn map(&self) -> &LockMap {
        &self.map
    }

    /// The unchecked raw lock.
    #[inline]
    pub fn raw(&self) -> &R {
        &self.raw
    }

    /// The token of a timed acquisition that returned `got` (a timed
    /// acquisition could wait, so it was recorded like a blocking one).
    #[inline]
    #[track_caller]
    fn timed<G>(&self, held: Held, got: Option<G>) -> Option<CheckedGuard<G>> {
        match got {
            Some(g) => Some(CheckedGuard::new(g, held)),
            None => {
                self.map.release(held);
                None
            }
        }
    }

    /// The token of an immediate attempt that returned `got`.
    #[inline]
    #[track_caller]
    fn tried<G>(&self, mode: Mode, got: Option<G>) -> Option<CheckedGuard<G>> {
        got.map(|g| CheckedGuard::new(g, self.map.try_acquired(mode)))
    }
}

impl<R: RawRwLock> Checked<R> {
    /// A blocking shared (`Read`) acquisition as subclass `subclass`.
    #[inline]
    #[track_caller]
    pub fn lock_shared_nested(&self, subclass: u8) -> CheckedGuard<R::SharedGuard> {
        let held = self.map.acquire_nested(Mode::Read, subclass);
        CheckedGuard::new(self.raw.lock_shared(), held)
    }

    /// A blocking exclusive acquisition as subclass `subclass`.
    #[inline]
    #[track_caller]
    pub fn lock_exclusive_nested(&self, subclass: u8) -> CheckedGuard<R::ExclusiveGuard> {
        let held = self.map.acquire_nested(Mode::Write, subclass);
        CheckedGuard::new(self.raw.lock_exclusive(), held)
    }
}

impl<R: RawRwLock> Checked<R> {
    /// A blocking shared acquisition as one of many locks of this class
    /// held at once under the nest lock `outer` (see
    /// [`LockMap::acquire_nest_lock`]).
    #[inline]
    #[track_caller]
    pub fn lock_shared_nest_lock(&self, outer: &LockMap) -> CheckedGuard<R::SharedGuard> {
        let held = self.map.acquire_nest_lock(Mode::Read, outer);
        CheckedGuard::new(self.raw.lock_shared(), held)
    }

    /// A blocking exclusive acquisition under the nest lock `outer`.
    #[inline]
    #[track_caller]
    pub fn lock_exclusive_nest_lock(&self, outer: &LockMap) -> CheckedGuard<R::ExclusiveGuard> {
        let held = self.map.acquire_nest_lock(Mode::Write, outer);
        CheckedGuard::new(self.raw.lock_exclusive(), held)
    }

    /// A blocking shared acquisition in a stated order among locks of this
    /// class (see [`LockMap::acquire_ordered`]).
    #[inline]
    #[track_caller]
    pub fn lock_shared_ordered(&self, key: u64) -> CheckedGuard<R::SharedGuard> {
        let held = self.map.acquire_ordered(Mode::Read, key);
        CheckedGuard::new(self.raw.lock_shared(), held)
    }

    /// A blocking exclusive acquisition in a stated order among locks of
    /// this class.
    #[inline]
    #[track_caller]
    pub fn lock_exclusive_ordered(&self, key: u64) -> CheckedGuard<R::ExclusiveGuard> {
        let held = self.map.acquire_ordered(Mode::Write, key);
        CheckedGuard::new(self.raw.lock_exclusive(), held)
    }
}

impl<R: RawRwLockUpgrade> Checked<R> {
    /// A blocking upgradable acquisition (a `Read` for the validator: it
    /// waits behind a waiting writer) as subclass `subclass`.
    #[inline]
    #[track_caller]
    pub fn lock_upgradable_nested(&self, subclass: u8) -> CheckedGuard<R::UpgradableGuard> {
        let held = self.map.acquire_nested(Mode::Read, subclass);
        CheckedGuard::new(self.raw.lock_upgradable(), held)
    }
}

/// The recursive reads of kernsync's own semaphore (lock_api has no trait
/// for them).
impl Checked<RawRwSem> {
    /// A blocking recursive read (`RecursiveRead`).
    #[inline]
    #[track_caller]
    pub fn lock_shared_recursive(&self) -> CheckedGuard<<RawRwSem as RawRwLock>::SharedGuard> {
        let held = self.map.acquire(Mode::RecursiveRead);
        CheckedGuard::new(self.raw.lock_shared_recursive_guard(), held)
    }

    /// An immediate recursive read.
    #[inline]
    #[track_caller]
    pub fn try_lock_shared_recursive(
        &self,
    ) -> Option<CheckedGuard<<RawRwSem as RawRwLock>::SharedGuard>> {
        self.tried(
            Mode::RecursiveRead,
            self.raw.try_lock_shared_recursive_guard(),
        )
    }

    /// A timed recursive read.
    #[inline]
    #[track_caller]
    pub fn try_lock_shared_recursive_until(
        &self,
        deadline: std::time::Instant,
    ) -> Option<CheckedGuard<<RawRwSem as RawRwLock>::SharedGuard>> {
        let held = self.map.acquire(Mode::RecursiveRead);
        self.timed(
            held,
            self.raw.try_lock_shared_recursive_until_guard(deadline),
        )
    }
}

// SAFETY: `R` provides the exclusion and the memory ordering; the validator
// calls around it neither lock nor unlock it. A lock operation that unwinds
// (a validator report in `Panic` mode) does so before `R` is locked; an
// unlock releases `R` (consuming its own guard state) before telling the
// validator, so an unwinding unlock has released the acquisition.
unsafe impl<R: RawRwLock> RawRwLock for Checked<R> {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Checked<R> = Checked::first_use(R::INIT);
    type SharedGuard = CheckedGuard<R::SharedGuard>;
    type ExclusiveGuard = CheckedGuard<R::ExclusiveGuard>;

    #[inline]
    #[track_caller]
    fn lock_shared(&self) -> Self::SharedGuard {
        let held = self.map.acquire(Mode::Read);
        CheckedGuard::new(self.raw.lock_shared(), held)
    }

    #[inline]
    #[track_caller]
    fn try_lock_shared(&self) -> Option<Self::SharedGuard> {
        self.tried(Mode::Read, self.raw.try_lock_shared())
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_shared(&self, guard: Self::SharedGuard) {
        // SAFETY: the caller gives the state of a shared acquisition of ours,
        // whose inner state is `R`'s for the same acquisition.
        unsafe { self.raw.unlock_shared(guard.inner) };
        self.map.release(guard.held);
    }

    #[inline]
    #[track_caller]
    fn lock_exclusive(&self) -> Self::ExclusiveGuard {
        let held = self.map.acquire(Mode::Write);
        CheckedGuard::new(self.raw.lock_exclusive(), held)
    }

    #[inline]
    #[track_caller]
    fn try_lock_exclusive(&self) -> Option<Self::ExclusiveGuard> {
        self.tried(Mode::Write, self.raw.try_lock_exclusive())
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_exclusive(&self, guard: Self::ExclusiveGuard) {
        // SAFETY: the caller gives the state of an exclusive acquisition.
        unsafe { self.raw.unlock_exclusive(guard.inner) };
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

// SAFETY: as for `RawRwLock`: fair unlocks release `R` first; a bump keeps
// the acquisition held throughout (in `R` and in the validator).
unsafe impl<R: RawRwLockFair> RawRwLockFair for Checked<R> {
    #[inline]
    #[track_caller]
    unsafe fn unlock_shared_fair(&self, guard: Self::SharedGuard) {
        // SAFETY: the caller gives the state of a shared acquisition.
        unsafe { self.raw.unlock_shared_fair(guard.inner) };
        self.map.release(guard.held);
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_exclusive_fair(&self, guard: Self::ExclusiveGuard) {
        // SAFETY: the caller gives the state of an exclusive acquisition.
        unsafe { self.raw.unlock_exclusive_fair(guard.inner) };
        self.map.release(guard.held);
    }

    #[inline]
    unsafe fn bump_shared(&self, guard: &mut Self::SharedGuard) {
        // SAFETY: the caller holds the shared acquisition `guard` stands for.
        unsafe { self.raw.bump_shared(&mut guard.inner) };
    }

    #[inline]
    unsafe fn bump_exclusive(&self, guard: &mut Self::ExclusiveGuard) {
        // SAFETY: the caller holds the exclusive acquisition.
        unsafe { self.raw.bump_exclusive(&mut guard.inner) };
    }
}

// SAFETY: a downgrade never releases `R`; the validator only changes the
// held mode.
unsafe impl<R: RawRwLockDowngrade> RawRwLockDowngrade for Checked<R> {
    #[inline]
    #[track_caller]
    unsafe fn downgrade(&self, guard: Self::ExclusiveGuard) -> Self::SharedGuard {
        let CheckedGuard {
            inner, mut held, ..
        } = guard;
        // SAFETY: the caller gives the state of an exclusive acquisition.
        let inner = unsafe { self.raw.downgrade(inner) };
        self.map.downgrade(&mut held);
        CheckedGuard::new(inner, held)
    }
}

// SAFETY: timed acquisitions are recorded before they can wait and released
// in the validator if they time out, when `R` was not locked.
unsafe impl<R: RawRwLockTimed> RawRwLockTimed for Checked<R> {
    type Duration = R::Duration;
    type Instant = R::Instant;

    #[inline]
    #[track_caller]
    fn try_lock_shared_for(&self, timeout: R::Duration) -> Option<Self::SharedGuard> {
        let held = self.map.acquire(Mode::Read);
        self.timed(held, self.raw.try_lock_shared_for(timeout))
    }

    #[inline]
    #[track_caller]
    fn try_lock_shared_until(&self, deadline: R::Instant) -> Option<Self::SharedGuard> {
        let held = self.map.acquire(Mode::Read);
        self.timed(held, self.raw.try_lock_shared_until(deadline))
    }

    #[inline]
    #[track_caller]
    fn try_lock_exclusive_for(&self, timeout: R::Duration) -> Option<Self::ExclusiveGuard> {
        let held = self.map.acquire(Mode::Write);
        self.timed(held, self.raw.try_lock_exclusive_for(timeout))
    }

    #[inline]
    #[track_caller]
    fn try_lock_exclusive_until(&self, deadline: R::Instant) -> Option<Self::ExclusiveGuard> {
        let held = self.map.acquire(Mode::Write);
        self.timed(held, self.raw.try_lock_exclusive_until(deadline))
    }
}

// SAFETY: as for `RawRwLock`. An upgrade is validated as a new `Write`
// acquisition before it waits; an immediate `try_upgrade` adds no edge.
unsafe impl<R: RawRwLockUpgrade> RawRwLockUpgrade for Checked<R> {
    type UpgradableGuard = CheckedGuard<R::UpgradableGuard>;

    #[inline]
    #[track_caller]
    fn lock_upgradable(&self) -> Self::UpgradableGuard {
        self.lock_upgradable_nested(0)
    }

    #[inline]
    #[track_caller]
    fn try_lock_upgradable(&self) -> Option<Self::UpgradableGuard> {
        self.tried(Mode::Read, self.raw.try_lock_upgradable())
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_upgradable(&self, guard: Self::UpgradableGuard) {
        // SAFETY: the caller gives the state of an upgradable acquisition.
        unsafe { self.raw.unlock_upgradable(guard.inner) };
        self.map.release(guard.held);
    }

    #[inline]
    #[track_caller]
    unsafe fn upgrade(&self, guard: Self::UpgradableGuard) -> Self::ExclusiveGuard {
        let CheckedGuard {
            inner, mut held, ..
        } = guard;
        self.map.upgrade(&mut held);
        // SAFETY: the caller gives the state of an upgradable acquisition.
        let inner = unsafe { self.raw.upgrade(inner) };
        CheckedGuard::new(inner, held)
    }

    #[inline]
    #[track_caller]
    unsafe fn try_upgrade(
        &self,
        guard: Self::UpgradableGuard,
    ) -> Result<Self::ExclusiveGuard, Self::UpgradableGuard> {
        let CheckedGuard {
            inner, mut held, ..
        } = guard;
        // SAFETY: the caller gives the state of an upgradable acquisition.
        match unsafe { self.raw.try_upgrade(inner) } {
            Ok(inner) => {
                self.map.try_upgraded(&mut held);
                Ok(CheckedGuard::new(inner, held))
            }
            Err(inner) => Err(CheckedGuard::new(inner, held)),
        }
    }
}

// SAFETY: as for `RawRwLockFair` and `RawRwLockUpgrade`.
unsafe impl<R: RawRwLockUpgradeFair> RawRwLockUpgradeFair for Checked<R> {
    #[inline]
    #[track_caller]
    unsafe fn unlock_upgradable_fair(&self, guard: Self::UpgradableGuard) {
        // SAFETY: the caller gives the state of an upgradable acquisition.
        unsafe { self.raw.unlock_upgradable_fair(guard.inner) };
        self.map.release(guard.held);
    }

    #[inline]
    unsafe fn bump_upgradable(&self, guard: &mut Self::UpgradableGuard) {
        // SAFETY: the caller holds the upgradable acquisition.
        unsafe { self.raw.bump_upgradable(&mut guard.inner) };
    }
}

// SAFETY: downgrades never release `R`; upgradable and shared are both
// `Read` for the validator, exclusive becomes `Read`.
unsafe impl<R: RawRwLockUpgradeDowngrade> RawRwLockUpgradeDowngrade for Checked<R> {
    #[inline]
    unsafe fn downgrade_upgradable(&self, guard: Self::UpgradableGuard) -> Self::SharedGuard {
        // SAFETY: the caller gives the state of an upgradable acquisition.
        let inner = unsafe { self.raw.downgrade_upgradable(guard.inner) };
        CheckedGuard::new(inner, guard.held)
    }

    #[inline]
    #[track_caller]
    unsafe fn downgrade_to_upgradable(&self, guard: Self::ExclusiveGuard) -> Self::UpgradableGuard {
        let CheckedGuard {
            inner, mut held, ..
        } = guard;
        // SAFETY: the caller gives the state of an exclusive acquisition.
        let inner = unsafe { self.raw.downgrade_to_upgradable(inner) };
        self.map.downgrade(&mut held);
        CheckedGuard::new(inner, held)
    }
}

// SAFETY: as for `RawRwLockTimed` and `RawRwLockUpgrade`: a timed upgrade is
// recorded as a `Write` before it waits and turned back to `Read` if it times
// out, when `R` is still held upgradable.
unsafe impl<R: RawRwLockUpgradeTimed> RawRwLockUpgradeTimed for Checked<R> {
    #[inline]
    #[track_caller]
    fn try_lock_upgradable_for(&self, timeout: R::Duration) -> Option<Self::UpgradableGuard> {
        let held = self.map.acquire(Mode::Read);
        self.timed(held, self.raw.try_lock_upgradable_for(timeout))
    }

    #[inline]
    #[track_caller]
    fn try_lock_upgradable_until(&self, deadline: R::Instant) -> Option<Self::UpgradableGuard> {
        let held = self.map.acquire(Mode::Read);
        self.timed(held, self.raw.try_lock_upgradable_until(deadline))
    }

    #[inline]
    #[track_caller]
    unsafe fn try_upgrade_for(
        &self,
        guard: Self::UpgradableGuard,
        timeout: R::Duration,
    ) -> Result<Self::ExclusiveGuard, Self::UpgradableGuard> {
        let CheckedGuard {
            inner, mut held, ..
        } = guard;
        self.map.upgrade(&mut held);
        // SAFETY: the caller gives the state of an upgradable acquisition.
        match unsafe { self.raw.try_upgrade_for(inner, timeout) } {
            Ok(inner) => Ok(CheckedGuard::new(inner, held)),
            Err(inner) => {
                self.map.downgrade(&mut held);
                Err(CheckedGuard::new(inner, held))
            }
        }
    }

    #[inline]
    #[track_caller]
    unsafe fn try_upgrade_until(
        &self,
        guard: Self::UpgradableGuard,
        deadline: R::Instant,
    ) -> Result<Self::ExclusiveGuard, Self::UpgradableGuard> {
        let CheckedGuard {
            inner, mut held, ..
        } = guard;
        self.map.upgrade(&mut held);
        // SAFETY: the caller gives the state of an upgradable acquisition.
        match unsafe { self.raw.try_upgrade_until(inner, deadline) } {
            Ok(inner) => Ok(CheckedGuard::new(inner, held)),
            Err(inner) => {
                self.map.downgrade(&mut held);
                Err(CheckedGuard::new(inner, held))
            }
        }
    }
}

impl<R: RawMutex> Checked<R> {
    /// A blocking acquisition as subclass `subclass`.
    #[inline]
    #[track_caller]
    pub fn lock_nested(&self, subclass: u8) -> CheckedGuard<R::Guard> {
        let held = self.map.acquire_nested(Mode::Write, subclass);
        CheckedGuard::new(self.raw.lock(), held)
    }

    /// A blocking acquisition as one of many locks of this class held at
    /// once under the nest lock `outer` (see [`LockMap::acquire_nest_lock`]).
    #[inline]
    #[track_caller]
    pub fn lock_nest_lock(&self, outer: &LockMap) -> CheckedGuard<R::Guard> {
        let held = self.map.acquire_nest_lock(Mode::Write, outer);
        CheckedGuard::new(self.raw.lock(), held)
    }

    /// A blocking acquisition in a stated order among locks of this class
    /// (see [`LockMap::acquire_ordered`]).
    #[inline]
    #[track_caller]
    pub fn lock_ordered(&self, key: u64) -> CheckedGuard<R::Guard> {
        let held = self.map.acquire_ordered(Mode::Write, key);
        CheckedGuard::new(self.raw.lock(), held)
    }
}

// SAFETY: as for `RawRwLock`.
unsafe impl<R: RawMutex> RawMutex for Checked<R> {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Checked<R> = Checked::first_use(R::INIT);
    type Guard = CheckedGuard<R::Guard>;

    #[inline]
    #[track_caller]
    fn lock(&self) -> Self::Guard {
        let held = self.map.acquire(Mode::Write);
        CheckedGuard::new(self.raw.lock(), held)
    }

    #[inline]
    #[track_caller]
    fn try_lock(&self) -> Option<Self::Guard> {
        self.tried(Mode::Write, self.raw.try_lock())
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock(&self, guard: Self::Guard) {
        // SAFETY: the caller gives the state of an acquisition of ours.
        unsafe { self.raw.unlock(guard.inner) };
        self.map.release(guard.held);
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }
}

// SAFETY: as for `RawRwLockFair`.
unsafe impl<R: RawMutexFair> RawMutexFair for Checked<R> {
    #[inline]
    #[track_caller]
    unsafe fn unlock_fair(&self, guard: Self::Guard) {
        // SAFETY: the caller gives the state of an acquisition of ours.
        unsafe { self.raw.unlock_fair(guard.inner) };
        self.map.release(guard.held);
    }

    #[inline]
    unsafe fn bump(&self, guard: &mut Self::Guard) {
        // SAFETY: the caller holds the acquisition.
        unsafe { self.raw.bump(&mut guard.inner) };
    }
}

// SAFETY: as for `RawRwLockTimed`.
unsafe impl<R: RawMutexTimed> RawMutexTimed for Checked<R> {
    type Duration = R::Duration;
    type Instant = R::Instant;

    #[inline]
    #[track_caller]
    fn try_lock_for(&self, timeout: R::Duration) -> Option<Self::Guard> {
        let held = self.map.acquire(Mode::Write);
        self.timed(held, self.raw.try_lock_for(timeout))
    }

    #[inline]
    #[track_caller]
    fn try_lock_until(&self, deadline: R::Instant) -> Option<Self::Guard> {
        let held = self.map.acquire(Mode::Write);
        self.timed(held, self.raw.try_lock_until(deadline))
    }
}
