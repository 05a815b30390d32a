//! The rules: one function per rule, each checking one acquisition (or
//! upgrade) against the thread's held stack and the graph, and returning
//! what it found as a [`Finding`]. Each distinct finding is returned once per
//! process (the graph's reported-once set); turning it into a report is the
//! builder's job, delivering it the layer above.

use super::entry::{Acq, Entry, How, E_NEST, E_ORDERED};
use super::graph::{Bound, Cycle, Graph};
use super::thread::ThreadState;
use crate::report::{ReportKind, Site};
use core::ops::Range;
use core::panic::Location;

/// Something wrong, found by a rule or by the layer above.
pub(crate) enum Finding {
    /// A rule the acquisition (or upgrade) `Acq` breaks.
    Acquire(Acq, Broken),
    /// A strong cycle closed by the acquisition (or by declared orders: `None`).
    Cycle(Option<Acq>, Cycle),
    /// A bound of the graph was reached.
    Bound(Bound),
    /// A second acquisition inside one allocator call could not be kept.
    LostInAllocator,
    /// The held stack is full.
    DepthExceeded(Acq),
    /// An operation (`what`) on a lock this thread does not hold (`None`
    /// token) or with another lock's token (`Some`).
    BadUnlock {
        class: u32,
        what: &'static str,
        mismatched: bool,
        site: &'static Location<'static>,
    },
    /// A `might_sleep()` point in an atomic context.
    MightSleep(&'static Location<'static>),
    /// An allocation where allocating is forbidden, under the no-alloc entry
    /// `Entry` (or inside a `no_alloc` scope).
    AllocForbidden(Site, Option<Entry>),
    /// A thread exiting with locks held.
    HeldAtExit,
    /// A lock freed while this thread holds it, as `Entry`.
    HeldLockFreed(Entry),
    /// A tracked task's poll returned `Pending` holding the thread-bound
    /// lock of `Entry`.
    HeldAcrossAwait(Entry),
    /// A tracked task's saved entries (this many) do not fit on the
    /// thread's held stack above what it holds.
    TaskDepthExceeded(usize),
    /// An executor's poll hook (`call`, at `site`) out of balance, and what
    /// was done about it (`why`): reported as a bad unlock balance, a poll's
    /// begin and end being the pair.
    TaskPollUnbalanced {
        call: String,
        why: String,
        site: &'static Location<'static>,
    },
    /// A failed lock assertion.
    Assertion {
        what: String,
        classes: Vec<String>,
        site: &'static Location<'static>,
    },
}

/// A rule one acquisition breaks.
pub(crate) enum Broken {
    /// A sleeping acquisition, an upgrade or an allocation in an atomic context.
    SleepInAtomic,
    /// This very lock is held already, as `Entry`.
    SameLock(Entry),
    /// An upgrade while this thread holds the lock a second time.
    UpgradeTwice,
    /// A nest-lock acquisition without its nest lock held.
    NestNotHeld,
    /// A stated-order acquisition at or below the key of `Entry`.
    OutOfOrder(Entry),
    /// Another lock of the class of `Entry`, not annotated.
    SameClass(Entry),
}

/// Sleeping in an atomic context: a blocking acquisition of a class that is
/// not itself atomic (a succeeded try cannot have waited).
pub(crate) fn sleep_in_atomic(g: &mut Graph, t: &ThreadState, a: &Acq) -> Option<Finding> {
    (t.in_atomic()
        && !a.class.is_atomic()
        && a.how != How::Try
        && g.first_report((ReportKind::SleepInAtomic, a.site)))
    .then_some(Finding::Acquire(*a, Broken::SleepInAtomic))
}

/// The same lock again: only a recursive read of a read-held lock is fine
/// (and a lock merged under a nest lock).
pub(crate) fn same_lock(g: &mut Graph, t: &ThreadState, a: &Acq, out: &mut Vec<Finding>) {
    for (e, instance) in t.entries() {
        let fine = (a.mode.is_recursive() && e.id.mode().is_shared()) || e.id.has(E_NEST);
        if instance == a.instance
            && !fine
            && !g.recursion_allowed(a.class.class())
            && g.first_report((
                ReportKind::RecursiveLocking,
                a.class.class(),
                a.serial,
                a.site,
            ))
        {
            out.push(Finding::Acquire(*a, Broken::SameLock(e)));
        }
    }
}

/// An upgrade of entry `i` while the thread holds the same lock at another
/// entry: the upgrade waits for its own read.
pub(crate) fn upgrade_twice(g: &mut Graph, t: &ThreadState, i: usize, a: &Acq) -> Option<Finding> {
    let twice = (0..t.depth()).any(|j| j != i && t.instance(j) == a.instance);
    (twice
        && g.first_report((
            ReportKind::RecursiveLocking,
            a.class.class(),
            a.serial,
            a.site,
        )))
    .then_some(Finding::Acquire(*a, Broken::UpgradeTwice))
}

/// A nest-lock acquisition must find its nest lock (`outer`) held.
pub(crate) fn nest_lock(g: &mut Graph, t: &ThreadState, a: &Acq, outer: usize) -> Option<Finding> {
    let held = (0..t.depth()).any(|i| t.instance(i) == outer);
    (!held && g.first_report(("nest", a.class.class(), a.site)))
        .then_some(Finding::Acquire(*a, Broken::NestNotHeld))
}

/// A stated-order acquisition must have a larger key than every lock of its
/// class and subclass held in a stated order.
pub(crate) fn stated_order(
    g: &mut Graph,
    t: &ThreadState,
    a: &Acq,
    key: u64,
    out: &mut Vec<Finding>,
) {
    for (e, _) in t.entries() {
        if e.id.node() == a.node()
            && e.id.has(E_ORDERED)
            && e.order >= key
            && g.first_report(("order", a.class.class(), a.site, e.site))
        {
            out.push(Finding::Acquire(*a, Broken::OutOfOrder(e)));
        }
    }
}

/// Another lock of a held class and subclass is "possible recursive
/// locking" unless it is a recursive read of a read-held one, or an
/// annotation (nest lock, stated order) says the nesting is ordered.
pub(crate) fn same_class(g: &mut Graph, t: &ThreadState, a: &Acq, out: &mut Vec<Finding>) {
    for (e, instance) in t.entries() {
        if e.id.node() != a.node() || instance == a.instance {
            continue;
        }
        let allowed = (a.mode.is_recursive() && e.id.mode().is_shared())
            || matches!(a.how, How::Nest(_))
            || (matches!(a.how, How::Ordered(_)) && e.id.has(E_ORDERED));
        if !allowed
            && !g.recursion_allowed(a.class.class())
            && g.first_report((
                ReportKind::RecursiveLocking,
                a.class.class(),
                a.subclass,
                a.site,
                e.site,
            ))
        {
            out.push(Finding::Acquire(*a, Broken::SameClass(e)));
        }
    }
}

/// The dependencies of `a` on the held entries `held` (an edge from each
/// into `a`'s node), each checked for a strong cycle; then the chain `key`
/// is recorded as validated.
///
/// Innermost held lock first: when one acquisition closes cycles through
/// several held locks, the one reported is through the lock taken last (the
/// one Linux lockdep links the new lock to), and only that one: the others
/// are the same deadlock seen from further out, and every edge is still
/// recorded.
pub(crate) fn dependencies(
    g: &mut Graph,
    t: &ThreadState,
    a: &Acq,
    held: Range<usize>,
    key: u64,
    out: &mut Vec<Finding>,
) -> Result<(), Bound> {
    let (class, subclass) = a.node();
    let to = g.node(class, subclass)?;
    let mut reported = false;
    for i in held.rev() {
        let e = t.entry(i);
        let (class, subclass) = e.id.node();
        let from = g.node(class, subclass)?;
        let edge = g.add_edge(
            from,
            to,
            e.id.mode(),
            a.mode,
            e.report_site(),
            a.report_site(),
            false,
        )?;
        if let Some(cycle) = edge {
            if !reported && new_cycle(g, &cycle) {
                out.push(Finding::Cycle(Some(*a), cycle));
                reported = true;
            }
        }
    }
    g.insert_chain(key)
}

/// Whether `cycle` has not been reported before: each distinct cycle (its
/// set of edges) is reported once per process.
pub(crate) fn new_cycle(g: &mut Graph, cycle: &Cycle) -> bool {
    let mut ids = cycle.0.clone();
    ids.sort_unstable();
    g.first_report(("cycle", ids))
}
