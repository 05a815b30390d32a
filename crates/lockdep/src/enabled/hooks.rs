//! Tasks tracked by an executor's poll hooks: the swap of a [`Tracked`]
//! poll, keyed by a task id instead of borrowed from the future, for
//! executors that call back around every poll of every task (tokio's
//! `on_before_task_poll` / `on_after_task_poll` under `tokio_unstable`).
//!
//! A task's state (`Task`: its saved entries, its name) has one owner at a
//! time: the registry while the task is not being polled, the open poll on
//! the thread that polls it in between (`task_poll_begin` moves it from the
//! one to the other, `task_poll_end` back). The open poll keeps the poll's
//! [`Swap`] beside it, on the thread's stack of open polls; entering and
//! ending it are `Swap`'s, shared with [`Tracked`].
//!
//! [`Tracked`]: super::task::Tracked

use super::config;
use super::rules::Finding;
use super::task::{Swap, Task};
use super::thread::{with_thread, Busy, ThreadState};
use super::validate::{deliver, report_once, Raised};
use crate::report::{Report, ReportKind};
use core::cell::RefCell;
use core::panic::Location;
use core::ptr::NonNull;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long a poll's begin waits for the same task's poll on another
/// thread to end. tokio calls its after-poll hook once the task is idle
/// again, so another worker may begin the task's next poll first: the wait
/// is that hand-over, normally a few instructions long.
const HANDOVER: Duration = Duration::from_secs(1);

/// A task known to the registry.
enum Slot {
    /// Not being polled: its state is here.
    Idle(Box<Task>),
    /// Being polled (its state is that poll's); a name given meanwhile,
    /// applied at the poll's end, and whether [`task_end`] came meanwhile
    /// (the state is then dropped at the poll's end).
    Polled {
        name: Option<Cow<'static, str>>,
        ended: bool,
    },
}

/// The tasks by id. std's `Mutex` is not validated (no recursion into the
/// validator); a `BTreeMap` is const-constructible and needs no hasher.
static TASKS: Mutex<BTreeMap<u64, Slot>> = Mutex::new(BTreeMap::new());

/// Notified when a polled task's state goes back to the registry (or is
/// dropped): a begin waiting for the hand-over rechecks.
static RETURNED: Condvar = Condvar::new();

fn tasks() -> MutexGuard<'static, BTreeMap<u64, Slot>> {
    // Nothing panics while holding it; a poisoned one is still sound.
    TASKS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A poll open on this thread.
struct Open {
    id: u64,
    /// The task's state, owned by this entry from `task_poll_begin` to its
    /// `task_poll_end` (made by `Box::leak`). A raw pointer, not a `Box`:
    /// moving the entry (the stack growing) then asserts no uniqueness
    /// that would void the pointer to its name in `ThreadState::task`.
    task: NonNull<Task>,
    swap: Swap,
    /// A stand-in for a task whose state was not to be had (see
    /// [`task_poll_begin`]): dropped at its end, never registered.
    stand_in: bool,
}

/// The polls open on this thread, innermost last.
struct OpenPolls(RefCell<Vec<Open>>);

thread_local! {
    static OPEN: OpenPolls = const { OpenPolls(RefCell::new(Vec::new())) };
}

/// The place of a task's name, as `ThreadState::task` points at it.
fn name_of(task: NonNull<Task>) -> NonNull<Option<Cow<'static, str>>> {
    // SAFETY: `task` points at a live `Task` (an `Open`'s); only the place
    // of a field is computed, nothing is read or borrowed.
    unsafe { NonNull::new_unchecked(&raw mut (*task.as_ptr()).name) }
}

/// Why a hook call is out of balance, and what was done about it.
enum Mismatch {
    /// An end with no poll open on this thread.
    NoneOpen,
    /// An end of another task than the innermost open poll's (this one).
    Other(u64),
    /// An end while a poll begun otherwise (a `Tracked` one) is open inside.
    Inside,
    /// A begin of a task being polled on this thread already.
    OpenHere,
    /// A begin of a task whose poll on another thread did not end in time.
    OpenElsewhere,
}

impl Mismatch {
    fn why(&self) -> String {
        const IGNORED: &str = "ignored: the open polls stay open";
        const STAND_IN: &str =
            "this poll runs as a stand-in task of its own, whose entries are discarded at its end";
        match self {
            Mismatch::NoneOpen => "no poll is open on this thread; ignored".to_owned(),
            Mismatch::Other(o) => format!("the innermost poll open on this thread is task {o}'s; {IGNORED}"),
            Mismatch::Inside => format!("a poll not begun by task_poll_begin (a tracked future's) is open inside it; {IGNORED}"),
            Mismatch::OpenHere => format!("the task is being polled on this thread already; {STAND_IN}"),
            Mismatch::OpenElsewhere => format!("the task's poll on another thread did not end (task_poll_end) within {HANDOVER:?}; {STAND_IN}"),
        }
    }

    /// What the report-once key tells apart.
    fn tag(&self) -> u8 {
        match self {
            Mismatch::NoneOpen => 0,
            Mismatch::Other(_) => 1,
            Mismatch::Inside => 2,
            Mismatch::OpenHere => 3,
            Mismatch::OpenElsewhere => 4,
        }
    }
}

/// The report of a hook call (`call`, at `site`) out of balance: once per
/// site and kind of mismatch.
fn unbalanced(
    t: &ThreadState,
    call: String,
    m: Mismatch,
    site: &'static Location<'static>,
) -> Option<Report> {
    if !config::validating() || t.in_graph.get() {
        return None;
    }
    let key = (ReportKind::BadUnlock, "task poll hooks", m.tag(), site);
    let f = Finding::TaskPollUnbalanced {
        call,
        why: m.why(),
        site,
    };
    report_once(t, |g| g.first_report(key), f)
}

// ---------------------------------------------------------------- the API

/// Before a poll of task `id` (an executor's hook): the task's saved held
/// entries are pushed above what the thread holds, as a [`tracked`] poll
/// does, and the task is the thread's current one ([`in_tracked_task`];
/// reports raised until [`task_poll_end`] name it, see [`task_name`]).
///
/// `id` identifies the task in the process while it lives (tokio: its
/// task `Id`, as a `u64` by `Display` and `parse`, or hashed).
///
/// - **Polls nest**: a begin inside an open poll (of another task, or a
///   tracked one) pushes the task's entries above that one's.
/// - **The task is being polled on another thread** (tokio runs its
///   after-poll hook once the task is idle again, so another worker may
///   begin the next poll before this one's end has run): the begin waits
///   for that end, up to a second. Past that, or if the task is being
///   polled on this very thread already, it is reported
///   ([`BadUnlock`](crate::ReportKind::BadUnlock): the hooks are out of
///   balance) and this poll runs as a stand-in task of its own, empty,
///   whose entries are discarded at its end; nothing else changes.
///
/// [`tracked`]: crate::tracked
/// [`in_tracked_task`]: crate::in_tracked_task
#[track_caller]
pub fn task_poll_begin(id: u64) {
    let site = Location::caller();
    let raised = with_thread(|t| {
        // The registry's and the stack's allocations are the validator's.
        let _busy = Busy::enter(t);
        // After this thread's thread-locals are gone: nothing is tracked.
        OPEN.try_with(|open| begin(t, open, id, site))
            .unwrap_or_default()
    });
    deliver(raised, false);
}

fn begin(t: &ThreadState, open: &OpenPolls, id: u64, site: &'static Location<'static>) -> Raised {
    let here = open.0.borrow().iter().any(|o| o.id == id);
    let taken = if here {
        Err(Mismatch::OpenHere)
    } else {
        take(id)
    };
    let mut raised = Raised::new();
    let stand_in = taken.is_err();
    let task = taken.unwrap_or_else(|m| {
        raised.extend(unbalanced(t, format!("task_poll_begin({id})"), m, site));
        Box::default()
    });
    let task = NonNull::from(Box::leak(task));
    // SAFETY: `task` was leaked just above and nothing else reaches it; the
    // borrow of its entries ends with the call. Its name stays in place,
    // unchanged, until the `Open` that owns it ends its swap (`end`, or
    // the thread's exit) and only then frees it.
    let saved = unsafe { &mut (*task.as_ptr()).saved };
    let (swap, r) = Swap::enter(t, saved, name_of(task));
    raised.extend(r);
    let o = Open {
        id,
        task,
        swap,
        stand_in,
    };
    open.0.borrow_mut().push(o);
    raised
}

/// Takes task `id`'s state out of the registry for a poll, leaving it
/// marked as polled; an id not known yet starts empty. While the task is
/// being polled on another thread, waits (up to [`HANDOVER`]) for that poll
/// to end.
fn take(id: u64) -> Result<Box<Task>, Mismatch> {
    let mut map = tasks();
    let mut deadline = None;
    while let Some(Slot::Polled { .. }) = map.get(&id) {
        let now = Instant::now();
        let until = *deadline.get_or_insert(now + HANDOVER);
        if now >= until {
            return Err(Mismatch::OpenElsewhere);
        }
        map = RETURNED
            .wait_timeout(map, until - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    let polled = Slot::Polled {
        name: None,
        ended: false,
    };
    Ok(match map.insert(id, polled) {
        Some(Slot::Idle(task)) => task,
        _ => Box::default(),
    })
}

/// After the poll of task `id` that [`task_poll_begin`] began: every entry
/// above the thread's own goes back to the task, as at the end of a
/// tracked poll that returned `Pending`; a thread-bound lock among them is
/// reported ([`HeldAcrossAwait`](crate::ReportKind::HeldAcrossAwait)).
///
/// The hook cannot tell `Pending` from `Ready`, so a thread-bound guard the
/// task returns in its output is reported too, and an awaitable one goes
/// back to the task (for a poller that did not poll it: let the task drop
/// it, or take it with a [`tracked`](crate::tracked) future instead).
///
/// Out of balance, it is reported
/// ([`BadUnlock`](crate::ReportKind::BadUnlock)) and changes nothing:
/// with no poll open on this thread, when the innermost open poll is
/// another task's, or when a poll not begun by `task_poll_begin` (a tracked
/// future's) is still open inside it.
#[track_caller]
pub fn task_poll_end(id: u64) {
    let site = Location::caller();
    let raised = with_thread(|t| {
        let _busy = Busy::enter(t);
        OPEN.try_with(|open| end(t, open, id, site))
            .unwrap_or_default()
    });
    deliver(raised, false);
}

fn end(t: &ThreadState, open: &OpenPolls, id: u64, site: &'static Location<'static>) -> Raised {
    let popped = {
        let mut polls = open.0.borrow_mut();
        let mismatch = match polls.last() {
            None => Some(Mismatch::NoneOpen),
            Some(o) if o.id != id => Some(Mismatch::Other(o.id)),
            Some(o) if t.task.get().is_none_or(|n| n.0 != name_of(o.task)) => {
                Some(Mismatch::Inside)
            }
            Some(_) => None,
        };
        match mismatch {
            Some(m) => Err(m),
            None => Ok(polls.pop().expect("checked above")),
        }
    };
    let o = match popped {
        Ok(o) => o,
        Err(m) => {
            let call = format!("task_poll_end({id})");
            return unbalanced(t, call, m, site).into_iter().collect();
        }
    };
    // SAFETY: `o` owned the task since `begin` and is off the stack now:
    // nothing else reaches it. `ThreadState::task` names it until `exit`
    // sets the outer task back; the box is rebuilt only after that.
    let raised = o
        .swap
        .exit(t, unsafe { &mut (*o.task.as_ptr()).saved }, true);
    // SAFETY: made by `Box::leak` in `begin`, owned by `o` alone, and no
    // longer named by the thread (see above).
    let task = unsafe { Box::from_raw(o.task.as_ptr()) };
    if !o.stand_in {
        give_back(id, task);
    }
    raised
}

/// A polled task's state goes back to the registry, under a name given
/// during the poll; dropped instead if [`task_end`] came meanwhile, or if
/// it holds nothing and has no name (an unknown id starts so).
fn give_back(id: u64, mut task: Box<Task>) {
    let mut map = tasks();
    let keep = match map.remove(&id) {
        Some(Slot::Polled { name, ended }) => {
            if name.is_some() {
                task.name = name;
            }
            !ended && (!task.saved.is_empty() || task.name.is_some())
        }
        // Not the poll's: left as it was.
        Some(other) => {
            map.insert(id, other);
            false
        }
        None => false,
    };
    let dropped = if keep {
        map.insert(id, Slot::Idle(task));
        None
    } else {
        Some(task)
    };
    drop(map);
    RETURNED.notify_all();
    drop(dropped);
}

/// Names task `id` (e.g. from tokio's `on_task_spawn`): reports raised in
/// its polls say `task 'name' (on thread 'x')`. A task polled without a
/// name is "an unnamed task". Naming a task being polled takes effect from
/// its next poll. A `&'static str` costs no allocation beyond the
/// registry's.
pub fn task_name(id: u64, name: impl Into<Cow<'static, str>>) {
    set_name(id, name.into());
}

fn set_name(id: u64, name: Cow<'static, str>) {
    with_thread(|t| {
        let _busy = Busy::enter(t);
        let mut map = tasks();
        let slot = map.entry(id).or_insert_with(|| Slot::Idle(Box::default()));
        let old = match slot {
            Slot::Idle(task) => task.name.replace(name),
            Slot::Polled { name: n, .. } => n.replace(name),
        };
        drop(map);
        drop(old);
    });
}

/// Task `id` terminated or was dropped (e.g. from tokio's
/// `on_task_terminate`): its saved entries and its name are discarded
/// without a report, as a dropped [`Tracked`](crate::Tracked)'s are. Called
/// during the task's poll (tokio calls it inside the poll hooks), the
/// discarding happens at that poll's end. An unknown id is ignored.
///
/// Drop the task's future inside a poll (`task_poll_begin` ..
/// `task_poll_end`), as tokio does, so the guards it drops release from
/// the task's entries; dropped outside, they release from the thread's
/// stack, where they are not.
pub fn task_end(id: u64) {
    with_thread(|t| {
        let _busy = Busy::enter(t);
        let mut map = tasks();
        let gone = match map.get_mut(&id) {
            Some(Slot::Polled { name, ended }) => {
                *ended = true;
                name.take();
                None
            }
            Some(Slot::Idle(_)) => map.remove(&id),
            None => None,
        };
        drop(map);
        drop(gone);
    });
}

impl Drop for OpenPolls {
    /// The thread exits with polls open (an end never came): their entries
    /// stay on the thread's stack, where the thread-exit check reports
    /// them, the thread names no task any more, and the tasks are dropped,
    /// as by [`task_end`].
    fn drop(&mut self) {
        let open = core::mem::take(self.0.get_mut());
        if open.is_empty() {
            return;
        }
        with_thread(|t| {
            let _busy = Busy::enter(t);
            for o in open.into_iter().rev() {
                o.swap.abandon(t);
                // SAFETY: made by `Box::leak` in `begin`, owned by `o`
                // alone; the thread names the task outside it now.
                let task = unsafe { Box::from_raw(o.task.as_ptr()) };
                if !o.stand_in {
                    task_end(o.id);
                    give_back(o.id, task);
                }
            }
        });
    }
}
