//! The slow paths: everything the fast path hands over, and the builders of
//! every report. All of it runs as the validator's own work (`Busy`), builds
//! its reports first, and delivers them only after the graph lock is dropped.

use super::emit::emit;
use super::graph::{self, Bound, Cycle, Graph};
use super::thread::{
    Acq, Busy, Entry, How, ThreadState, E_ALLOC, E_NEST, E_ORDERED, E_TRY, SHARED,
};
use super::{config, Held};
use crate::class::FLAG_ATOMIC;
use crate::mode::Mode;
use crate::report::{HeldLock, Report, ReportKind, Site};
use crate::MAX_DEPTH;
use core::panic::Location;

fn thread_name() -> String {
    // `thread::current` can fail late in a thread's exit: never let it unwind.
    std::panic::catch_unwind(|| {
        std::thread::current()
            .name()
            .unwrap_or("<unnamed>")
            .to_owned()
    })
    .unwrap_or_else(|_| "<exiting>".to_owned())
}

fn backtrace() -> Option<String> {
    config::backtraces().then(|| std::backtrace::Backtrace::force_capture().to_string())
}

fn report(
    kind: ReportKind,
    detail: String,
    classes: Vec<String>,
    g: &Graph,
    t: &ThreadState,
) -> Report {
    Report {
        kind,
        thread: thread_name(),
        detail,
        classes,
        acquiring: None,
        cycle: Vec::new(),
        held: g.held_list(t),
        backtrace: backtrace(),
    }
}

fn acq_site(a: &Acq) -> Site {
    if a.how == How::Alloc {
        Site::Allocation
    } else {
        Site::Code(a.site)
    }
}

fn acquiring(g: &Graph, a: &Acq) -> HeldLock {
    HeldLock {
        class: g.label(a.class(), a.subclass),
        mode: a.mode,
        site: acq_site(a),
    }
}

/// Marks a report-raising region as one that cannot unwind (the allocator).
struct NoUnwind<'a>(&'a ThreadState, bool);

impl<'a> NoUnwind<'a> {
    fn enter(t: &'a ThreadState, on: bool) -> NoUnwind<'a> {
        if on {
            t.no_unwind.set(t.no_unwind.get() + 1);
        }
        NoUnwind(t, on)
    }
}

impl Drop for NoUnwind<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.no_unwind.set(self.0.no_unwind.get() - 1);
        }
    }
}

/// What `check` decided besides its reports.
struct Verdict {
    flags: u8,
    order: u64,
    /// Merge into the top entry (nest lock) instead of pushing.
    merge: bool,
}

/// Everything about an acquisition the fast path did not settle.
#[cold]
#[inline(never)]
pub(crate) fn acquire(t: &ThreadState, a: Acq) -> Held {
    let depth = t.depth();
    let key = t.key_with(&a);
    if t.in_graph.get() {
        // A lock of the allocator that serves the validator's own allocation:
        // the allocator's business, tracked (its release must match) but not
        // validated; its order is learned from the program's allocations.
        return if depth < MAX_DEPTH {
            t.push(&a, key, a.how.flags(), 0)
        } else {
            Held::UNTRACKED
        };
    }
    let _busy = Busy::enter(t);
    let _nu = NoUnwind::enter(t, a.how == How::Alloc);
    if depth >= MAX_DEPTH {
        // A lock merged into the top nest-lock entry takes no new entry.
        if !merges_into_top(t, &a) {
            depth_exceeded(t, &a);
            return Held::UNTRACKED;
        }
        if t.in_allocator.get() != 0 {
            return merge_into_top(t, &a);
        }
    }
    if a.how == How::Try {
        // Cannot wait: no dependency into it, no recursion or sleep check.
        return t.push(&a, key, E_TRY, 0);
    }
    if t.in_allocator.get() != 0 {
        // Inside the inner allocator nothing may allocate: validate later.
        super::alloc::defer(t, a, key);
        let order = match a.how {
            How::Nest(outer) => outer as u64,
            How::Ordered(k) => k,
            _ => 0,
        };
        return t.push(&a, key, a.how.flags(), order);
    }
    let mut reports = Vec::new();
    let v = graph::with(|g| check(g, t, &a, key, &mut reports));
    for r in reports {
        emit(r);
    }
    if v.merge {
        return merge_into_top(t, &a);
    }
    t.push(&a, key, v.flags, v.order)
}

/// Whether `a`, under a nest lock, joins the top entry (the same class and
/// subclass, itself taken under a nest lock).
fn merges_into_top(t: &ThreadState, a: &Acq) -> bool {
    let depth = t.depth();
    matches!(a.how, How::Nest(_)) && depth != 0 && {
        let top = t.entry(depth - 1);
        top.flags & E_NEST != 0 && top.class == a.class() && top.subclass == a.subclass
    }
}

/// Counts `a` into the top entry instead of pushing it.
fn merge_into_top(t: &ThreadState, a: &Acq) -> Held {
    let depth = t.depth();
    let mut top = t.entry(depth - 1);
    top.refs += 1;
    t.set_entry(depth - 1, top);
    Held::tracked(a.instance, a.class(), a.mode)
}

/// Validates an acquisition that was made inside the inner allocator, now
/// that allocating is safe, against the held locks recorded then.
pub(crate) fn replay(held: &[(Entry, usize)], a: Acq, key: u64, lost: bool) {
    super::thread::THREAD.with(|real| {
        let _busy = Busy::enter(real);
        let _nu = NoUnwind::enter(real, true);
        let t = ThreadState::detached(held, real.atomic_scopes.get());
        let mut reports = Vec::new();
        graph::with(|g| {
            check(g, &t, &a, key, &mut reports);
            if lost && g.first_report("lost in allocator") {
                reports.push(capacity_report(
                    g,
                    &t,
                    "the bound of one new lock chain per allocation (a second one inside the same allocator call could not be recorded)".to_owned(),
                ));
            }
        });
        for r in reports {
            emit(r);
        }
    });
}

/// The checks of one acquisition: sleep in atomic context, the same lock
/// again, nest and stated-order annotations, and (for a chain not cached)
/// the same-class rule and the new dependencies.
fn check(g: &mut Graph, t: &ThreadState, a: &Acq, key: u64, reports: &mut Vec<Report>) -> Verdict {
    let a = *a;
    let depth = t.depth();
    let mut flags = a.how.flags();
    let mut order = 0;
    let mut merge = false;
    let site = acq_site(&a);
    // A succeeded try cannot have waited: only acquisitions that may block
    // are sleeping ones.
    if t.in_atomic()
        && a.class_flags() & FLAG_ATOMIC == 0
        && a.how != How::Try
        && g.first_report((ReportKind::SleepInAtomic, a.site))
    {
        let name = g.label(a.class(), a.subclass);
        let what = if a.how == How::Alloc {
            // An allocation may sleep (reclaim), as in the kernel.
            "allocating (an allocation may sleep: reclaim)".to_owned()
        } else {
            format!("taking sleeping lock \"{name}\" at {site}")
        };
        let mut r = report(
            ReportKind::SleepInAtomic,
            format!("{what} in an atomic context"),
            vec![name],
            g,
            t,
        );
        r.acquiring = Some(acquiring(g, &a));
        reports.push(r);
    }
    // The same lock again: only a recursive read of a read-held lock is fine.
    for i in 0..depth {
        let e = t.entry(i);
        if t.instance(i) == a.instance
            && !(a.mode.is_recursive() && e.mode.is_shared())
            && e.flags & E_NEST == 0
            && g.first_report((ReportKind::RecursiveLocking, a.instance, a.site))
        {
            let name = g.label(a.class(), a.subclass);
            let mut r = report(
                ReportKind::RecursiveLocking,
                format!(
                    "trying to acquire \"{name}\" ({}) at {site}, but this thread already holds this very lock ({}) since {}",
                    a.mode, e.mode, e.site
                ),
                vec![name.clone(), name],
                g,
                t,
            );
            r.acquiring = Some(acquiring(g, &a));
            reports.push(r);
        }
    }
    match a.how {
        How::Nest(outer) => {
            if !(0..depth).any(|i| t.instance(i) == outer)
                && g.first_report(("nest", a.class(), a.site))
            {
                let name = g.label(a.class(), a.subclass);
                let mut r = report(
                    ReportKind::RecursiveLocking,
                    format!(
                        "taking \"{name}\" at {site} under a nest lock this thread does not hold"
                    ),
                    vec![name],
                    g,
                    t,
                );
                r.acquiring = Some(acquiring(g, &a));
                reports.push(r);
            }
            merge = merges_into_top(t, &a);
            flags |= E_NEST;
            order = outer as u64;
        }
        How::Ordered(k) => {
            flags |= E_ORDERED;
            order = k;
            for i in 0..depth {
                let e = t.entry(i);
                if e.class == a.class()
                    && e.subclass == a.subclass
                    && e.flags & E_ORDERED != 0
                    && e.order >= k
                    && g.first_report(("order", a.class(), a.site, e.site))
                {
                    let name = g.label(a.class(), a.subclass);
                    let mut r = report(
                        ReportKind::RecursiveLocking,
                        format!(
                            "taking \"{name}\" with order key {k} at {site} while holding one with key {} (taken at {}): out of the stated order",
                            e.order, e.site
                        ),
                        vec![name.clone(), name],
                        g,
                        t,
                    );
                    r.acquiring = Some(acquiring(g, &a));
                    reports.push(r);
                }
            }
        }
        _ => {}
    }
    if depth != 0 && !merge && !graph::chain_cached(key) {
        if let Err(b) = validate_chain(g, t, &a, key, reports) {
            let what = b.describe(&g.limits());
            reports.push(capacity_report(g, t, what));
        }
    }
    Verdict {
        flags,
        order,
        merge,
    }
}

/// A chain not seen before: the same-class rule, then every edge from a held
/// lock to the new one, each checked for a strong cycle.
fn validate_chain(
    g: &mut Graph,
    t: &ThreadState,
    a: &Acq,
    key: u64,
    reports: &mut Vec<Report>,
) -> Result<(), Bound> {
    let to = g.node(a.class(), a.subclass)?;
    let site = acq_site(a);
    for i in 0..t.depth() {
        let e = t.entry(i);
        if e.class != a.class() || e.subclass != a.subclass || t.instance(i) == a.instance {
            continue;
        }
        let allowed = (a.mode.is_recursive() && e.mode.is_shared())
            || matches!(a.how, How::Nest(_))
            || (matches!(a.how, How::Ordered(_)) && e.flags & E_ORDERED != 0);
        if !allowed
            && g.first_report((
                ReportKind::RecursiveLocking,
                a.class(),
                a.subclass,
                a.site,
                e.site,
            ))
        {
            let name = g.label(a.class(), a.subclass);
            let mut r = report(
                ReportKind::RecursiveLocking,
                format!(
                    "trying to acquire \"{name}\" ({}) at {site}, but this thread already holds another lock of the same class ({}, taken at {})",
                    a.mode, e.mode, e.site
                ),
                vec![name.clone(), name],
                g,
                t,
            );
            r.acquiring = Some(acquiring(g, a));
            reports.push(r);
        }
    }
    // Innermost held lock first: when one acquisition closes cycles through
    // several held locks, the one reported is through the lock taken last
    // (the one Linux lockdep links the new lock to), and only that one: the
    // others are the same deadlock seen from further out, and every edge is
    // still recorded.
    let mut reported = false;
    for i in (0..t.depth()).rev() {
        let e = t.entry(i);
        let from = g.node(e.class, e.subclass)?;
        let held_at = if e.flags & E_ALLOC != 0 {
            Site::Allocation
        } else {
            Site::Code(e.site)
        };
        if let Some(cycle) = g.add_edge(from, to, e.mode, a.mode, held_at, site, false)? {
            if !reported {
                if let Some(r) = cycle_report(g, t, Some(a), cycle) {
                    reports.push(r);
                    reported = true;
                }
            }
        }
    }
    g.insert_chain(key)
}

/// The report of a strong cycle, once per distinct cycle.
fn cycle_report(g: &mut Graph, t: &ThreadState, a: Option<&Acq>, cycle: Cycle) -> Option<Report> {
    let mut ids = cycle.0.clone();
    ids.sort_unstable();
    if !g.first_report(("cycle", ids)) {
        return None;
    }
    let deps: Vec<_> = cycle.0.iter().map(|&e| g.dependency(e)).collect();
    let declared = deps.iter().any(|d| d.declared);
    let kind = if declared {
        ReportKind::OrderViolation
    } else {
        ReportKind::CircularDependency
    };
    let closing = deps.last()?;
    let detail = match a {
        Some(a) => format!(
            "trying to acquire \"{}\" ({}) at {}, while holding \"{}\" ({}) taken at {}, which already depends on the new lock{}",
            closing.to,
            a.mode,
            acq_site(a),
            closing.from,
            closing.held_mode,
            closing.held_at,
            if declared { " by a declared order" } else { "" }
        ),
        None => format!(
            "the declared orders of \"{}\" and \"{}\" contradict each other",
            closing.from, closing.to
        ),
    };
    let mut r = report(
        kind,
        detail,
        deps.iter().map(|d| d.from.clone()).collect(),
        g,
        t,
    );
    r.acquiring = a.map(|a| acquiring(g, a));
    r.cycle = deps;
    Some(r)
}

fn capacity_report(g: &Graph, t: &ThreadState, what: String) -> Report {
    config::exhausted();
    report(
        ReportKind::CapacityExhausted,
        format!("{what} was reached; validation is off from now on (the locks keep working)"),
        Vec::new(),
        g,
        t,
    )
}

/// A bound reached while resolving a class.
pub(crate) fn capacity(described: String) {
    super::thread::THREAD.with(|t| {
        let r = graph::try_with(|g| {
            config::exhausted();
            g.first_report("capacity").then(|| {
                report(
                    ReportKind::CapacityExhausted,
                    format!("{described} was reached; validation is off from now on (the locks keep working)"),
                    Vec::new(),
                    g,
                    t,
                )
            })
        });
        if let Some(r) = r.flatten() {
            emit(r);
        }
    });
}

/// Declared orders that contradict each other, found at class registration.
pub(crate) fn declared_cycle(cycle: Cycle) {
    super::thread::THREAD.with(|t| {
        if let Some(r) = graph::try_with(|g| cycle_report(g, t, None, cycle)).flatten() {
            emit(r);
        }
    });
}

fn depth_exceeded(t: &ThreadState, a: &Acq) {
    let r = graph::with(|g| {
        config::exhausted();
        let mut r = report(
            ReportKind::DepthExceeded,
            format!(
                "taking \"{}\" at {} would hold more than {MAX_DEPTH} locks; validation is off from now on (the locks keep working)",
                g.label(a.class(), a.subclass),
                acq_site(a)
            ),
            Vec::new(),
            g,
            t,
        );
        r.acquiring = Some(acquiring(g, a));
        r
    });
    emit(r);
}

/// A release the fast path could not match to the top entry: `instance` is
/// the lock released, `token` the instance its token was made for (the
/// same, unless the token was passed to another lock's map).
#[cold]
#[inline(never)]
pub(crate) fn release(
    t: &ThreadState,
    instance: usize,
    token: usize,
    class: u32,
    site: &'static Location<'static>,
) {
    if class == 0 {
        return; // an untracked acquisition
    }
    if token != instance {
        mismatched_token(t, class, "releasing", site);
    }
    if let Some(i) = t.find(instance, class) {
        let mut e = t.entry(i);
        if e.refs != 0 {
            e.refs -= 1;
            t.set_entry(i, e);
            if t.instance(i) == instance {
                // The lock the merged entry recorded is gone; the others
                // of its class are matched by class from now on.
                t.set_instance(i, SHARED);
            }
        } else {
            t.remove(i);
        }
        return;
    }
    not_held(t, class, "releasing", site);
}

/// Reports an operation (`what`: "releasing", "downgrading", ..) on a lock
/// this thread does not hold, once per class and site.
#[cold]
pub(crate) fn not_held(t: &ThreadState, class: u32, what: &str, site: &'static Location<'static>) {
    bad_unlock(t, class, site, |name| {
        format!("{what} \"{name}\" at {site}, which this thread does not hold")
    });
}

/// Reports a token passed to the map of a lock other than the one it was
/// made for: the operation applies to the lock whose map was called.
#[cold]
pub(crate) fn mismatched_token(
    t: &ThreadState,
    class: u32,
    what: &str,
    site: &'static Location<'static>,
) {
    bad_unlock(t, class, site, |name| {
        format!(
            "{what} \"{name}\" at {site} with the acquisition token of another lock (a `Held` goes back to the `LockMap` that made it); applied to \"{name}\""
        )
    });
}

fn bad_unlock(
    t: &ThreadState,
    class: u32,
    site: &'static Location<'static>,
    detail: impl FnOnce(&str) -> String,
) {
    if !config::validating() {
        return;
    }
    let _busy = Busy::enter(t);
    let r = graph::try_with(|g| {
        g.first_report((ReportKind::BadUnlock, class, site))
            .then(|| {
                let name = g.label(class, 0);
                report(ReportKind::BadUnlock, detail(&name), vec![name], g, t)
            })
    });
    if let Some(r) = r.flatten() {
        emit(r);
    }
}

/// An upgrade: the held read becomes a write, with edges from every lock
/// taken after it (the upgrade waits for readers while holding them).
pub(crate) fn upgrade(
    t: &ThreadState,
    instance: usize,
    class: u32,
    site: &'static Location<'static>,
) {
    let _busy = Busy::enter(t);
    let Some(i) = t.find(instance, class) else {
        return not_held(t, class, "upgrading", site);
    };
    let mut reports = Vec::new();
    let mut e = t.entry(i);
    if e.mode == Mode::Write {
        // Already exclusive: nothing to wait for, no new dependency.
        return;
    }
    let a = Acq {
        instance,
        bits: u64::from(class),
        mode: Mode::Write,
        subclass: e.subclass,
        how: How::Blocking,
        site,
    };
    graph::try_with(|g| {
        if t.in_atomic()
            && e.ctx & FLAG_ATOMIC as u8 == 0
            && g.first_report((ReportKind::SleepInAtomic, site))
        {
            let mut r = report(
                ReportKind::SleepInAtomic,
                format!("upgrading at {site} in an atomic context"),
                vec![g.label(class, e.subclass)],
                g,
                t,
            );
            r.acquiring = Some(acquiring(g, &a));
            reports.push(r);
        }
        let twice = (0..t.depth()).any(|j| j != i && t.instance(j) == instance);
        if twice && g.first_report((ReportKind::RecursiveLocking, instance, site)) {
            let name = g.label(class, e.subclass);
            let mut r = report(
                ReportKind::RecursiveLocking,
                format!("upgrading \"{name}\" at {site} while this thread holds it a second time: the upgrade waits for itself"),
                vec![name.clone(), name],
                g,
                t,
            );
            r.acquiring = Some(acquiring(g, &a));
            reports.push(r);
        }
    });
    e.mode = Mode::Write;
    e.site = site;
    t.set_entry(i, e);
    t.rekey_from(i);
    const UPGRADE_SALT: u64 = 0x5bd1_e995_0000_0001;
    let key = t.key() ^ UPGRADE_SALT;
    if i + 1 < t.depth() && !graph::chain_cached(key) {
        graph::try_with(|g| {
            let r = (|| {
                let to = g.node(class, e.subclass)?;
                for j in i + 1..t.depth() {
                    let h = t.entry(j);
                    let from = g.node(h.class, h.subclass)?;
                    if let Some(cycle) = g.add_edge(
                        from,
                        to,
                        h.mode,
                        Mode::Write,
                        Site::Code(h.site),
                        Site::Code(site),
                        false,
                    )? {
                        if let Some(r) = cycle_report(g, t, Some(&a), cycle) {
                            reports.push(r);
                        }
                    }
                }
                g.insert_chain(key)
            })();
            if let Err(b) = r {
                let what = b.describe(&g.limits());
                reports.push(capacity_report(g, t, what));
            }
        });
    }
    for r in reports {
        emit(r);
    }
}

/// A sleep (a `might_sleep()` point) in an atomic context.
#[cold]
pub(crate) fn sleep_in_atomic(t: &ThreadState, _a: Option<&Acq>, site: &'static Location<'static>) {
    let _busy = Busy::enter(t);
    let r = graph::try_with(|g| {
        g.first_report((ReportKind::SleepInAtomic, site)).then(|| {
            report(
                ReportKind::SleepInAtomic,
                format!("might_sleep() at {site} in an atomic context"),
                Vec::new(),
                g,
                t,
            )
        })
    });
    if let Some(r) = r.flatten() {
        emit(r);
    }
}

/// An allocation where allocating is forbidden.
#[cold]
pub(crate) fn alloc_forbidden(t: &ThreadState, site: Site, in_allocator: bool) {
    let _busy = Busy::enter(t);
    let _nu = NoUnwind::enter(t, in_allocator);
    let r = graph::try_with(|g| {
        let culprit = (0..t.depth())
            .rev()
            .map(|i| t.entry(i))
            .find(|e| e.ctx & crate::class::FLAG_NO_ALLOC as u8 != 0);
        let (why, classes, key) = match culprit {
            Some(e) => (
                format!(
                    "holding no-alloc lock \"{}\" taken at {}",
                    g.label(e.class, e.subclass),
                    e.site
                ),
                vec![g.label(e.class, e.subclass)],
                (e.class, site.location().map(|l| l as *const _ as usize)),
            ),
            None => {
                let scope = t.no_alloc_site.get();
                (
                    match scope {
                        Some(s) => format!("inside the no_alloc scope entered at {s}"),
                        None => "inside a no_alloc scope".to_owned(),
                    },
                    Vec::new(),
                    (0, scope.map(|l| l as *const _ as usize)),
                )
            }
        };
        g.first_report((
            ReportKind::AllocUnderNoAlloc,
            key,
            site.location().map(|l| l as *const _ as usize),
        ))
        .then(|| {
            report(
                ReportKind::AllocUnderNoAlloc,
                format!("allocation at {site} {why}"),
                classes,
                g,
                t,
            )
        })
    });
    if let Some(r) = r.flatten() {
        emit(r);
    }
}

/// A thread exiting with locks held.
pub(crate) fn held_at_exit(t: &ThreadState) {
    let _busy = Busy::enter(t);
    let r = graph::with(|g| {
        let first = t.entry(0);
        let held = g.held_list(t);
        let names: Vec<String> = held.iter().map(|h| h.class.clone()).collect();
        g.first_report((ReportKind::LocksHeldAtExit, first.class, first.site)).then(|| {
            report(
                ReportKind::LocksHeldAtExit,
                format!(
                    "the thread is exiting while holding {} lock(s), the first \"{}\" taken at {} (a leaked guard?)",
                    held.len(),
                    names[0],
                    first.site
                ),
                names,
                g,
                t,
            )
        })
    });
    if let Some(r) = r {
        emit(r);
    }
}

/// A failed lock assertion.
pub(crate) fn assertion(what: String, classes: Vec<String>, site: &'static Location<'static>) {
    super::thread::THREAD.with(|t| {
        let _busy = Busy::enter(t);
        let r = graph::try_with(|g| {
            report(
                ReportKind::AssertionFailed,
                format!("assertion at {site}: {what}"),
                classes,
                g,
                t,
            )
        });
        if let Some(r) = r {
            emit(r);
        }
    });
}
