//! Tracked tasks: the held locks of an async task, which belong to the task
//! and not to whichever thread polls it, swapped in around every poll.
//!
//! A [`Tracked`] keeps its task's held entries (every field of a held-stack
//! slot, and the instance) while the task is not running. A poll pushes
//! them above what the thread holds (no rule runs, no edge is added: they
//! were validated when taken), polls the future, and pops what is above the
//! thread's own entries back into the task: on `Pending` and on unwinding.
//! The thread's scopes and flags stay with the thread throughout.
//!
//! Every way in and out of a task's poll is a [`Swap`]'s: a `Tracked` poll
//! keeps one in a [`Frame`] that borrows the task; an executor's poll hooks
//! keep one between `task_poll_begin` and `task_poll_end` (`hooks`).

use super::config;
use super::entry::Entry;
use super::rules::Finding;
use super::thread::{with_thread, Busy, TaskName, ThreadState};
use super::validate::{self, deliver, report_once, Raised};
use crate::limits::MAX_DEPTH;
use crate::report::ReportKind;
use core::fmt;
use core::future::Future;
use core::mem::ManuallyDrop;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context, Poll};
use std::borrow::Cow;

/// Makes `fut` a tracked task: the locks it holds are its own, swapped onto
/// the polling thread's held stack around each poll, whichever thread that
/// is. Reports name the task as "an unnamed task"; see [`tracked_named`].
///
/// ```
/// use kernsync_lockdep::{held_locks, in_tracked_task, tracked, LockMap, Mode};
/// use std::future::Future;
/// use std::pin::pin;
/// use std::task::{Context, Poll, Waker};
///
/// static STATE: LockMap = LockMap::named("state").awaitable();
/// let mut task = pin!(tracked(async {
///     assert!(in_tracked_task() || !kernsync_lockdep::is_enabled());
///     let h = STATE.acquire(Mode::Write);
///     STATE.release(h);
///     7
/// }));
/// let mut cx = Context::from_waker(Waker::noop());
/// assert_eq!(task.as_mut().poll(&mut cx), Poll::Ready(7));
/// assert!(held_locks().is_empty());
/// ```
pub fn tracked<F: Future>(fut: F) -> Tracked<F> {
    Tracked::new(None, fut)
}

/// [`tracked`], with a name that reports raised in the task show:
/// `task 'name' (on thread 'x')`. A `&'static str` costs no allocation.
///
/// ```
/// use kernsync_lockdep::tracked_named;
/// let task = tracked_named("flusher", async { 1 });
/// # drop(task);
/// let task = tracked_named(format!("worker {}", 3), async { 2 });
/// # drop(task);
/// ```
pub fn tracked_named<F: Future>(name: impl Into<Cow<'static, str>>, fut: F) -> Tracked<F> {
    Tracked::new(Some(name.into()), fut)
}

/// Whether the current thread is inside a [`Tracked`] task's poll (or its
/// drop): one thread-local read. An async lock can then hold an entry for
/// the task across its `.await`s; outside a tracked task it checks the
/// order of its acquisition and keeps nothing (the thread's held stack is
/// not the task's).
#[inline]
pub fn in_tracked_task() -> bool {
    with_thread(|t| t.task.get().is_some())
}

/// A future whose held locks are its own: see [`tracked`].
///
/// - **Poll**: the task's saved entries are pushed above what the thread
///   holds (not validated again, no edge added), the future is polled, and
///   on `Pending` every entry above the thread's own goes back to the task,
///   in order. Locks the thread held before the poll stay the thread's; an
///   acquisition in the poll while one is held adds the edge from it (a real
///   edge, within that poll).
/// - **`Pending` holding a thread-bound lock** (a `LockMap` not marked
///   [`awaitable`](crate::LockMap::awaitable)): reported
///   ([`HeldAcrossAwait`](crate::ReportKind::HeldAcrossAwait)).
/// - **`Ready`**: entries still held (a guard in the output) stay on the
///   thread: the poller has them now.
/// - **Unwinding** out of a poll: the entries go back to the task, as on
///   `Pending`; the thread's stack is as before the poll.
/// - **Drop** (cancellation): the future is dropped with the task's entries
///   swapped in, so its guards release from the right stack; what is left
///   after (a guard forgotten, or moved out of the future) is discarded
///   without a report: thread-bound ones were reported at the `Pending` that
///   kept them, and an awaitable lock's guard that left the future is beyond
///   what the validator can follow.
/// - **A poll that releases a lock the thread held before it**: the thread's
///   entries that remain stay the thread's, and the task's stay the task's,
///   matched by lock and class (not mode or site, which a downgrade or an
///   upgrade changes). One case is ambiguous: the same lock taken again in
///   the same poll stays with the thread, as it was before.
/// - **Bound**: the task's entries count toward [`MAX_DEPTH`] while swapped
///   in; if they do not fit above what the thread holds, that is reported
///   ([`DepthExceeded`](crate::ReportKind::DepthExceeded)) and validation
///   turns off, as for any acquisition past the bound.
pub struct Tracked<F> {
    /// Structurally pinned: never moved out, dropped in place by `drop`.
    fut: ManuallyDrop<F>,
    /// Not pinned: plain data, moved freely.
    task: Task,
}

/// A task's own state: its held entries while it is not running, its name.
#[derive(Default)]
pub(super) struct Task {
    pub saved: Vec<(Entry, usize)>,
    pub name: Option<Cow<'static, str>>,
}

impl<F> Tracked<F> {
    fn new(name: Option<Cow<'static, str>>, fut: F) -> Tracked<F> {
        Tracked {
            fut: ManuallyDrop::new(fut),
            task: Task {
                saved: Vec::new(),
                name,
            },
        }
    }

    /// The task's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.task.name.as_deref()
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned (it is never moved out, and
        // `drop` drops it in place); `task` is not, and is only borrowed.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: `this` came from a pinned `Tracked`, so `fut` stays put.
        let fut = unsafe { Pin::new_unchecked(&mut *this.fut) };
        let (frame, raised) = Frame::enter(&mut this.task.saved, &this.task.name);
        deliver(raised, false);
        let r = fut.poll(cx);
        frame.exit(r.is_pending());
        r
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        let (frame, raised) = Frame::enter(&mut self.task.saved, &self.task.name);
        // SAFETY: dropped here, once, in place (it may be pinned), and never
        // used again: the `Tracked` is going away.
        unsafe { ManuallyDrop::drop(&mut self.fut) };
        frame.discard();
        deliver(raised, false);
    }
}

impl<F> fmt::Debug for Tracked<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracked")
            .field("name", &self.name())
            .field("held", &self.task.saved.len())
            .finish_non_exhaustive()
    }
}

/// One poll (or drop) of a task on this thread, apart from the task: what
/// the thread held when it began (how the task's entries are told from the
/// thread's at its end) and the task it is nested in. It borrows nothing,
/// so an executor's poll hooks can keep it from `task_poll_begin` to
/// `task_poll_end` (`hooks`); a [`Tracked`] poll keeps it in a [`Frame`].
/// Every path in and out of a task's poll is one of its methods.
pub(super) struct Swap {
    /// How many entries the thread held when the poll began.
    base: usize,
    /// The [`stamp`](ThreadState::stamp) of each of those.
    marks: [u64; MAX_DEPTH],
    /// The task this one is nested in, if any.
    outer: Option<TaskName>,
}

impl Swap {
    /// Swaps a task's entries (`saved`) in above what the thread holds,
    /// naming the task `name` meanwhile (reports read it through
    /// `ThreadState::task`). The reports returned (a bound reached) are the
    /// caller's to deliver.
    ///
    /// The caller keeps the name alive and in place, unchanged, until it
    /// ends this with [`exit`](Self::exit), [`unwind`](Self::unwind) or
    /// [`discard`](Self::discard) on this thread (see [`TaskName::get`]).
    pub fn enter(
        t: &ThreadState,
        saved: &mut Vec<(Entry, usize)>,
        name: NonNull<Option<Cow<'static, str>>>,
    ) -> (Swap, Raised) {
        let base = t.depth();
        let mut marks = [0; MAX_DEPTH];
        for (i, m) in marks[..base].iter_mut().enumerate() {
            *m = t.stamp(i);
        }
        let outer = t.task.replace(Some(TaskName(name)));
        let mut raised = Raised::new();
        if base + saved.len() > MAX_DEPTH {
            raised.extend(too_deep(t, saved.len()));
        } else if !saved.is_empty() {
            for &(e, instance) in saved.iter() {
                t.push_saved(e, instance);
            }
            saved.clear();
            if t.unarmed() {
                validate::arm_exit_check(t);
            }
        }
        (Swap { base, marks, outer }, raised)
    }

    /// The number of entries, from the bottom, that are the thread's own:
    /// the longest run of held entries that are, in order, among those it
    /// held when the poll began (the poll may have released some of them).
    fn boundary(&self, t: &ThreadState) -> usize {
        let marks = &self.marks[..self.base];
        let (mut o, mut k) = (0, 0);
        while k < t.depth() {
            let stamp = t.stamp(k);
            match marks[o..].iter().position(|&m| m == stamp) {
                Some(p) => (o, k) = (o + p + 1, k + 1),
                None => break,
            }
        }
        k
    }

    /// The poll returned: on `pending`, the task's entries go back to it
    /// (`saved`), after the thread-bound ones among them are reported
    /// (built while they are still held, so the report lists them; the
    /// caller delivers them once the stack is consistent again, so a
    /// panicking report leaves it so). Otherwise (`Ready`) they stay with
    /// the thread. The thread's task is the outer one again.
    pub fn exit(self, t: &ThreadState, saved: &mut Vec<(Entry, usize)>, pending: bool) -> Raised {
        let k = self.boundary(t);
        let mut raised = Raised::new();
        if pending {
            raised = held_across_await(t, k);
            save(t, k, saved);
        }
        t.task.set(self.outer);
        raised
    }

    /// Unwinding out of the poll: the task's entries go back to it, as on
    /// `Pending`, without a report.
    pub fn unwind(self, t: &ThreadState, saved: &mut Vec<(Entry, usize)>) {
        save(t, self.boundary(t), saved);
        t.task.set(self.outer);
    }

    /// The task is being dropped: what its future left held is discarded.
    pub fn discard(self, t: &ThreadState) {
        t.truncate(self.boundary(t));
        t.task.set(self.outer);
    }

    /// The poll is abandoned (its thread exits before it ends): the entries
    /// stay on the thread's stack, for the thread-exit check to report, and
    /// the thread names the outer task again.
    pub fn abandon(self, t: &ThreadState) {
        t.task.set(self.outer);
    }
}

/// Moves the entries from `k` up into a task's `saved`, in order.
fn save(t: &ThreadState, k: usize, saved: &mut Vec<(Entry, usize)>) {
    // The task's vector is the validator's allocation, not the user's.
    let _busy = Busy::enter(t);
    saved.extend((k..t.depth()).map(|i| (t.entry(i), t.instance(i))));
    t.truncate(k);
}

/// A [`Tracked`] task's poll (or drop) on this thread: a [`Swap`] that
/// borrows the task's entries, ended by `exit` or `discard`, or by its
/// `Drop` on unwinding.
struct Frame<'a> {
    /// The task's saved entries (its name is borrowed apart, shared, so
    /// the pointer to it that reports read stays valid while this is used).
    saved: &'a mut Vec<(Entry, usize)>,
    /// `None` once ended: nothing left for `Drop`.
    swap: Option<Swap>,
}

impl<'a> Frame<'a> {
    /// [`Swap::enter`], for the task whose entries are `saved` and whose
    /// name is `name`, both borrowed for as long as the frame lives.
    fn enter(
        saved: &'a mut Vec<(Entry, usize)>,
        name: &'a Option<Cow<'static, str>>,
    ) -> (Frame<'a>, Raised) {
        let (swap, raised) = with_thread(|t| Swap::enter(t, saved, NonNull::from(name)));
        (
            Frame {
                saved,
                swap: Some(swap),
            },
            raised,
        )
    }

    /// [`Swap::exit`], delivering its reports.
    fn exit(mut self, pending: bool) {
        if let Some(swap) = self.swap.take() {
            let raised = with_thread(|t| swap.exit(t, self.saved, pending));
            deliver(raised, false);
        }
    }

    /// [`Swap::discard`].
    fn discard(mut self) {
        if let Some(swap) = self.swap.take() {
            with_thread(|t| swap.discard(t));
        }
    }
}

impl Drop for Frame<'_> {
    /// Unwinding out of the poll: the task's entries go back to it.
    fn drop(&mut self) {
        if let Some(swap) = self.swap.take() {
            with_thread(|t| swap.unwind(t, self.saved));
        }
    }
}

/// The reports of the thread-bound locks among entries `k..` (the task's),
/// held as its poll returns `Pending`: once per class and site.
fn held_across_await(t: &ThreadState, k: usize) -> Raised {
    if !config::validating() || t.in_graph.get() {
        return Raised::new();
    }
    (k..t.depth())
        .map(|i| t.entry(i))
        .filter(|e| !e.id.is_awaitable())
        .filter_map(|e| {
            let key = (ReportKind::HeldAcrossAwait, e.id.class(), e.site);
            report_once(t, |g| g.first_report(key), Finding::HeldAcrossAwait(e))
        })
        .collect()
}

/// A task's `n` entries do not fit above what the thread holds: reported
/// once, and validation turns off (as for an acquisition past the bound).
fn too_deep(t: &ThreadState, n: usize) -> Option<crate::Report> {
    if !config::validating() || t.in_graph.get() {
        return None;
    }
    config::exhausted();
    report_once(t, |_| true, Finding::TaskDepthExceeded(n))
}
