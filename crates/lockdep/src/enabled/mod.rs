//! The validator, compiled in (`debug_assertions` or the `lockdep` feature).

mod alloc;
mod config;
mod emit;
mod graph;
mod slow;
mod thread;

pub use alloc::CheckedAlloc;
pub use config::{action, set_action, set_handler, set_limits};
pub use emit::capture;
pub use graph::{allow_order, dump, graph, unused_suppressions};

use crate::class::{LockClass, FLAG_NOT_VALIDATED};
use crate::mode::Mode;
use crate::report::HeldLock;
use core::fmt;
use core::panic::Location;
use core::sync::atomic::{AtomicU64, Ordering};
use thread::{with_thread, Acq, How, CLASS_FLAGS_SHIFT, THREAD};

/// Whether validation is compiled into this build.
pub const COMPILED_IN: bool = true;

/// Whether locks are being validated now: compiled in, not switched off
/// (`KERNSYNC_LOCKDEP=off`, `set_action(Action::Off)`) and no bound reached.
#[inline]
pub fn is_enabled() -> bool {
    config::validating()
}

/// How a `LockMap` finds its class.
#[derive(Clone, Copy)]
enum ClassKey {
    /// A named class (usually a `static`).
    Class(&'static LockClass),
    /// One class per construction site, optionally named.
    Site(&'static Location<'static>, Option<&'static str>),
    /// A class of its own, made on first use.
    Instance,
}

/// The validator's handle on one lock instance: a lock embeds one and calls
/// it around every acquisition and release.
///
/// It records the lock's class lazily (on first acquisition) and costs 16
/// bytes plus the class key with validation compiled in, zero bytes without.
/// A `LockMap` with no lock behind it is a *pseudo-lock*: acquire it around
/// work that others wait for, and around the wait (see the crate docs).
pub struct LockMap {
    key: ClassKey,
    /// `class id | class flags << CLASS_FLAGS_SHIFT`, 0 until first use. Relaxed is enough:
    /// the value is derived from the class alone, and all graph data it
    /// indexes is read under the graph lock.
    cache: AtomicU64,
}

/// Proof that the current thread acquired a lock: pass it back to
/// [`LockMap::release`]. Lock guards keep one in their state.
///
/// Forgetting one (as `mem::forget(guard)` does) leaves the lock held in the
/// validator's eyes, as it is in fact; a thread that exits so is reported.
#[must_use = "a lock acquisition must be released with `LockMap::release`"]
pub struct Held {
    instance: usize,
    /// A held-stack slot id (`class | mode << 40 | ..`, see `thread::slot_id`);
    /// class 0: not tracked (validation was off, or the class is not
    /// validated). Two words, so it travels in registers.
    tag: u64,
}

impl Held {
    /// A token for an acquisition the validator did not track.
    pub const UNTRACKED: Held = Held {
        instance: 0,
        tag: 0,
    };

    #[inline]
    pub(crate) fn tracked(instance: usize, class: u32, mode: Mode) -> Held {
        Held::from_id(instance, u64::from(class) | (mode as u64) << 40)
    }

    /// The token of an acquisition pushed with this held-stack slot id.
    #[inline(always)]
    pub(crate) fn from_id(instance: usize, id: u64) -> Held {
        Held { instance, tag: id }
    }

    #[inline]
    pub(crate) fn class(&self) -> u32 {
        self.tag as u32
    }

    /// The mode the lock is held in (`Write` for an untracked acquisition).
    pub fn mode(&self) -> Mode {
        Mode::from_bits((self.tag >> 40) as u8)
    }

    /// Whether the validator tracked this acquisition.
    pub fn is_tracked(&self) -> bool {
        self.class() != 0
    }
}

impl fmt::Debug for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Held")
            .field("mode", &self.mode())
            .field("tracked", &self.is_tracked())
            .finish()
    }
}

impl LockMap {
    /// A handle whose lock belongs to `class`.
    pub const fn new(class: &'static LockClass) -> LockMap {
        LockMap {
            key: ClassKey::Class(class),
            cache: AtomicU64::new(0),
        }
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
        LockMap {
            key: ClassKey::Site(site, None),
            cache: AtomicU64::new(0),
        }
    }

    /// A handle whose class is the caller's site, shown as `name` in reports.
    /// Handy for pseudo-locks: `static FLUSH: LockMap = LockMap::named("flush");`.
    #[track_caller]
    pub const fn named(name: &'static str) -> LockMap {
        LockMap {
            key: ClassKey::Site(Location::caller(), Some(name)),
            cache: AtomicU64::new(0),
        }
    }

    /// A handle with a class of its own, made on first use (for locks built
    /// without any site, such as lock_api's `const INIT`). Such classes are
    /// never freed; prefer a named class for locks made in great numbers.
    pub const fn anonymous() -> LockMap {
        LockMap {
            key: ClassKey::Instance,
            cache: AtomicU64::new(0),
        }
    }

    #[inline]
    fn instance(&self) -> usize {
        self as *const LockMap as usize
    }

    /// `class id | flags << CLASS_FLAGS_SHIFT`, resolving the class on first use.
    #[inline]
    fn bits(&self) -> u64 {
        let c = self.cache.load(Ordering::Relaxed);
        if c != 0 {
            c
        } else {
            self.resolve()
        }
    }

    #[cold]
    fn resolve(&self) -> u64 {
        let bits = graph::resolve(self.key);
        if bits != graph::UNRESOLVED {
            self.cache.store(bits, Ordering::Relaxed);
        }
        bits
    }

    /// The cached bits of a validated class: `Some` on the fast path (one
    /// signed test: 0 is unresolved, negative is not validated).
    #[inline(always)]
    fn validated_bits(&self) -> Option<u64> {
        let c = self.cache.load(Ordering::Relaxed);
        if (c as i64) > 0 {
            return Some(c);
        }
        let c = if c == 0 { self.resolve() } else { c };
        ((c >> CLASS_FLAGS_SHIFT) as u32 & FLAG_NOT_VALIDATED == 0).then_some(c)
    }

    #[inline(always)]
    fn acq(&self, mode: Mode, subclass: u8, how: How, site: &'static Location<'static>) -> Held {
        if !config::validating() {
            return Held::UNTRACKED;
        }
        let Some(bits) = self.validated_bits() else {
            return Held::UNTRACKED;
        };
        match how {
            How::Blocking => acquire_blocking(
                self.instance(),
                bits | u64::from(subclass) << 32 | (mode as u64) << 40,
                site,
            ),
            _ => acquire_annotated(Acq {
                instance: self.instance(),
                bits,
                mode,
                subclass,
                how,
                site,
            }),
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
    fn release_at(&self, held: Held, site: &'static Location<'static>) {
        let instance = self.instance();
        with_thread(|t| t.release(instance, held.instance, held.class(), site));
    }

    /// Releases this thread's most recent acquisition of this lock, for raw
    /// locks that keep no per-acquisition state. Reports a bad unlock if the
    /// thread holds none.
    #[track_caller]
    pub fn release_unpaired(&self) {
        if !config::validating() {
            return;
        }
        let Some(bits) = self.validated_bits() else {
            return;
        };
        let site = Location::caller();
        with_thread(|t| t.release(self.instance(), self.instance(), bits as u32, site));
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
        struct Release<'a>(&'a LockMap, Option<Held>, &'static Location<'static>);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                if let Some(h) = self.1.take() {
                    // The caller's line: `drop` cannot track it.
                    self.0.release_at(h, self.2);
                }
            }
        }
        let site = Location::caller();
        let _g = Release(self, Some(self.acq(mode, 0, How::Blocking, site)), site);
        f()
    }

    /// Changes a held write acquisition to `Read` (a downgrade). Adds no
    /// dependency.
    #[track_caller]
    pub fn downgrade(&self, held: &mut Held) {
        self.change_mode(held, Mode::Read, "downgrading", Location::caller());
    }

    /// Sets the held mode of this map's acquisition `held` (a downgrade or
    /// an upgrade that did not wait), reporting a token of another map or a
    /// lock not held.
    fn change_mode(
        &self,
        held: &mut Held,
        mode: Mode,
        what: &str,
        site: &'static Location<'static>,
    ) {
        if held.class() != 0 {
            let instance = self.instance();
            with_thread(|t| {
                if held.instance != instance {
                    slow::mismatched_token(t, held.class(), what, site);
                }
                t.set_mode(instance, held.class(), mode, what, site);
            });
            *held = Held::tracked(instance, held.class(), mode);
        }
    }

    /// Upgrades a held (upgradable) read to `Write`: a new exclusive
    /// acquisition of the same lock, which waits for other readers, so every
    /// lock taken after it gains an edge into it.
    #[track_caller]
    pub fn upgrade(&self, held: &mut Held) {
        if held.class() != 0 {
            let site = Location::caller();
            let instance = self.instance();
            with_thread(|t| {
                if held.instance != instance {
                    slow::mismatched_token(t, held.class(), "upgrading", site);
                }
                t.upgrade(instance, held.class(), site);
            });
            *held = Held::tracked(instance, held.class(), Mode::Write);
        }
    }

    /// Records an upgrade that did not wait (an immediate `try_upgrade` that
    /// succeeded): the held mode becomes `Write` and, as for any trylock, no
    /// dependency is added.
    #[track_caller]
    pub fn try_upgraded(&self, held: &mut Held) {
        self.change_mode(held, Mode::Write, "upgrading", Location::caller());
    }

    /// Whether the current thread holds this lock; `None` when that is not
    /// known (validation is off, or the class is not validated).
    fn held_here(&self) -> Option<bool> {
        if !config::validating() {
            return None;
        }
        let bits = self.validated_bits()?;
        Some(with_thread(|t| {
            t.find(self.instance(), bits as u32).is_some()
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
        let bits = self.validated_bits()?;
        with_thread(|t| {
            t.find(self.instance(), bits as u32)
                .map(|i| t.entry(i).subclass)
        })
    }

    /// Reports unless the current thread holds this lock (nothing is
    /// reported when validation is off or the class is not validated).
    #[track_caller]
    pub fn assert_held(&self) {
        if self.held_here() == Some(false) {
            let name = graph::class_label(self.bits() as u32, 0);
            slow::assertion(
                format!("\"{name}\" is not held"),
                vec![name],
                Location::caller(),
            );
        }
    }

    /// Reports if the current thread holds this lock.
    #[track_caller]
    pub fn assert_not_held(&self) {
        if self.held_here() == Some(true) {
            let name = graph::class_label(self.bits() as u32, 0);
            slow::assertion(
                format!("\"{name}\" is held"),
                vec![name],
                Location::caller(),
            );
        }
    }

    /// The name of this lock's class (resolving it if needed).
    pub fn class_name(&self) -> String {
        graph::class_label(self.bits() as u32, 0)
    }
}

/// An ordinary blocking acquisition: three values (`id` is the held-stack
/// slot id: class, subclass, mode and class flags), the thread's state
/// reached directly, the fast path inlined into the lock's call site, and
/// anything else one out-of-line call to the slow path.
#[inline(always)]
fn acquire_blocking(instance: usize, id: u64, site: &'static Location<'static>) -> Held {
    match with_thread(|t| t.try_fast(instance, id, 0, site)) {
        Some(held) => held,
        None => acquire_blocking_slow(instance, id, site),
    }
}

#[cold]
#[inline(never)]
fn acquire_blocking_slow(instance: usize, id: u64, site: &'static Location<'static>) -> Held {
    with_thread(|t| slow::acquire(t, Acq::blocking(instance, id, site)))
}

/// Trylocks and nesting annotations: always the slow path's work.
#[cold]
#[inline(never)]
fn acquire_annotated(a: Acq) -> Held {
    THREAD.with(|t| t.acquire(a))
}

impl fmt::Debug for LockMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("LockMap");
        match self.key {
            ClassKey::Class(c) => d.field("class", &c.name()),
            ClassKey::Site(s, n) => d.field("site", &format_args!("{s}")).field("name", &n),
            ClassKey::Instance => d.field("class", &"<anonymous>"),
        };
        d.finish()
    }
}

/// Checks that taking a lock of `class` in `mode` here would be safe, as if
/// it were acquired and released: use it where a lock is taken only on a rare
/// path (`might_lock` in the kernel), so the dependency is learned on every run.
#[track_caller]
pub fn might_lock(class: &'static LockClass, mode: Mode) {
    if !config::validating() {
        return;
    }
    let bits = graph::class_bits(class);
    if (bits >> CLASS_FLAGS_SHIFT) as u32 & FLAG_NOT_VALIDATED != 0 {
        return;
    }
    let a = Acq {
        instance: thread::PSEUDO_INSTANCE,
        bits,
        mode,
        subclass: 0,
        how: How::Blocking,
        site: Location::caller(),
    };
    with_thread(|t| {
        let h = t.acquire(a);
        if h.class() != 0 {
            t.release(h.instance, h.instance, h.class(), a.site);
        }
    });
}

/// A point where the current thread may sleep (block): reported inside an
/// atomic section or under an atomic class.
#[track_caller]
pub fn might_sleep() {
    if config::validating() {
        let site = Location::caller();
        with_thread(|t| t.might_sleep(site));
    }
}

/// A point where the current thread may allocate: reported under a no-alloc
/// class or inside `no_alloc`, and recorded as a dependency on the
/// allocation pseudo-lock (so a lock taken inside an allocation path closes
/// cycles through it).
#[track_caller]
pub fn might_alloc() {
    alloc::might_alloc_at(Some(Location::caller()));
}

/// Runs `f` as a scope in which allocation is forbidden.
#[track_caller]
pub fn no_alloc<R>(f: impl FnOnce() -> R) -> R {
    let _g = thread::Scope::enter(thread::ScopeKind::NoAlloc, Location::caller());
    f()
}

/// Runs `f` as an atomic section (no sleeping: like preemption off, or an
/// atomic notifier call): sleeping locks and `might_sleep()` inside are reported.
#[track_caller]
pub fn atomic_section<R>(f: impl FnOnce() -> R) -> R {
    let _g = thread::Scope::enter(thread::ScopeKind::Atomic, Location::caller());
    f()
}

/// Runs `f` as a lock's own internals: allocations inside (parking_lot_core
/// growing its hash table while a thread parks) belong to the lock, not to
/// the user's held locks, and are not checked.
#[inline]
pub fn lock_internals<R>(f: impl FnOnce() -> R) -> R {
    let _g = thread::Scope::enter(thread::ScopeKind::Internals, Location::caller());
    f()
}

/// Runs `f` inside the allocation path, holding the allocation pseudo-lock
/// (lockdep's `fs_reclaim`): annotate reclaim hooks and cache shrinkers that
/// the allocator may call, so the locks they take are ordered after every
/// lock held where memory is allocated.
#[track_caller]
pub fn allocation_path<R>(f: impl FnOnce() -> R) -> R {
    alloc::allocation_path(Location::caller(), f)
}

/// Reports if the current thread holds any lock.
#[track_caller]
pub fn assert_no_locks_held() {
    if config::validating() && THREAD.with(|t| t.depth() != 0) {
        slow::assertion("locks are held".to_owned(), Vec::new(), Location::caller());
    }
}

/// The locks the current thread holds, outermost first.
pub fn held_locks() -> Vec<HeldLock> {
    THREAD.with(|t| t.held_list())
}
