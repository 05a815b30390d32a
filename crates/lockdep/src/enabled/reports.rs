//! The report builder: one function from a [`Finding`] to a [`Report`].
//!
//! Every report the validator raises is built here, while the graph is
//! locked (labels and edges are read from it), and delivered by the layer
//! above only after the graph lock is dropped.

use super::backtrace;
use super::config;
use super::entry::{Acq, Entry, How};
use super::graph::Graph;
use super::rules::{Broken, Finding};
use super::thread::ThreadState;
use crate::limits::MAX_DEPTH;
use crate::mode::Mode;
use crate::report::{HeldLock, Report, ReportKind, Site};

/// The report of `f`, found on the thread whose state is `t`.
pub(crate) fn build(g: &Graph, t: &ThreadState, f: Finding) -> Report {
    let backtrace = config::backtraces().then(backtrace::capture);
    let (kind, mut detail, classes, acquiring) = describe(g, t, &f);
    if let Finding::AllocForbidden(Site::Allocation, _) = f {
        // No line of its own: the stack says where, when there is one.
        detail = detail.replacen(ALLOCATION, &allocation(backtrace.as_deref()), 1);
    }
    let mut r = Report {
        kind,
        thread: thread_name(),
        task: task_name(t),
        detail,
        classes,
        acquiring: acquiring.map(|a| acquiring_lock(g, &a)),
        cycle: Vec::new(),
        held: held_list(g, t),
        held_in: match &backtrace {
            Some(bt) => held_functions(g, t, bt),
            None => Vec::new(),
        },
        backtrace,
        at: site(t, &f),
        hint: hint(g, &f),
    };
    if let Finding::Cycle(_, cycle) = f {
        r.cycle = cycle.0.iter().map(|&e| g.dependency(e)).collect();
    }
    r
}

/// What to do about `f`, from what its lock offers (its kind): a hint names
/// only methods the lock's type has, and says so when no annotation helps.
fn hint(g: &Graph, f: &Finding) -> Option<String> {
    let Finding::Acquire(a, broken) = f else {
        return None;
    };
    let k = g.kind(a.class.class());
    let (lock, never) = (k.name, "no nesting annotation can change that");
    Some(match broken {
        Broken::SameLock(e) if e.id.mode().is_shared() && a.mode == Mode::Read => {
            match k.recursive_read {
                Some(m) => format!("A writer waiting between the two reads blocks the second: take the inner one with a recursive read ({m}) if it must nest."),
                None => format!("A writer waiting between the two reads blocks the second, and {lock} has no recursive read: take the read once and pass the guard down."),
            }
        }
        Broken::SameLock(e) if e.id.mode().is_shared() => match k.upgradable_read {
            Some(m) => format!("A write under a read of the same lock waits for that read, and {never}: take the read with {m} and upgrade it, or drop the read before writing."),
            None => format!("A write under a read of the same lock waits for that read, and {never}: drop the read before writing."),
        },
        Broken::SameLock(_) => format!("{lock} is not reentrant: taking it again waits for itself, and {never}. Use the guard you hold (pass it down), or drop it first."),
        Broken::SameClass(_) => {
            let mut ways: Vec<String> = Vec::new();
            ways.extend(k.nested.map(|m| format!("{m} (a subclass)")));
            ways.extend(k.nest_lock.map(|m| format!("{m} (many under one outer lock)")));
            ways.extend(k.ordered.map(|m| format!("{m} (a stated key order)")));
            let named = k.named.map_or(String::new(), |m| format!("give each lock its own class ({m}), or "));
            if ways.is_empty() {
                format!("{lock} has no nesting annotations: {named}do not nest two locks of one class.")
            } else {
                format!("If two locks of this class are always taken in one order, say so: {}; otherwise {named}take them one at a time.", ways.join(", "))
            }
        }
        Broken::UpgradeTwice => format!("The upgrade waits for every other reader of this {lock}, this thread's other hold of it included: release that one first."),
        Broken::NestNotHeld => "Take the nest lock (the outer lock passed in) before the locks nested under it.".to_owned(),
        Broken::OutOfOrder(_) => "Take locks of this class in increasing key order, or release the one with the larger key first.".to_owned(),
        Broken::SleepInAtomic => return None,
    })
}

/// Where the problem of `f` was found (see `Report::site`).
fn site(t: &ThreadState, f: &Finding) -> Option<Site> {
    match f {
        Finding::Acquire(a, _) | Finding::Cycle(Some(a), _) | Finding::DepthExceeded(a) => {
            Some(a.report_site())
        }
        Finding::BadUnlock { site, .. }
        | Finding::MightSleep(site)
        | Finding::Assertion { site, .. }
        | Finding::TaskPollUnbalanced { site, .. } => Some(Site::Code(site)),
        Finding::AllocForbidden(site, _) => Some(*site),
        Finding::HeldLockFreed(e) | Finding::HeldAcrossAwait(e) => Some(e.report_site()),
        Finding::HeldAtExit => Some(t.entry(0).report_site()),
        Finding::Cycle(None, _)
        | Finding::Bound(_)
        | Finding::LostInAllocator
        | Finding::TaskDepthExceeded(_) => None,
    }
}

/// A thread's held locks, labelled.
pub(crate) fn held_list(g: &Graph, t: &ThreadState) -> Vec<HeldLock> {
    t.entries()
        .map(|(e, _)| HeldLock {
            class: g.label(e.id.class(), e.id.subclass()),
            mode: e.id.mode(),
            site: e.report_site(),
        })
        .collect()
}

/// The function that took each held lock, where known: seen at its site
/// by an earlier backtrace, or a frame of this report's own (`bt`) there.
fn held_functions(g: &Graph, t: &ThreadState, bt: &str) -> Vec<Option<std::sync::Arc<str>>> {
    t.entries()
        .map(|(e, _)| {
            let site = e.report_site();
            g.function_at(site).or_else(|| {
                let at = site.location()?;
                backtrace::function_at(bt, at).map(Into::into)
            })
        })
        .collect()
}

fn acquiring_lock(g: &Graph, a: &Acq) -> HeldLock {
    HeldLock {
        class: label(g, a),
        mode: a.mode,
        site: a.report_site(),
    }
}

fn label(g: &Graph, a: &Acq) -> String {
    g.label(a.class.class(), a.subclass)
}

/// The task being polled on `t`'s thread, if any (`Some(None)`: unnamed).
fn task_name(t: &ThreadState) -> Option<Option<String>> {
    let task = t.task.get()?;
    // SAFETY: `t` is this thread's state (or a detached copy, whose `task`
    // is `None`), and its `task` is set only for the duration of the
    // tracked or hooked poll running now, which keeps the name alive.
    Some(unsafe { task.get() }.map(str::to_owned))
}

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

/// Stands for an allocation through `CheckedAlloc` in a detail, until
/// [`allocation`] says where it was.
const ALLOCATION: &str = "an allocation through `CheckedAlloc`";

/// An allocation through `CheckedAlloc`, which has no caller's line: the
/// first frame of the (trimmed) backtrace names it, or how to get one.
fn allocation(bt: Option<&str>) -> String {
    let first = bt
        .and_then(backtrace::parse)
        .and_then(|frames| frames.first().copied());
    match first {
        Some(f) => match f.location {
            Some(at) => format!("{ALLOCATION} in {} at {at}", f.function),
            None => format!("{ALLOCATION} in {}", f.function),
        },
        None => format!("{ALLOCATION} (set KERNSYNC_LOCKDEP_BACKTRACE=1 to see where)"),
    }
}

const OFF_FROM_NOW: &str = "validation is off from now on (the locks keep working)";

/// What a report says: kind, detail, classes, and the acquisition under way.
type Text = (ReportKind, String, Vec<String>, Option<Acq>);

/// The text of a finding.
fn describe(g: &Graph, t: &ThreadState, f: &Finding) -> Text {
    use ReportKind::*;
    match f {
        Finding::Acquire(a, broken) => describe_acquisition(g, a, broken),
        Finding::Cycle(a, cycle) => cycle_text(g, a.as_ref(), &cycle.0),
        Finding::Bound(b) => {
            let detail = format!("{} was reached; {OFF_FROM_NOW}", b.describe(&g.limits()));
            (CapacityExhausted, detail, Vec::new(), None)
        }
        Finding::LostInAllocator => {
            let detail = format!("the bound of one new lock chain per allocation (a second one inside the same allocator call could not be recorded) was reached; {OFF_FROM_NOW}");
            (CapacityExhausted, detail, Vec::new(), None)
        }
        Finding::DepthExceeded(a) => {
            let detail = format!(
                "taking \"{}\" at {} would hold more than {MAX_DEPTH} locks; {OFF_FROM_NOW}",
                label(g, a),
                a.report_site()
            );
            (DepthExceeded, detail, Vec::new(), Some(*a))
        }
        Finding::BadUnlock {
            class,
            what,
            mismatched,
            site,
        } => {
            let name = g.label(*class, 0);
            let detail = if *mismatched {
                format!("{what} \"{name}\" at {site} with the acquisition token of another lock (a `Held` goes back to the `LockMap` that made it); applied to \"{name}\"")
            } else {
                format!("{what} \"{name}\" at {site}, which this thread does not hold")
            };
            (BadUnlock, detail, vec![name], None)
        }
        Finding::MightSleep(site) => {
            let detail = format!("might_sleep() at {site} in an atomic context");
            (SleepInAtomic, detail, Vec::new(), None)
        }
        Finding::AllocForbidden(site, culprit) => alloc_text(g, t, *site, culprit.as_ref()),
        Finding::HeldAtExit => {
            let names: Vec<String> = held_list(g, t).into_iter().map(|h| h.class).collect();
            let detail = format!(
                "the thread is exiting while holding {} lock(s), the first \"{}\" taken at {} (a leaked guard?)",
                names.len(),
                names[0],
                t.entry(0).site
            );
            (LocksHeldAtExit, detail, names, None)
        }
        Finding::HeldLockFreed(e) => {
            let name = g.label(e.id.class(), e.id.subclass());
            let detail = format!(
                "\"{name}\" ({}), taken at {}, was freed while this thread holds it (its guard was forgotten, or the lock was moved or dropped under it); its held entry is removed",
                e.id.mode(),
                e.site
            );
            (HeldLockFreed, detail, vec![name], None)
        }
        Finding::HeldAcrossAwait(e) => held_across_await(g, t, e),
        Finding::TaskDepthExceeded(n) => task_too_deep(t, *n),
        Finding::TaskPollUnbalanced { call, why, site } => {
            let detail = format!("{call} at {site}: {why}");
            (BadUnlock, detail, Vec::new(), None)
        }
        Finding::Assertion {
            what,
            classes,
            site,
        } => {
            let detail = format!("assertion at {site}: {what}");
            (AssertionFailed, detail, classes.clone(), None)
        }
    }
}

/// `task 'name'`, or `an unnamed task`, for the task polled on `t`'s thread.
fn task_label(t: &ThreadState) -> String {
    match task_name(t) {
        Some(Some(name)) => format!("task '{name}'"),
        _ => "an unnamed task".to_owned(),
    }
}

/// The text of a task whose `n` held entries do not fit on `t`'s stack.
fn task_too_deep(t: &ThreadState, n: usize) -> Text {
    let detail = format!(
        "resuming {} with its {n} held lock(s) on a thread holding {} would hold more than {MAX_DEPTH} locks; {OFF_FROM_NOW}",
        task_label(t),
        t.depth()
    );
    (ReportKind::DepthExceeded, detail, Vec::new(), None)
}

/// The text of a thread-bound lock (`e`) held across an `.await`.
fn held_across_await(g: &Graph, t: &ThreadState, e: &Entry) -> Text {
    let name = g.label(e.id.class(), e.id.subclass());
    let detail = format!(
        "\"{name}\" ({}), taken at {}, is held by {} across an .await (its poll returned Pending), but it is thread-bound: the task may resume on another thread, and this thread polls other tasks meanwhile. Release it before awaiting, or use an async lock (`kernsync::future::Mutex` or `RwSem`; a `LockMap` marked `awaitable`)",
        e.id.mode(),
        e.report_site(),
        task_label(t)
    );
    (ReportKind::HeldAcrossAwait, detail, vec![name], None)
}

/// The text of an allocation where allocating is forbidden, under the
/// no-alloc entry `culprit` (or inside a `no_alloc` scope).
fn alloc_text(g: &Graph, t: &ThreadState, site: Site, culprit: Option<&Entry>) -> Text {
    use ReportKind::*;
    let (why, classes) = match culprit {
        Some(e) => {
            let name = g.label(e.id.class(), e.id.subclass());
            let why = format!("holding no-alloc lock \"{name}\" taken at {}", e.site);
            (why, vec![name])
        }
        None => match t.no_alloc_site() {
            Some(s) => (
                format!("inside the no_alloc scope entered at {s}"),
                Vec::new(),
            ),
            None => ("inside a no_alloc scope".to_owned(), Vec::new()),
        },
    };
    let detail = match site {
        Site::Allocation => format!("{ALLOCATION} {why}"),
        _ => format!("allocation at {site} {why}"),
    };
    (AllocUnderNoAlloc, detail, classes, None)
}

/// The text of the rule `broken` by the acquisition (or upgrade) `a`.
fn describe_acquisition(g: &Graph, a: &Acq, broken: &Broken) -> Text {
    use ReportKind::*;
    let name = label(g, a);
    match broken {
        Broken::SleepInAtomic => {
            let what = match a.how {
                // An allocation may sleep (reclaim), as in the kernel.
                How::Alloc => "allocating (an allocation may sleep: reclaim)".to_owned(),
                How::Upgrade => format!("upgrading at {}", a.site),
                _ => format!("taking sleeping lock \"{name}\" at {}", a.report_site()),
            };
            let detail = format!("{what} in an atomic context");
            (SleepInAtomic, detail, vec![name], Some(*a))
        }
        Broken::SameLock(e) => {
            let detail = format!(
                "trying to acquire \"{name}\" ({}) at {}, but this thread already holds this very lock ({}) since {}",
                a.mode, a.report_site(), e.id.mode(), e.site
            );
            (RecursiveLocking, detail, vec![name.clone(), name], Some(*a))
        }
        Broken::UpgradeTwice => {
            let detail = format!(
                "upgrading \"{name}\" at {} while this thread holds it a second time: the upgrade waits for itself",
                a.site
            );
            (RecursiveLocking, detail, vec![name.clone(), name], Some(*a))
        }
        Broken::NestNotHeld => {
            let detail = format!(
                "taking \"{name}\" at {} under a nest lock this thread does not hold",
                a.report_site()
            );
            (RecursiveLocking, detail, vec![name], Some(*a))
        }
        Broken::OutOfOrder(e) => {
            let detail = format!(
                "taking \"{name}\" with order key {} at {} while holding one with key {} (taken at {}): out of the stated order",
                a.how.order(), a.report_site(), e.order, e.site
            );
            (RecursiveLocking, detail, vec![name.clone(), name], Some(*a))
        }
        Broken::SameClass(e) => {
            let mut detail = format!(
                "trying to acquire \"{name}\" ({}) at {}, but this thread already holds another lock of the same class ({}, taken at {})",
                a.mode, a.report_site(), e.id.mode(), e.site
            );
            if let Some(made) = g.construction_site(a.class.class()) {
                detail.push_str(&format!(
                    "; both locks were made at {made}, and locks made at one line share a class: give each its own with `named` (`Mutex::named(\"left\", ..)`), or annotate the nesting (`lock_nested`, a nest lock, a stated order)"
                ));
            }
            (RecursiveLocking, detail, vec![name.clone(), name], Some(*a))
        }
    }
}

/// The text of a strong cycle: through the acquisition `a` that closes it,
/// or between declared orders (`a` is `None`).
fn cycle_text(g: &Graph, a: Option<&Acq>, edges: &[u32]) -> Text {
    let deps: Vec<_> = edges.iter().map(|&e| g.dependency(e)).collect();
    let declared = deps.iter().any(|d| d.declared);
    let kind = if declared {
        ReportKind::OrderViolation
    } else {
        ReportKind::CircularDependency
    };
    let closing = deps.last().expect("a cycle has a closing edge");
    let detail = match a {
        Some(a) => format!(
            "trying to acquire \"{}\" ({}) at {}, while holding \"{}\" ({}) taken at {}, which already depends on the new lock{}",
            closing.to,
            a.mode,
            a.report_site(),
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
    let classes = deps.iter().map(|d| d.from.clone()).collect();
    (kind, detail, classes, a.copied())
}
