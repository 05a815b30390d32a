//! `LockMap`: the validator's handle on one lock instance, the public face
//! of every acquisition and release.

use super::classes::{self, ClassKey, FIRST_TAKEN};
use super::config;
use super::entry::{Acq, ClassBits, Held, HeldAs, How};
use super::graph::SiteName;
use super::thread::with_thread;
use super::validate;
use crate::class::{LockClass, FLAG_AWAITABLE};
use crate::kind::LockKind;
use crate::mode::Mode;
use core::fmt;
use core::mem::ManuallyDrop;
use core::panic::Location;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// The validator's handle on one lock instance: a lock embeds one and calls
/// it around every acquisition and release.
///
/// It records the lock's class lazily (on first acquisition) and costs 80
/// bytes on 64-bit targets with validation compiled in (the class key, with
/// a construction site's names, is 48 of them), zero bytes without.
/// A `LockMap` with no lock behind it is a *pseudo-lock*: acquire it around
/// work that others wait for, and around the wait (see the crate docs).
pub struct LockMap {
    key: ClassKey,
    /// The class's [`ClassBits`], 0 until first use. Relaxed is enough:
    /// the value is derived from the class alone, and all graph data it
    /// indexes is read under the graph lock.
    cache: AtomicU64,
    /// This lock's identity among the locks that ever lived at its address:
    /// a process-wide serial given at first use (0 before). Problems tied
    /// to one lock (taking it again, a bad unlock, freeing it while held)
    /// are reported once per class and serial, so a lock made where a
    /// dropped one lived is a new lock, never "the one already reported".
    pub(crate) serial: AtomicU32,
    /// Where the lock was at its first use (0 before). A lock whose guard
    /// was forgotten can then be moved (`drop(lock)` moves it): its held
    /// entry names the address it had when taken, usually this one.
    home: AtomicUsize,
    /// What the lock offers, recorded with the class at its first use so
    /// a report's advice fits the lock (see [`LockMap::with_kind`]); `None`:
    /// a `LockMap` driven directly ([`LockKind::LOCK_MAP`]).
    kind: Option<&'static LockKind>,
    /// Locks of this class nested on one thread are taken as successive
    /// subclasses (see [`LockMap::nesting_by_depth`]); always so for a
    /// [`LockMap::first_use`] lock.
    by_depth: bool,
    /// A guard may be forgotten and the lock then dropped, silently (see
    /// [`LockMap::forgettable`]); always so for a [`LockMap::first_use`] lock.
    forgettable: bool,
    /// The lock may be held across an `.await` (see [`LockMap::awaitable`]).
    awaitable: bool,
}

impl LockMap {
    /// A handle whose lock belongs to `class`.
    pub const fn new(class: &'static LockClass) -> LockMap {
        LockMap::keyed(ClassKey::Class(class))
    }

    /// A handle whose class is the caller's site: every lock constructed at
    /// one `file:line:col` shares one class. This is what `#[track_caller]`
    /// lock constructors use. A site inside the standard library (a lock made
    /// by `Default::default` through `unwrap_or_default()`, say) names no
    /// class of the user's, so such a lock gets a class of its own instead.
    #[track_caller]
    pub const fn at_caller() -> LockMap {
        LockMap::at_site(Location::caller())
    }

    /// A handle whose class is `site` (see [`LockMap::at_caller`]).
    pub const fn at_site(site: &'static Location<'static>) -> LockMap {
        LockMap::keyed(ClassKey::Site(site, SiteName::NONE))
    }

    /// A handle whose class is the caller's site, shown as `name` in reports.
    /// Handy for pseudo-locks: `static FLUSH: LockMap = LockMap::named("flush");`.
    #[track_caller]
    pub const fn named(name: &'static str) -> LockMap {
        LockMap::at_site_named(Location::caller(), name)
    }

    /// A handle whose class is (`site`, `name`), shown as `name` in
    /// reports: the `const` form of [`named`](LockMap::named) for lock
    /// constructors that take the caller's site themselves
    /// (`Mutex::named`). Locks made at one site with different names are of
    /// different classes.
    pub const fn at_site_named(site: &'static Location<'static>, name: &'static str) -> LockMap {
        LockMap::keyed(ClassKey::Site(
            site,
            SiteName {
                owner: None,
                name: Some(name),
            },
        ))
    }

    /// A handle for a lock *inside* another kernsync object (`owner`, such
    /// as `"notifier chain"`), whose class is (`site`, `owner`, `name`) and
    /// reads `owner name`, or `owner file:line:col` without a name: reports
    /// then name the object a user made, not an internal line.
    pub const fn owned_by(
        owner: &'static str,
        site: &'static Location<'static>,
        name: Option<&'static str>,
    ) -> LockMap {
        LockMap::keyed(ClassKey::Site(
            site,
            SiteName {
                owner: Some(owner),
                name,
            },
        ))
    }

    const fn keyed(key: ClassKey) -> LockMap {
        LockMap {
            key,
            cache: AtomicU64::new(0),
            serial: AtomicU32::new(0),
            home: AtomicUsize::new(0),
            kind: None,
            by_depth: matches!(key, ClassKey::FirstUse),
            forgettable: matches!(key, ClassKey::FirstUse),
            awaitable: false,
        }
    }

    /// The same handle, for a lock whose guard may be forgotten
    /// (`mem::forget`, lock_api's `MutexGuard::leak`) and the lock then
    /// dropped, which std and parking_lot allow and safe Rust reaches no
    /// other way (a live guard borrows its lock): the held entries of such a
    /// lock are dropped with it, without the
    /// [`HeldLockFreed`](crate::ReportKind::HeldLockFreed) report kernsync's
    /// own types give. For the `std::sync`-shaped types and lock_api locks
    /// built from `INIT`.
    pub const fn forgettable(mut self) -> LockMap {
        self.forgettable = true;
        self
    }

    /// The same handle, for a lock that may be held across an `.await` (an
    /// async lock): its class carries the flag, so a
    /// [`tracked`](crate::tracked) task whose poll returns `Pending` while
    /// holding it is fine. A lock not marked so is *thread-bound*: holding
    /// it across a `Pending` is reported
    /// ([`HeldAcrossAwait`](crate::ReportKind::HeldAcrossAwait)), since the
    /// task may resume on another thread and this thread runs other tasks
    /// meanwhile. Give the locks of one class the same marking: the flag is
    /// the handle's, and two handles of one class marked differently make
    /// two chains of one sequence (validated twice, never wrongly).
    ///
    /// ```
    /// use kernsync_lockdep::LockMap;
    /// static ASYNC_LOCK: LockMap = LockMap::named("async state").awaitable();
    /// # let _ = &ASYNC_LOCK;
    /// ```
    pub const fn awaitable(mut self) -> LockMap {
        self.awaitable = true;
        self
    }

    /// The same handle, whose locks of one class nested on one thread are
    /// taken as successive subclasses (as
    /// [`acquire_by_depth`](LockMap::acquire_by_depth) does), so that nesting
    /// two locks of the class is never "possible recursive locking" while
    /// the same lock again still is, and cycles through other classes are
    /// found as before. For lock types whose API has no nesting annotation
    /// to offer (`kernsync::sync`'s, std's surface): in code written for
    /// std, two locks made at one line (the fields of a
    /// `#[derive(Default)]` struct, the accounts of a transfer) nest in an
    /// order the code keeps by other means, and a report its author could
    /// silence only by leaving std's API would be a false one to them.
    /// Lost: an inversion between two locks of one class (a transfer from
    /// `a` to `b` and one from `b` to `a`).
    pub const fn nesting_by_depth(mut self) -> LockMap {
        self.by_depth = true;
        self
    }

    /// The same handle, for a lock of kind `kind`: a lock type passes its
    /// `const` description here, so reports suggest only what it offers
    /// (a recursive read, an upgradable read, nesting annotations).
    pub const fn with_kind(mut self, kind: &'static LockKind) -> LockMap {
        self.kind = Some(kind);
        self
    }

    /// [`with_kind`](LockMap::with_kind) unless a kind was given already: a
    /// lock type built on another passes its own description down, and
    /// the inner type keeps it (`kernsync::sync::Mutex` on kernsync's own).
    pub const fn or_kind(mut self, kind: &'static LockKind) -> LockMap {
        if self.kind.is_none() {
            self.kind = Some(kind);
        }
        self
    }

    /// A handle with a class of its own, made on first use (for locks built
    /// without any site, such as lock_api's `const INIT`). Such classes are
    /// never freed; prefer a named class for locks made in great numbers.
    pub const fn anonymous() -> LockMap {
        LockMap::keyed(ClassKey::Instance)
    }

    /// A handle whose class is the site of the lock's first acquisition,
    /// for locks built where no caller is known: lock_api's `const INIT`
    /// (so `lock_api::Mutex::new`, `Default`, `From` and generic code),
    /// which is how every parking_lot lock is made. The class reads `lock
    /// first taken at file:line:col`, a line the user can open, and there
    /// are only as many as the program has acquisition sites, however many
    /// locks it makes.
    ///
    /// Two rules differ from construction-site classes, because which
    /// locks share such a class depends on the run:
    ///
    /// - locks of one such class nested on one thread are taken as
    ///   successive subclasses (as [`acquire_by_depth`](LockMap::acquire_by_depth)),
    ///   so nesting two of them is never "possible recursive locking" (the
    ///   same lock again still is);
    /// - a lock whose first acquisition is inside the standard library or
    ///   lock_api itself (no `#[track_caller]` chain reaches the user: lock_api
    ///   0.4's reentrant mutex) is not validated, rather than joined with
    ///   every lock that library takes.
    pub const fn first_use() -> LockMap {
        LockMap::keyed(ClassKey::FirstUse)
    }

    #[inline]
    pub(crate) fn instance(&self) -> usize {
        self as *const LockMap as usize
    }

    /// The class, resolving it on first use.
    #[inline]
    #[track_caller]
    pub(crate) fn bits(&self) -> ClassBits {
        match self.cache.load(Ordering::Relaxed) {
            0 => self.resolve(None),
            c => ClassBits::from_raw(c).unmarked().0,
        }
    }

    /// Resolves the class; `taken_at` is the site of the acquisition that
    /// asks, if one does (a [`LockMap::first_use`] lock resolves only then:
    /// before, it is not held and has no class).
    #[cold]
    #[track_caller]
    fn resolve(&self, taken_at: Option<&'static Location<'static>>) -> ClassBits {
        let kind = match self.kind {
            Some(kind) => kind,
            None => &LockKind::LOCK_MAP,
        };
        let key = match (self.key, taken_at) {
            (ClassKey::FirstUse, None) => return ClassBits::UNRESOLVED,
            (ClassKey::FirstUse, Some(site)) if classes::is_foreign_site(site) => {
                self.cache
                    .store(ClassBits::NOT_VALIDATED.to_raw(), Ordering::Relaxed);
                return ClassBits::NOT_VALIDATED;
            }
            (ClassKey::FirstUse, Some(site)) => ClassKey::Site(
                site,
                SiteName {
                    owner: Some(FIRST_TAKEN),
                    name: None,
                },
            ),
            (key, _) => key,
        };
        let bits = match self.awaitable {
            true => validate::resolve(key, kind).with_flag(FLAG_AWAITABLE),
            false => validate::resolve(key, kind),
        };
        if bits != ClassBits::UNRESOLVED {
            self.serial
                .store(validate::first_use(self.instance()), Ordering::Relaxed);
            self.home.store(self.instance(), Ordering::Relaxed);
            let cached = match self.by_depth && bits.is_validated() {
                true => bits.by_depth(),
                false => bits,
            };
            self.cache.store(cached.to_raw(), Ordering::Relaxed);
        }
        bits
    }

    /// See the field.
    #[inline]
    fn serial(&self) -> u32 {
        self.serial.load(Ordering::Relaxed)
    }

    /// The class if it is validated: one signed test on the fast path.
    /// `taken_at`: as for [`resolve`](Self::resolve).
    #[inline(always)]
    #[track_caller]
    fn validated_bits(&self, taken_at: Option<&'static Location<'static>>) -> Option<ClassBits> {
        let c = self.cache.load(Ordering::Relaxed);
        if ClassBits::is_validated_raw(c) {
            return Some(ClassBits::from_raw(c));
        }
        let c = if c == 0 {
            self.resolve(taken_at)
        } else {
            ClassBits::from_raw(c).unmarked().0
        };
        c.is_validated().then_some(c)
    }

    /// Every acquisition: a few tests, then the engine's one decision.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn acq(
        &self,
        mode: Mode,
        subclass: u8,
        how: How,
        site: &'static Location<'static>,
    ) -> Held {
        if !config::validating() {
            return Held::UNTRACKED;
        }
        let c = self.cache.load(Ordering::Relaxed);
        if !ClassBits::is_validated_raw(c) {
            // A plain blocking acquisition of a lock taken by depth (every
            // `kernsync::sync` and parking_lot-shim lock): its subclass is
            // picked in the fast path's visit of the thread, without the
            // cold call.
            if let (class, true) = ClassBits::from_raw(c).unmarked() {
                if subclass == 0 && how == How::Blocking {
                    let a = self.acq_of(class, mode, 0, how, site);
                    return validate::acquire_by_depth(a, &self.serial);
                }
            }
            return self.acq_cold(mode, subclass, how, site);
        }
        let a = self.acq_of(ClassBits::from_raw(c), mode, subclass, how, site);
        validate::acquire(a, &self.serial)
    }

    /// This lock's acquisition in `class` (the serial is read only by the
    /// slow paths, from the map).
    #[inline(always)]
    fn acq_of(
        &self,
        class: ClassBits,
        mode: Mode,
        subclass: u8,
        how: How,
        site: &'static Location<'static>,
    ) -> Acq {
        Acq {
            instance: self.instance(),
            serial: 0,
            class,
            mode,
            subclass,
            how,
            site,
        }
    }

    /// An acquisition of a lock whose class is not resolved yet, not
    /// validated, or taken by depth ([`LockMap::first_use`]).
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn acq_cold(
        &self,
        mode: Mode,
        subclass: u8,
        how: How,
        site: &'static Location<'static>,
    ) -> Held {
        let Some(class) = self.validated_bits(Some(site)) else {
            return Held::UNTRACKED;
        };
        let by_depth = self.by_depth && matches!(how, How::Blocking | How::Try) && subclass == 0;
        let subclass = match by_depth && how != How::Blocking {
            true => match self.depth_subclass(class) {
                Some(sub) => sub,
                None => return Held::UNTRACKED,
            },
            false => subclass,
        };
        let a = self.acq_of(class, mode, subclass, how, site);
        match by_depth && how == How::Blocking {
            // The subclass is picked in the fast path's visit of the thread.
            true => validate::acquire_by_depth(a, &self.serial),
            false => validate::acquire(a, &self.serial),
        }
    }

    /// Records a blocking acquisition in `mode`, *before* the lock blocks:
    /// a deadlock is reported instead of hanging. Timed acquisitions call
    /// this too (they can wait), and `release` the token if they time out.
    #[inline]
    #[track_caller]
    pub fn acquire(&self, mode: Mode) -> Held {
        self.acq(mode, 0, How::Blocking, Location::caller())
    }

    /// Like [`acquire`](LockMap::acquire), as subclass `subclass` (below 8)
    /// of the lock's class: nesting two locks of one class in a fixed order
    /// (parent then child) is then ordered, not recursive.
    #[inline]
    #[track_caller]
    pub fn acquire_nested(&self, mode: Mode, subclass: u8) -> Held {
        assert!(
            subclass < 8,
            "lockdep: subclass {subclass} out of range (0..8)"
        );
        self.acq(mode, subclass, How::Blocking, Location::caller())
    }

    /// Like [`acquire`](LockMap::acquire), as the next subclass of its
    /// class on this thread (one above the highest subclass of the class
    /// the thread holds, 0 if none): for locks whose instances of one class nest in an order
    /// the data decides, which no annotation can state, such as once-cells
    /// whose initialisers force other cells made at the same line (a lazy
    /// tree). Nesting them is then never "possible recursive locking", while
    /// this very lock again still is, and a cycle through another class is
    /// found as before. Past subclass 7, the acquisition is not tracked (it
    /// could only be reported falsely).
    #[inline]
    #[track_caller]
    pub fn acquire_by_depth(&self, mode: Mode) -> Held {
        if !config::validating() {
            return Held::UNTRACKED;
        }
        let site = Location::caller();
        let Some(bits) = self.validated_bits(Some(site)) else {
            return Held::UNTRACKED;
        };
        match self.depth_subclass(bits) {
            Some(sub) => self.acq(mode, sub, How::Blocking, site),
            None => Held::UNTRACKED,
        }
    }

    /// The subclass for one more lock of class `bits` on this thread: one
    /// above the highest it holds (0 if none), so a class's subclasses only
    /// ever nest upwards, even when locks are released out of order (lock
    /// coupling down a list: a, b, drop a, c); `None` past the eight.
    #[cold]
    #[inline(never)]
    fn depth_subclass(&self, bits: ClassBits) -> Option<u8> {
        with_thread(|t| t.next_subclass(bits.class(), self.instance()))
    }

    /// Like [`acquire`](LockMap::acquire), under the nest lock `outer`: many
    /// locks of this class may be held at once while `outer` is held (as
    /// `mm_take_all_locks` does), and they share one held-stack entry. Taking
    /// one without holding `outer` is reported.
    #[inline]
    #[track_caller]
    pub fn acquire_nest_lock(&self, mode: Mode, outer: &LockMap) -> Held {
        self.acq(mode, 0, How::Nest(outer.instance()), Location::caller())
    }

    /// Like [`acquire`](LockMap::acquire), in a stated order among locks of
    /// one class: while locks of this class are held, each new one must have
    /// a larger `key` (its address, an index, an id). Out of order is reported
    /// as recursive locking.
    #[inline]
    #[track_caller]
    pub fn acquire_ordered(&self, mode: Mode, key: u64) -> Held {
        self.acq(mode, 0, How::Ordered(key), Location::caller())
    }

    /// Records a successful immediate `try_*` acquisition: it cannot wait, so
    /// it adds no dependency into this lock (later acquisitions add edges out
    /// of it).
    #[inline]
    #[track_caller]
    pub fn try_acquired(&self, mode: Mode) -> Held {
        self.acq(mode, 0, How::Try, Location::caller())
    }

    /// [`try_acquired`](LockMap::try_acquired) as a subclass.
    #[inline]
    #[track_caller]
    pub fn try_acquired_nested(&self, mode: Mode, subclass: u8) -> Held {
        assert!(
            subclass < 8,
            "lockdep: subclass {subclass} out of range (0..8)"
        );
        self.acq(mode, subclass, How::Try, Location::caller())
    }

    /// Records the release of the acquisition `held` (in any order).
    #[inline]
    #[track_caller]
    pub fn release(&self, held: Held) {
        self.release_at(held, Location::caller());
    }

    /// [`release`](LockMap::release) at `site`. The entry matched is this
    /// map's; a token made by another map is reported. An untracked token
    /// (class 0) never matches a held entry, so the fast path needs no test
    /// for it: the slow path ignores it.
    #[inline]
    #[track_caller]
    fn release_at(&self, held: Held, site: &'static Location<'static>) {
        let instance = self.instance();
        let (serial, class) = (&self.serial, held.class());
        validate::release(instance, serial, held.instance, class, site);
    }

    /// Releases this thread's most recent acquisition of this lock, for raw
    /// locks that keep no per-acquisition state. Reports a bad unlock if the
    /// thread holds none.
    #[track_caller]
    pub fn release_unpaired(&self) {
        if !config::validating() {
            return;
        }
        let Some(bits) = self.validated_bits(None) else {
            return;
        };
        let (instance, site) = (self.instance(), Location::caller());
        let serial = &self.serial;
        validate::release(instance, serial, instance, bits.class(), site);
    }

    /// Acquires and at once releases: a wait on whatever holders of this
    /// (pseudo-)lock do. Use it at a flush, a join, a completion wait.
    #[track_caller]
    pub fn acquire_release(&self, mode: Mode) {
        let h = self.acq(mode, 0, How::Blocking, Location::caller());
        self.release(h);
    }

    /// Runs `f` holding this (pseudo-)lock: the work that waiters wait for.
    #[track_caller]
    pub fn with<R>(&self, mode: Mode, f: impl FnOnce() -> R) -> R {
        let site = Location::caller();
        let _g = Holding::new(self, self.acq(mode, 0, How::Blocking, site), site);
        f()
    }

    /// [`acquire_by_depth`](LockMap::acquire_by_depth), held until the
    /// returned guard drops (also while unwinding): a once-cell's wait, or
    /// its initialiser's run.
    #[inline]
    #[track_caller]
    pub fn hold_by_depth(&self, mode: Mode) -> Holding<'_> {
        Holding::new(self, self.acquire_by_depth(mode), Location::caller())
    }

    /// Changes a held write acquisition to `Read` (a downgrade). Adds no
    /// dependency.
    #[track_caller]
    pub fn downgrade(&self, held: &mut Held) {
        validate::change_mode(
            self.instance(),
            self.serial(),
            held,
            Mode::Read,
            "downgrading",
            Location::caller(),
        );
    }

    /// Upgrades a held (upgradable) read to `Write`: a new exclusive
    /// acquisition of the same lock, which waits for other readers, so every
    /// lock taken after it gains an edge into it.
    #[track_caller]
    pub fn upgrade(&self, held: &mut Held) {
        validate::upgrade(self.instance(), self.serial(), held, Location::caller());
    }

    /// Records an upgrade that did not wait (an immediate `try_upgrade` that
    /// succeeded): the held mode becomes `Write` and, as for any trylock, no
    /// dependency is added.
    #[track_caller]
    pub fn try_upgraded(&self, held: &mut Held) {
        validate::change_mode(
            self.instance(),
            self.serial(),
            held,
            Mode::Write,
            "upgrading",
            Location::caller(),
        );
    }

    /// Whether the current thread holds this lock; `None` when that is not
    /// known (validation is off, or the class is not validated).
    fn held_here(&self) -> Option<bool> {
        if !config::validating() {
            return None;
        }
        let bits = self.validated_bits(None)?;
        Some(with_thread(|t| {
            t.find(self.instance(), bits.class()).is_some()
        }))
    }

    /// Whether the current thread holds this lock (false when not validating
    /// or the class is not validated: such locks are not tracked).
    pub fn is_held(&self) -> bool {
        self.held_here() == Some(true)
    }

    /// The subclass in which the current thread holds this lock (the
    /// innermost acquisition if it holds it more than once), or `None` when
    /// it does not hold it or the validator does not track it. A wait that
    /// releases and re-takes a lock (a condition variable's) re-acquires in
    /// this subclass, so a lock taken with `acquire_nested` stays nested.
    pub fn held_subclass(&self) -> Option<u8> {
        if !config::validating() {
            return None;
        }
        let bits = self.validated_bits(None)?;
        with_thread(|t| {
            t.find(self.instance(), bits.class())
                .map(|i| t.entry(i).id.subclass())
        })
    }

    /// How the current thread holds this lock (its innermost acquisition):
    /// mode, subclass and nesting annotation; `None` when it does not hold
    /// it or the validator does not track it. A wait that releases the lock
    /// re-takes it with [`reacquire`](LockMap::reacquire), so a lock taken
    /// under a nest lock, in a stated order or as a subclass stays so.
    pub fn held_as(&self) -> Option<HeldAs> {
        if !config::validating() {
            return None;
        }
        let bits = self.validated_bits(None)?;
        with_thread(|t| {
            t.find(self.instance(), bits.class())
                .map(|i| HeldAs::of(&t.entry(i)))
        })
    }

    /// A token for the current thread's innermost acquisition of this lock
    /// ([`Held::UNTRACKED`] if it holds none or the lock is not tracked),
    /// for raw locks that keep no per-acquisition state (lock_api 0.4's,
    /// whose unlock releases with [`release_unpaired`](LockMap::release_unpaired)):
    /// pass it to [`downgrade`](LockMap::downgrade),
    /// [`upgrade`](LockMap::upgrade) or
    /// [`try_upgraded`](LockMap::try_upgraded), then let it go: the entry
    /// stays on the held stack in its new mode.
    pub fn held_token(&self) -> Held {
        if !config::validating() {
            return Held::UNTRACKED;
        }
        let Some(bits) = self.validated_bits(None) else {
            return Held::UNTRACKED;
        };
        let instance = self.instance();
        with_thread(|t| {
            t.find(instance, bits.class())
                .map(|i| Held::new(instance, t.entry(i).id))
        })
        .unwrap_or(Held::UNTRACKED)
    }

    /// Takes this lock again as `how` says it was held (see
    /// [`held_as`](LockMap::held_as)): a blocking acquisition with the same
    /// mode, subclass and annotation.
    #[inline]
    #[track_caller]
    pub fn reacquire(&self, how: HeldAs) -> Held {
        self.acq(how.mode, how.subclass, how.how, Location::caller())
    }

    /// Reports unless the current thread holds this lock (nothing is
    /// reported when validation is off or the class is not validated).
    #[track_caller]
    pub fn assert_held(&self) {
        if self.held_here() == Some(false) {
            let name = validate::label(self.bits().class());
            validate::assertion(format!("\"{name}\" is not held"), vec![name]);
        }
    }

    /// Reports if the current thread holds this lock.
    #[track_caller]
    pub fn assert_not_held(&self) {
        if self.held_here() == Some(true) {
            let name = validate::label(self.bits().class());
            validate::assertion(format!("\"{name}\" is held"), vec![name]);
        }
    }

    /// The name of this lock's class (resolving it if needed; a
    /// [`first_use`](LockMap::first_use) lock never taken has none yet).
    pub fn class_name(&self) -> String {
        match self.bits() {
            ClassBits::UNRESOLVED if matches!(self.key, ClassKey::FirstUse) => {
                format!("{FIRST_TAKEN} (not taken yet)")
            }
            bits => validate::label(bits.class()),
        }
    }
}

/// An acquisition of a (pseudo-)lock, released when this guard drops,
/// also while unwinding: what [`LockMap::hold_by_depth`] returns.
#[must_use = "the acquisition is released when the guard drops"]
pub struct Holding<'a> {
    map: &'a LockMap,
    held: ManuallyDrop<Held>,
    /// The acquiring line, for the release: `drop` cannot track its caller.
    site: &'static Location<'static>,
}

impl<'a> Holding<'a> {
    #[inline]
    fn new(map: &'a LockMap, held: Held, site: &'static Location<'static>) -> Holding<'a> {
        Holding {
            map,
            held: ManuallyDrop::new(held),
            site,
        }
    }
}

impl Drop for Holding<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `held` is taken here, once, and the guard is gone after.
        let held = unsafe { ManuallyDrop::take(&mut self.held) };
        self.map.release_at(held, self.site);
    }
}

impl fmt::Debug for Holding<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Holding").field("map", self.map).finish()
    }
}

/// A lock freed while the current thread holds it is reported
/// ([`ReportKind::HeldLockFreed`](crate::ReportKind::HeldLockFreed)) and its
/// held entries are removed: an entry at the lock's address, or at the
/// address of its first use (a lock moved after its guard was forgotten). A lock freed on another thread than its holder
/// is not detected there (that thread's held stack is its own); the
/// holder's stale entry is dropped, without a report, when a lock taken
/// later on the holder's thread is seen to reuse the address.
impl Drop for LockMap {
    fn drop(&mut self) {
        let cache = *self.cache.get_mut();
        if cache != 0 {
            let (serial, home) = (*self.serial.get_mut(), *self.home.get_mut());
            let bits = ClassBits::from_raw(cache).unmarked().0;
            validate::lock_freed(&[self.instance(), home], serial, bits, !self.forgettable);
        }
    }
}

impl fmt::Debug for LockMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("LockMap");
        match self.key {
            ClassKey::Class(c) => d.field("class", &c.name()),
            ClassKey::Site(s, n) => d
                .field("site", &format_args!("{s}"))
                .field("name", &n.name)
                .field("owner", &n.owner),
            ClassKey::Instance => d.field("class", &"<anonymous>"),
            ClassKey::FirstUse => d.field("class", &FIRST_TAKEN),
        };
        d.finish()
    }
}
