//! The engine: every acquisition, release and mode change, the one
//! fast-or-slow decision, and the path from a finding to a delivered report.
//!
//! The fast paths are the held stack's own (`ThreadState::try_fast`,
//! `try_release_top`); [`acquire`] and [`release`] inline them and call the
//! cold slow paths here for everything else. A slow path runs the rules
//! under the graph lock, builds the reports there, and delivers them only
//! after the lock is dropped (a handler or a panic may run arbitrary code).

use super::chains;
use super::classes::{self, ClassKey};
use super::config;
use super::deferred;
use super::emit::emit;
use super::entry::{Acq, ClassBits, EntryId, Held, How};
use super::graph::{self, Graph};
use super::persist;
use super::reports;
use super::rules::{self, Finding};
use super::thread::{with_thread, Busy, NoUnwind, ThreadState};
use crate::kind::LockKind;
use crate::limits::MAX_DEPTH;
use crate::mode::Mode;
use crate::report::{Report, ReportKind};
use core::panic::Location;
use core::sync::atomic::{AtomicU32, Ordering};

/// [`graph::with`], rewriting the graph dump if `f` added edges.
fn with_graph<R>(f: impl FnOnce(&mut Graph) -> R) -> R {
    graph::with(|g| {
        let r = f(g);
        persist::dump_if_changed(g, config::dump_path());
        r
    })
}

/// [`with_graph`], or `None` if this thread is already inside the graph
/// lock (a lock of the allocator serving the validator's own allocation:
/// the report builders it reaches stay silent).
fn try_with_graph<R>(f: impl FnOnce(&mut Graph) -> R) -> Option<R> {
    (!graph::entered()).then(|| with_graph(f))
}

/// The reports of `found`, built under the graph lock.
fn build_all(g: &Graph, t: &ThreadState, found: Vec<Finding>) -> Vec<Report> {
    found.into_iter().map(|f| reports::build(g, t, f)).collect()
}

/// Reports built inside the validator's closures, delivered by the
/// `#[track_caller]` entry point that called in, once out of every closure:
/// `#[track_caller]` does not pass through closures, and the panic of a
/// report must name the user's lock call, not a line in here.
pub(crate) type Raised = Vec<Report>;

/// Delivers `raised` (see [`Raised`]); `no_unwind`: raised inside the
/// allocator, where a report cannot unwind.
#[track_caller]
pub(crate) fn deliver(raised: impl IntoIterator<Item = Report>, no_unwind: bool) {
    for r in raised {
        emit(r, no_unwind);
    }
}

/// The report of `f` if `first` says (under the graph lock) that it is new.
/// Silent inside the graph lock.
pub(crate) fn report_once(
    t: &ThreadState,
    first: impl FnOnce(&mut Graph) -> bool,
    f: Finding,
) -> Option<Report> {
    let _busy = Busy::enter(t);
    try_with_graph(|g| first(g).then(|| reports::build(g, t, f))).flatten()
}

/// A bound was reached: validation is off for good, and the finding says so.
fn exhausted(b: graph::Bound) -> Finding {
    config::exhausted();
    Finding::Bound(b)
}

// ---------------------------------------------------------------- classes

/// The class of `key`, registering it on first use; reports declared orders
/// that contradict each other and a class bound reached.
#[cold]
#[track_caller]
pub(crate) fn resolve(key: ClassKey, kind: &'static LockKind) -> ClassBits {
    if graph::entered() && !matches!(key, ClassKey::Class(_)) {
        return ClassBits::UNRESOLVED;
    }
    if let Some(bits) = classes::lookup(key) {
        return bits;
    }
    if graph::entered() {
        return ClassBits::UNRESOLVED;
    }
    let (bits, raised) = with_thread(|t| {
        // The validator's own work throughout: its allocations are its own.
        let _busy = Busy::enter(t);
        let mut cycles = Vec::new();
        let r = with_graph(|g| classes::register(g, key, kind, &mut cycles));
        let mut raised = Raised::new();
        for cycle in cycles {
            let first = |g: &mut Graph| rules::new_cycle(g, &cycle);
            raised.extend(report_once(t, first, Finding::Cycle(None, cycle.clone())));
        }
        let bits = r.unwrap_or_else(|b| {
            config::exhausted();
            raised.extend(report_once(
                t,
                |g| g.first_report("capacity"),
                Finding::Bound(b),
            ));
            ClassBits::NOT_VALIDATED
        });
        (bits, raised)
    });
    deliver(raised, false);
    bits
}

/// The label of a class, or `class#N` inside the graph lock.
pub(crate) fn label(class: u32) -> String {
    graph::try_with(|g| g.label(class, 0)).unwrap_or_else(|| format!("class#{class}"))
}

// ---------------------------------------------------------------- acquire

/// Any acquisition: the fast path when a cache hit can settle it, else the
/// slow one. The one place that decides. The thread-local access closes
/// over the fast path alone, so it inlines into the lock's call site, and a
/// miss is one out-of-line call with the words the id does not say.
///
/// `serial` is the lock's identity (`LockMap::serial`), read only by the
/// slow paths; `a.serial` is ignored.
#[inline(always)]
#[track_caller]
pub(crate) fn acquire(a: Acq, serial: &AtomicU32) -> Held {
    if !a.how.cacheable() {
        return acquire_slow(Acq {
            serial: serial.load(Ordering::Relaxed),
            ..a
        });
    }
    let id = a.id();
    match with_thread(|t| t.try_fast(a.instance, id, a.site)) {
        Some(held) => held,
        None => acquire_missed(a.instance, serial, id, a.site),
    }
}

/// [`acquire`] of a lock taken by depth (`LockMap::nesting_by_depth`,
/// `LockMap::first_use`): `a.subclass` is replaced by one above the highest
/// subclass of its class the thread holds, picked in the fast path's visit
/// of the thread.
#[inline]
#[track_caller]
pub(crate) fn acquire_by_depth(a: Acq, serial: &AtomicU32) -> Held {
    debug_assert!(a.how.cacheable());
    match with_thread(|t| t.try_fast_by_depth(a.instance, a.id(), a.site)) {
        Ok(held) => held,
        Err(id) => acquire_missed(a.instance, serial, id, a.site),
    }
}

/// A cacheable acquisition the fast path did not settle.
#[cold]
#[inline(never)]
#[track_caller]
fn acquire_missed(
    instance: usize,
    serial: &AtomicU32,
    id: EntryId,
    site: &'static Location<'static>,
) -> Held {
    let serial = serial.load(Ordering::Relaxed);
    acquire_slow(Acq::from_id(instance, serial, id, site))
}

/// What becomes of an acquisition once it is checked.
enum Then {
    /// Not tracked (a bound was reached).
    Untracked,
    /// Pushed with this chain key.
    Push(u64),
    /// Counted into the top (nest) entry.
    Merge,
}

/// Everything about an acquisition the fast path did not settle: checked,
/// its reports delivered (a panic there leaves nothing pushed: the lock is
/// not taken either), then recorded.
#[cold]
#[inline(never)]
#[track_caller]
fn acquire_slow(a: Acq) -> Held {
    let mut raised = Raised::new(); // grown only under `Busy`
    let then = with_thread(|t| acquire_checked(t, &a, &mut raised));
    deliver(raised, a.how == How::Alloc);
    with_thread(|t| match then {
        Then::Untracked => Held::UNTRACKED,
        Then::Push(key) => push(t, &a, key),
        Then::Merge => t.merge_into_top(&a),
    })
}

fn acquire_checked(t: &ThreadState, a: &Acq, raised: &mut Raised) -> Then {
    if t.in_graph.get() {
        // A lock of the allocator that serves the validator's own allocation:
        // the allocator's business, tracked (its release must match) but not
        // validated; its order is learned from the program's allocations.
        return if t.depth() < MAX_DEPTH {
            Then::Push(t.key_with(a))
        } else {
            Then::Untracked
        };
    }
    let _busy = Busy::enter(t);
    let _nu = NoUnwind::enter(t, a.how == How::Alloc);
    // An entry at this address of another class is a lock freed on another
    // thread while this one held it; the address now holds a new lock.
    t.drop_stale(a.instance, a.class.class());
    let (depth, key) = (t.depth(), t.key_with(a));
    if depth >= MAX_DEPTH {
        // A lock merged into the top nest-lock entry takes no new entry.
        if !t.merges_into_top(a) {
            config::exhausted();
            raised.extend(report_once(t, |_| true, Finding::DepthExceeded(*a)));
            return Then::Untracked;
        }
        if t.in_allocator.get() != 0 {
            return Then::Merge;
        }
    }
    if a.how == How::Try {
        // Cannot wait: no dependency into it, no recursion or sleep check.
        return Then::Push(key);
    }
    if t.in_allocator.get() != 0 {
        // Inside the inner allocator nothing may allocate: validate later.
        deferred::defer(t, *a, key);
        return Then::Push(key);
    }
    let merge = with_graph(|g| {
        let mut found = Vec::new();
        let merge = check(g, t, a, key, &mut found);
        raised.extend(build_all(g, t, found));
        merge
    });
    if merge {
        Then::Merge
    } else {
        Then::Push(key)
    }
}

/// Pushes a validated acquisition, arming the thread-exit check.
fn push(t: &ThreadState, a: &Acq, key: u64) -> Held {
    let held = t.push(a, key);
    if t.unarmed() {
        arm_exit_check(t);
    }
    held
}

/// The rules of one acquisition: sleep in atomic context, the same lock
/// again, nest and stated-order annotations, and (for a chain not cached)
/// the same-class rule and the new dependencies. Returns whether `a` merges
/// into the top (nest) entry.
fn check(g: &mut Graph, t: &ThreadState, a: &Acq, key: u64, found: &mut Vec<Finding>) -> bool {
    found.extend(rules::sleep_in_atomic(g, t, a));
    rules::same_lock(g, t, a, found);
    let mut merge = false;
    match a.how {
        How::Nest(outer) => {
            found.extend(rules::nest_lock(g, t, a, outer));
            merge = t.merges_into_top(a);
        }
        How::Ordered(k) => rules::stated_order(g, t, a, k, found),
        _ => {}
    }
    if t.depth() != 0 && !merge && !chains::cached(key) {
        rules::same_class(g, t, a, found);
        if let Err(b) = rules::dependencies(g, t, a, 0..t.depth(), key, found) {
            found.push(exhausted(b));
        }
    }
    merge
}

/// Validates what was deferred inside the allocator, now that allocating
/// is safe again, against the held locks recorded then.
#[cold]
pub(crate) fn replay_deferred() {
    with_thread(|real| {
        // The validator's own work from here: the copy below allocates, and
        // an allocator that locks must not defer (and so replay) again.
        let _busy = Busy::enter(real);
        let Some(d) = deferred::take() else {
            return;
        };
        let _nu = NoUnwind::enter(real, true);
        let t = ThreadState::detached(&d.held, real.in_atomic_scope());
        let raised = with_graph(|g| {
            let mut found = Vec::new();
            check(g, &t, &d.acq, d.key, &mut found);
            if d.lost && g.first_report("lost in allocator") {
                config::exhausted();
                found.push(Finding::LostInAllocator);
            }
            build_all(g, &t, found)
        });
        deliver(raised, true);
    });
}

// ---------------------------------------------------------------- release

/// Any release: the top entry on the fast path, else the slow one.
/// `instance` is the lock released, `token` the instance its token names
/// (the same in any correct use; the slow path reports a difference).
#[inline(always)]
#[track_caller]
pub(crate) fn release(
    instance: usize,
    serial: &AtomicU32,
    token: usize,
    class: u32,
    site: &'static Location<'static>,
) {
    if !with_thread(|t| t.try_release_top(instance, class)) {
        release_slow(instance, serial, token, class, site);
    }
}

/// A release the fast path could not match to the top entry.
#[cold]
#[inline(never)]
#[track_caller]
fn release_slow(
    instance: usize,
    serial: &AtomicU32,
    token: usize,
    class: u32,
    site: &'static Location<'static>,
) {
    if class == 0 {
        return; // an untracked acquisition
    }
    let lock = (class, serial.load(Ordering::Relaxed));
    let raised = with_thread(|t| {
        // The validator's own work: the reports' vector is its allocation.
        let _busy = Busy::enter(t);
        let mut raised = Raised::new();
        if token != instance {
            raised.extend(bad_unlock(t, lock, "releasing", true, site));
        }
        match t.find(instance, class) {
            Some(i) => t.release_index(i, instance),
            None => raised.extend(bad_unlock(t, lock, "releasing", false, site)),
        }
        raised
    });
    deliver(raised, false);
}

/// The report of an operation (`what`: "releasing", "downgrading", ..) on a
/// lock (`(class, serial)`) this thread does not hold, or with the token of
/// another lock (`mismatched`): once per lock and site.
#[cold]
fn bad_unlock(
    t: &ThreadState,
    (class, serial): (u32, u32),
    what: &'static str,
    mismatched: bool,
    site: &'static Location<'static>,
) -> Option<Report> {
    if !config::validating() {
        return None;
    }
    let f = Finding::BadUnlock {
        class,
        what,
        mismatched,
        site,
    };
    let key = (ReportKind::BadUnlock, class, serial, mismatched, site);
    report_once(t, |g| g.first_report(key), f)
}

// ---------------------------------------------------------------- lifetimes

/// The serial of a lock at `instance` used for the first time (see
/// `LockMap::serial`). Any entry of this thread at that address is stale: a
/// lock never used before cannot be held, so the lock that was held there
/// was freed on another thread while this one held it. It is dropped
/// without a report (the free went unseen; nothing more is known here).
#[cold]
pub(crate) fn first_use(instance: usize) -> u32 {
    static SERIAL: AtomicU32 = AtomicU32::new(1);
    with_thread(|t| {
        while let Some(i) = t.find_exact(instance) {
            t.release_index(i, instance);
        }
    });
    SERIAL.fetch_add(1, Ordering::Relaxed)
}

/// The lock (`serial`, `class`) is being freed; it was taken at one of
/// `addrs` (where it is, where it was first used): reported if this thread
/// holds it and `report` (not a `LockMap::forgettable` lock), once per
/// lock, and its entries are removed. Only entries of its
/// class match: an entry at one of those addresses of another class is
/// another lock's.
#[cold]
pub(crate) fn lock_freed(addrs: &[usize], serial: u32, class: ClassBits, report: bool) {
    let class = class.class();
    let raised = with_thread(|t| {
        let find = || {
            addrs
                .iter()
                .find_map(|&a| t.find_exact(a).filter(|&i| t.entry(i).id.class() == class))
        };
        let i = find()?;
        let mut raised = None;
        if report && config::validating() && !t.in_graph.get() {
            let e = t.entry(i);
            let key = (ReportKind::HeldLockFreed, class, serial);
            raised = report_once(t, |g| g.first_report(key), Finding::HeldLockFreed(e));
        }
        while let Some(i) = find() {
            t.release_index(i, t.instance(i));
        }
        raised
    });
    deliver(raised, false);
}

// ---------------------------------------------------------------- modes

/// Sets the held mode of `instance`'s acquisition `held` (a downgrade or an
/// upgrade that did not wait), reporting a token of another lock or a lock
/// not held. Adds no dependency.
#[track_caller]
pub(crate) fn change_mode(
    instance: usize,
    serial: u32,
    held: &mut Held,
    mode: Mode,
    what: &'static str,
    site: &'static Location<'static>,
) {
    let class = held.class();
    if class == 0 {
        return;
    }
    let raised = with_thread(|t| {
        let _busy = Busy::enter(t);
        let mut raised = Raised::new();
        if held.instance != instance {
            raised.extend(bad_unlock(t, (class, serial), what, true, site));
        }
        match t.find(instance, class) {
            Some(i) => t.set_mode(i, mode, None),
            None => raised.extend(bad_unlock(t, (class, serial), what, false, site)),
        }
        raised
    });
    *held = Held::new(instance, held.id.with_mode(mode));
    deliver(raised, false);
}

/// Upgrades `instance`'s held (upgradable) read `held` to `Write`: a new
/// exclusive acquisition of the same lock, which waits for other readers,
/// so every lock taken after it gains an edge into it.
#[track_caller]
pub(crate) fn upgrade(
    instance: usize,
    serial: u32,
    held: &mut Held,
    site: &'static Location<'static>,
) {
    let class = held.class();
    if class == 0 {
        return;
    }
    let raised = with_thread(|t| {
        let _busy = Busy::enter(t);
        let mut raised = Raised::new();
        if held.instance != instance {
            raised.extend(bad_unlock(t, (class, serial), "upgrading", true, site));
        }
        raised.extend(upgrade_entry(t, instance, serial, class, site));
        raised
    });
    *held = Held::new(instance, held.id.with_mode(Mode::Write));
    deliver(raised, false);
}

/// The chain key of an upgrade's dependencies: the held sequence after the
/// upgrade, salted so it never stands for an ordinary acquisition's chain.
const UPGRADE_SALT: u64 = 0x5bd1_e995_0000_0001;

fn upgrade_entry(
    t: &ThreadState,
    instance: usize,
    serial: u32,
    class: u32,
    site: &'static Location<'static>,
) -> Raised {
    let _busy = Busy::enter(t);
    let Some(i) = t.find(instance, class) else {
        return bad_unlock(t, (class, serial), "upgrading", false, site)
            .into_iter()
            .collect();
    };
    let e = t.entry(i);
    if e.id.mode() == Mode::Write {
        // Already exclusive: nothing to wait for, no new dependency.
        return Raised::new();
    }
    let a = Acq {
        instance,
        serial,
        class: e.id.class_bits(),
        mode: Mode::Write,
        subclass: e.id.subclass(),
        how: How::Upgrade,
        site,
    };
    // The rules of the wait, on the stack as it is before the upgrade.
    let mut reports = try_with_graph(|g| {
        let mut found = Vec::new();
        found.extend(rules::sleep_in_atomic(g, t, &a));
        found.extend(rules::upgrade_twice(g, t, i, &a));
        build_all(g, t, found)
    })
    .unwrap_or_default();
    t.set_mode(i, Mode::Write, Some(site));
    let key = t.key() ^ UPGRADE_SALT;
    if i + 1 < t.depth() && !chains::cached(key) {
        reports.extend(
            try_with_graph(|g| {
                let mut found = Vec::new();
                if let Err(b) = rules::dependencies(g, t, &a, i + 1..t.depth(), key, &mut found) {
                    found.push(exhausted(b));
                }
                build_all(g, t, found)
            })
            .unwrap_or_default(),
        );
    }
    reports
}

/// Reports a failed lock assertion at the caller's line.
#[track_caller]
pub(crate) fn assertion(what: String, classes: Vec<String>) {
    let site = Location::caller();
    let f = Finding::Assertion {
        what,
        classes,
        site,
    };
    let raised = with_thread(|t| report_once(t, |_| true, f));
    deliver(raised, false);
}

// ---------------------------------------------------------------- thread exit

thread_local! {
    static EXIT_CHECK: ExitCheck = const { ExitCheck };
}

/// Registers the thread-exit check. Registering a thread-local destructor
/// may allocate, so it is done as the validator's own work, and never from
/// inside the allocator (it is retried on a later acquisition).
#[cold]
pub(crate) fn arm_exit_check(t: &ThreadState) {
    if t.in_alloc.get() != 0 || t.no_unwind.get() != 0 {
        return;
    }
    let _busy = Busy::enter(t);
    if EXIT_CHECK.try_with(|_| ()).is_ok() {
        t.set_armed();
    }
}

/// Reports locks still held when a thread exits (a leaked guard).
struct ExitCheck;

impl Drop for ExitCheck {
    fn drop(&mut self) {
        // The held stack has no destructor, so it is still readable here.
        with_thread(|t| {
            if t.depth() != 0 && config::validating() {
                let _nu = NoUnwind::enter(t, true);
                let first = t.entry(0);
                let key = (ReportKind::LocksHeldAtExit, first.id.class(), first.site);
                let raised = report_once(t, |g| g.first_report(key), Finding::HeldAtExit);
                deliver(raised, true);
            }
        });
    }
}
