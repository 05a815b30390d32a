//! The annotations that are not a lock's: `might_*`, scopes, assertions and
//! the held-lock list.

use super::classes::ClassKey;
use super::entry::{Acq, Held, How};
use super::graph;
use super::map::LockMap;
use super::reports;
use super::rules::Finding;
use super::thread::{with_thread, Scope, ScopeKind, PSEUDO_INSTANCE};
use super::validate::{self, deliver, report_once};
use super::{alloc, config};
use crate::class::LockClass;
use crate::kind::LockKind;
use crate::mode::Mode;
use crate::report::{HeldLock, ReportKind};
use core::panic::Location;
use core::sync::atomic::AtomicU32;

/// Whether locks are being validated now: compiled in, not switched off
/// (`KERNSYNC_LOCKDEP=off`, `set_action(Action::Off)`) and no bound reached.
#[inline]
pub fn is_enabled() -> bool {
    config::validating()
}

/// Checks that taking a lock of `class` in `mode` here would be safe, as if
/// it were acquired and released: use it where a lock is taken only on a rare
/// path (`might_lock` in the kernel), so the dependency is learned on every run.
#[track_caller]
pub fn might_lock(class: &'static LockClass, mode: Mode) {
    if !config::validating() {
        return;
    }
    let bits = validate::resolve(ClassKey::Class(class), &LockKind::LOCK_MAP);
    if !bits.is_validated() {
        return;
    }
    let site = Location::caller();
    let a = Acq {
        instance: PSEUDO_INSTANCE,
        serial: 0,
        class: bits,
        mode,
        subclass: 0,
        how: How::Blocking,
        site,
    };
    // No lock stands behind it, so no lock identity either.
    static NO_LOCK: AtomicU32 = AtomicU32::new(0);
    let h = validate::acquire(a, &NO_LOCK);
    validate::release(h.instance, &NO_LOCK, h.instance, h.class(), site);
}

/// A point where the current thread may sleep (block): reported inside an
/// atomic section or under an atomic class.
#[track_caller]
pub fn might_sleep() {
    if config::validating() {
        let site = Location::caller();
        let raised = with_thread(|t| {
            let key = (ReportKind::SleepInAtomic, site);
            t.in_atomic()
                .then(|| report_once(t, |g| g.first_report(key), Finding::MightSleep(site)))
                .flatten()
        });
        deliver(raised, false);
    }
}

impl LockMap {
    /// A wait that releases this lock, held by the current thread, and takes
    /// it again (a condition variable's): a [`might_sleep`] point, then the
    /// release and a blocking re-acquisition as the lock was held (mode,
    /// subclass, nest lock, stated order: [`held_as`](LockMap::held_as),
    /// [`reacquire`](LockMap::reacquire)), recorded before `wait` runs,
    /// since re-taking is what may block. Returns what `wait` returns and
    /// the re-acquisition's token, for a guard that keeps one; `None` when
    /// the lock is not tracked (nothing was redone).
    #[track_caller]
    pub fn around_wait<R>(&self, wait: impl FnOnce() -> R) -> (R, Option<Held>) {
        might_sleep();
        let again = self.held_as().map(|how| {
            self.release_unpaired();
            self.reacquire(how)
        });
        (wait(), again)
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
    let _g = Scope::enter(ScopeKind::NoAlloc, Location::caller());
    f()
}

/// Runs `f` as an atomic section (no sleeping: like preemption off, or an
/// atomic notifier call): sleeping locks and `might_sleep()` inside are reported.
#[track_caller]
pub fn atomic_section<R>(f: impl FnOnce() -> R) -> R {
    let _g = Scope::enter(ScopeKind::Atomic, Location::caller());
    f()
}

/// Runs `f` as a lock's own internals: allocations inside (parking_lot_core
/// growing its hash table while a thread parks) belong to the lock, not to
/// the user's held locks, and are not checked.
#[inline]
pub fn lock_internals<R>(f: impl FnOnce() -> R) -> R {
    let _g = Scope::enter(ScopeKind::Internals, Location::caller());
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
    if config::validating() && with_thread(|t| t.depth() != 0) {
        validate::assertion("locks are held".to_owned(), Vec::new());
    }
}

/// The locks the current thread holds, outermost first.
pub fn held_locks() -> Vec<HeldLock> {
    with_thread(|t| {
        graph::try_with(|g| reports::held_list(g, t)).unwrap_or_else(|| {
            t.entries()
                .map(|(e, _)| HeldLock {
                    class: format!("class#{}", e.id.class()),
                    mode: e.id.mode(),
                    site: e.report_site(),
                })
                .collect()
        })
    })
}
