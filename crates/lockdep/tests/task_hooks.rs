//! Task tracking driven by an executor's poll hooks (`task_poll_begin` /
//! `task_poll_end` around every poll, `task_name`, `task_end`), as tokio's
//! `on_before_task_poll` / `on_after_task_poll` would call them: the same
//! semantics as `tracked`, keyed by a task id. Tasks interleaved on one
//! thread see only their own locks, an ABBA between tasks is reported
//! naming the task, a task's locks follow it to another thread (also when
//! the next poll begins there before this poll's end has run, as tokio's
//! workers can), a thread-bound lock held at a poll's end is reported,
//! `task_end` discards, and hook calls out of balance are reported and
//! leave every stack consistent.
//!
//! The executor is written here: a task is an id and a boxed future, and
//! one poll is `task_poll_begin(id)`, a manual poll, `task_poll_end(id)`.
//!
//! (These docs come before the `cfg`: a crate-level `cfg` that is false
//! strips everything after it, docs included, and `missing_docs` would fire.)
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{
    capture, held_locks, in_tracked_task, task_end, task_name, task_poll_begin, task_poll_end,
    tracked, Held, LockClass, LockMap, Mode, Report, ReportKind,
};
use std::cell::RefCell;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

const W: Mode = Mode::Write;

// ---------------------------------------------------------------- helpers

/// A fresh lock of a class of its own, leaked so tasks and threads share it.
fn lock(name: &str) -> &'static LockMap {
    Box::leak(Box::new(LockMap::new(LockClass::leak(name))))
}

/// [`lock`], for a lock that may be held across an `.await` (an async lock).
fn async_lock(name: &str) -> &'static LockMap {
    Box::leak(Box::new(LockMap::new(LockClass::leak(name)).awaitable()))
}

/// A task id unused in this process (tests run in parallel, one registry).
fn fresh_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1 << 40);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A lock guard, as a real lock would have: releases on drop.
struct Guard(&'static LockMap, Option<Held>);

impl Guard {
    #[track_caller]
    fn lock(m: &'static LockMap) -> Guard {
        Guard(m, Some(m.acquire(W)))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(h) = self.1.take() {
            self.0.release(h);
        }
    }
}

/// Returns `Pending` once, then `Ready`.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        Poll::Pending
    }
}

fn yield_now() -> YieldNow {
    YieldNow(false)
}

/// Polls `fut` once, with a waker that does nothing.
fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// A task of the hand-made executor: an id and its future.
struct Task<'a> {
    id: u64,
    fut: Pin<Box<dyn Future<Output = ()> + Send + 'a>>,
}

impl<'a> Task<'a> {
    fn new(fut: impl Future<Output = ()> + Send + 'a) -> Task<'a> {
        Task {
            id: fresh_id(),
            fut: Box::pin(fut),
        }
    }

    /// One poll, bracketed by the hooks as an executor's worker does.
    fn poll(&mut self) -> Poll<()> {
        task_poll_begin(self.id);
        let p = poll_once(self.fut.as_mut());
        task_poll_end(self.id);
        p
    }
}

/// Polls the tasks round-robin on this thread, in the order given, until
/// all are done; each finished task is ended (`task_end`).
fn round_robin(mut tasks: Vec<Task<'_>>) {
    while !tasks.is_empty() {
        tasks.retain_mut(|t| {
            let pending = t.poll().is_pending();
            if !pending {
                task_end(t.id);
            }
            pending
        });
    }
}

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

fn show(reports: &[Report]) -> String {
    reports.iter().map(|r| format!("{r}\n")).collect()
}

/// The classes of the locks this thread holds, outermost first.
fn held_names() -> Vec<String> {
    held_locks().into_iter().map(|h| h.class).collect()
}

type Seen = std::sync::Mutex<Vec<Vec<String>>>;

/// A task that holds `l` across a yield, recording what the thread holds
/// while it does (after taking it, and after the yield).
async fn hold_across_yield(l: &'static LockMap, seen: &Seen) {
    let _g = Guard::lock(l);
    seen.lock().unwrap().push(held_names());
    yield_now().await;
    assert!(in_tracked_task());
    seen.lock().unwrap().push(held_names());
}

/// Checks that the thread is sound after a misuse: an ordinary pair of
/// fresh locks raises nothing and leaves nothing held.
#[track_caller]
fn assert_still_sound(tag: &str) {
    let (x, y) = (
        lock(&format!("{tag}.sound.x")),
        lock(&format!("{tag}.sound.y")),
    );
    let ((), reports) = capture(|| {
        let _gx = Guard::lock(x);
        let _gy = Guard::lock(y);
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert!(held_locks().is_empty(), "{:?}", held_names());
    assert!(!in_tracked_task());
}

// ---------------------------------------------------------------- interleaving

/// Two tasks interleaved on one thread, each holding an async lock across a
/// yield: each sees only its own lock, and no edge joins them, in either
/// interleaving.
#[test]
fn interleaved_tasks_on_one_thread_see_only_their_own_locks() {
    let (a, b) = (async_lock("hooks.1.a"), async_lock("hooks.1.b"));
    let (sa, sb) = (Seen::default(), Seen::default());
    let ((), reports) = capture(|| {
        for _ in 0..2 {
            round_robin(vec![
                Task::new(hold_across_yield(a, &sa)),
                Task::new(hold_across_yield(b, &sb)),
            ]);
            round_robin(vec![
                Task::new(hold_across_yield(b, &sb)),
                Task::new(hold_across_yield(a, &sa)),
            ]);
        }
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    let (sa, sb) = (sa.into_inner().unwrap(), sb.into_inner().unwrap());
    assert_eq!(sa.len(), 8);
    assert!(sa.iter().all(|h| *h == ["hooks.1.a"]), "{sa:?}");
    assert!(sb.iter().all(|h| *h == ["hooks.1.b"]), "{sb:?}");
    assert!(held_locks().is_empty());
    assert!(!in_tracked_task());
}

/// ABBA between two tasks that never hold both at once: the cycle is
/// found, and the report names the task whose poll closed it.
#[test]
fn abba_between_tasks_is_reported_and_names_the_task() {
    let (a, b) = (async_lock("hooks.2.a"), async_lock("hooks.2.b"));
    let first = Task::new(async {
        let _ga = Guard::lock(a);
        yield_now().await;
        let _gb = Guard::lock(b);
        yield_now().await;
    });
    let second = Task::new(async {
        let _gb = Guard::lock(b);
        yield_now().await;
        let _ga = Guard::lock(a); // B then A: the reverse order
        yield_now().await;
    });
    task_name(first.id, "first");
    task_name(second.id, format!("second #{}", 2));
    let ((), reports) = capture(|| {
        round_robin(vec![first]);
        round_robin(vec![second]);
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency],
        "{}",
        show(&reports)
    );
    let r = &reports[0];
    assert_eq!(r.task(), Some("second #2"));
    assert_eq!(r.classes(), ["hooks.2.a", "hooks.2.b"]);
    let text = r.to_string();
    assert!(text.contains("task 'second #2' (on thread '"), "{text}");
    assert!(held_locks().is_empty());
}

/// An unnamed task is named so in reports.
#[test]
fn an_unnamed_task_is_named_so() {
    let (a, b) = (async_lock("hooks.2u.a"), async_lock("hooks.2u.b"));
    let ((), reports) = capture(|| {
        let _ga = Guard::lock(a);
        let _gb = Guard::lock(b);
    });
    assert!(reports.is_empty());
    let ((), reports) = capture(|| {
        round_robin(vec![Task::new(async {
            let _gb = Guard::lock(b);
            let _ga = Guard::lock(a);
        })])
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(reports[0].task(), Some("<unnamed>"));
}

/// Polls nest as tracked polls do: begin A, begin B, end B, end A. Inside
/// B the thread holds A's entries below B's; each task gets its own back.
#[test]
fn nested_polls_keep_stack_discipline() {
    let (a, b) = (async_lock("hooks.n.a"), async_lock("hooks.n.b"));
    let seen = RefCell::new(Vec::new());
    let (ia, ib) = (fresh_id(), fresh_id());
    let ((), reports) = capture(|| {
        task_poll_begin(ia);
        std::mem::forget(Guard::lock(a));
        task_poll_begin(ib);
        std::mem::forget(Guard::lock(b));
        seen.borrow_mut().push(held_names());
        task_poll_end(ib);
        seen.borrow_mut().push(held_names());
        task_poll_end(ia);
        assert!(held_locks().is_empty());
        // Each alone, in the other order: its own entry only.
        task_poll_begin(ib);
        seen.borrow_mut().push(held_names());
        b.release_unpaired();
        task_poll_end(ib);
        task_poll_begin(ia);
        seen.borrow_mut().push(held_names());
        a.release_unpaired();
        task_poll_end(ia);
        task_end(ia);
        task_end(ib);
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert_eq!(
        *seen.borrow(),
        [
            vec!["hooks.n.a", "hooks.n.b"],
            vec!["hooks.n.a"],
            vec!["hooks.n.b"],
            vec!["hooks.n.a"]
        ]
    );
    assert_still_sound("hooks.n");
}

/// A hooked poll and a tracked future nest either way.
#[test]
fn hooked_and_tracked_polls_nest() {
    let (a, b) = (async_lock("hooks.t.a"), async_lock("hooks.t.b"));
    let seen = Seen::default();
    let ((), reports) = capture(|| {
        let mut task = Task::new(async {
            let _ga = Guard::lock(a);
            let mut inner = pin!(tracked(async {
                let _gb = Guard::lock(b);
                yield_now().await;
            }));
            assert!(poll_once(inner.as_mut()).is_pending());
            seen.lock().unwrap().push(held_names());
            yield_now().await;
            assert!(poll_once(inner.as_mut()).is_ready());
        });
        assert!(task.poll().is_pending());
        assert!(held_locks().is_empty());
        assert!(task.poll().is_ready());
        task_end(task.id);
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert_eq!(seen.into_inner().unwrap(), [vec!["hooks.t.a"]]);
    assert_still_sound("hooks.t");
}

// ---------------------------------------------------------------- threads

/// A task polled on one thread, then on another: its lock goes with it.
/// Releasing it on the second thread is no bad unlock, and the first
/// thread is left holding nothing.
#[test]
fn a_task_moving_between_threads_takes_its_locks_along() {
    let a = async_lock("hooks.3.a");
    let during = Seen::default();
    let mut task = Task::new(async {
        let g = Guard::lock(a);
        yield_now().await;
        during.lock().unwrap().push(held_names());
        drop(g);
    });
    let id = task.id;
    task_name(id, "mover");
    for expect_ready in [false, true] {
        let (p, reports, after) = thread::scope(|s| {
            s.spawn(|| {
                let (p, reports) = capture(|| task.poll());
                (p, reports, held_names())
            })
            .join()
            .unwrap()
        });
        assert_eq!(p.is_ready(), expect_ready);
        assert!(reports.is_empty(), "{}", show(&reports));
        assert!(after.is_empty(), "the polling thread holds nothing after");
    }
    task_end(id);
    drop(task);
    assert_eq!(during.into_inner().unwrap(), [["hooks.3.a"]]);
}

/// The next poll begins on another thread before this poll's end has run
/// (tokio's after-poll hook runs once the task is idle again, so another
/// worker can steal it first): that begin waits for the end and gets the
/// task's entries, with no report.
#[test]
fn a_begin_racing_the_previous_end_waits_for_it() {
    let a = async_lock("hooks.3r.a");
    let id = fresh_id();
    let (began_tx, began_rx) = mpsc::channel();
    thread::scope(|s| {
        let first = s.spawn(move || {
            capture(|| {
                task_poll_begin(id);
                std::mem::forget(Guard::lock(a));
                began_tx.send(()).unwrap();
                thread::sleep(Duration::from_millis(50));
                task_poll_end(id);
                held_names()
            })
        });
        began_rx.recv().unwrap();
        let second = s.spawn(move || {
            capture(|| {
                task_poll_begin(id); // while the first thread's poll is open
                let during = held_names();
                a.release_unpaired();
                task_poll_end(id);
                (during, held_names())
            })
        });
        let (after_first, r1) = first.join().unwrap();
        let ((during, after_second), r2) = second.join().unwrap();
        assert!(r1.is_empty() && r2.is_empty(), "{}{}", show(&r1), show(&r2));
        assert!(after_first.is_empty());
        assert_eq!(during, ["hooks.3r.a"], "the entry was handed over");
        assert!(after_second.is_empty());
    });
    task_end(id);
}

// ---------------------------------------------------------------- ends

/// A thread-bound lock held at a poll's end is reported, naming the lock
/// and the task; an async lock is not. The hook cannot tell `Pending` from
/// `Ready`: a thread-bound guard returned in the output is reported too.
#[test]
fn thread_bound_lock_held_at_end_is_reported() {
    let t = lock("hooks.4.thread_bound");
    let id = fresh_id();
    task_name(id, "holder");
    let (g, reports) = capture(|| {
        task_poll_begin(id);
        let g = Guard::lock(t);
        task_poll_end(id);
        g
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::HeldAcrossAwait],
        "{}",
        show(&reports)
    );
    let r = &reports[0];
    assert_eq!(r.classes(), ["hooks.4.thread_bound"]);
    assert_eq!(r.task(), Some("holder"));
    assert_eq!(r.held_locks().len(), 1, "built while still held");
    assert!(r.to_string().contains("task 'holder' (on thread '"), "{r}");
    assert!(held_locks().is_empty(), "the entry went back to the task");
    // The guard is released in the task's next poll (or would be dropped
    // with it): from the task's entries, unreported.
    let ((), reports) = capture(|| {
        task_poll_begin(id);
        drop(g);
        task_poll_end(id);
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    task_end(id);

    let a = async_lock("hooks.4.awaitable");
    let ((), reports) = capture(|| {
        round_robin(vec![Task::new(async {
            let _g = Guard::lock(a);
            yield_now().await;
        })])
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert_still_sound("hooks.4");
}

/// `task_end` discards a task's saved entries and its name, whether it
/// comes between polls or during one (tokio calls it inside the hooks).
#[test]
fn task_end_discards_entries_and_name() {
    let (a, b) = (async_lock("hooks.5.a"), async_lock("hooks.5.b"));
    let id = fresh_id();
    task_name(id, "ended");
    let seen = RefCell::new(Vec::new());
    let ((), reports) = capture(|| {
        // Between polls.
        task_poll_begin(id);
        std::mem::forget(Guard::lock(a));
        task_poll_end(id);
        task_end(id);
        task_poll_begin(id);
        seen.borrow_mut().push(held_names());
        task_poll_end(id);
        // During a poll: the entries left at its end are dropped with it.
        task_poll_begin(id);
        std::mem::forget(Guard::lock(b));
        task_end(id);
        task_poll_end(id);
        assert!(held_locks().is_empty());
        task_poll_begin(id);
        seen.borrow_mut().push(held_names());
        task_poll_end(id);
        task_end(id);
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert_eq!(*seen.borrow(), [Vec::<String>::new(), Vec::new()]);

    // The name went too: a report in a poll under the same id is unnamed.
    let (c, d) = (async_lock("hooks.5.c"), async_lock("hooks.5.d"));
    let ((), reports) = capture(|| {
        let _gc = Guard::lock(c);
        let _gd = Guard::lock(d);
    });
    assert!(reports.is_empty());
    let ((), reports) = capture(|| {
        task_poll_begin(id);
        let _gd = Guard::lock(d);
        let _gc = Guard::lock(c);
        drop((_gc, _gd));
        task_poll_end(id);
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(reports[0].task(), Some("<unnamed>"));
    task_end(id);
    task_end(fresh_id()); // an unknown id: ignored
    assert_still_sound("hooks.5");
}

/// A name given while the task is being polled takes effect from its
/// next poll.
#[test]
fn a_name_given_during_a_poll_applies_from_the_next() {
    let (a, b) = (async_lock("hooks.6.a"), async_lock("hooks.6.b"));
    let id = fresh_id();
    let ((), reports) = capture(|| {
        let _ga = Guard::lock(a);
        let _gb = Guard::lock(b);
    });
    assert!(reports.is_empty());
    let ((), reports) = capture(|| {
        task_poll_begin(id);
        task_name(id, "late");
        task_poll_end(id);
        task_poll_begin(id);
        let _gb = Guard::lock(b);
        let _ga = Guard::lock(a);
        drop((_ga, _gb));
        task_poll_end(id);
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(reports[0].task(), Some("late"));
    task_end(id);
}

// ---------------------------------------------------------------- misuse

/// The report of one mismatched hook call: a bad unlock balance whose
/// detail says which call and what was done.
#[track_caller]
fn assert_unbalanced(reports: &[Report], call: &str, outcome: &str) {
    assert_eq!(kinds(reports), [ReportKind::BadUnlock], "{}", show(reports));
    let detail = reports[0].detail();
    assert!(detail.contains(call), "{detail}");
    assert!(detail.contains(outcome), "{detail}");
}

/// An end with no poll open is reported and does nothing.
#[test]
fn an_end_without_a_begin_is_reported_and_ignored() {
    let x = async_lock("hooks.m1.x");
    let id = fresh_id();
    let ((), reports) = capture(|| {
        let _gx = Guard::lock(x);
        task_poll_end(id);
        assert_eq!(held_names(), ["hooks.m1.x"]);
    });
    assert_unbalanced(&reports, &format!("task_poll_end({id})"), "ignored");
    assert_still_sound("hooks.m1");
}

/// An end of another task than the innermost open one is reported and
/// ignored: the open polls stay open, and end in order afterwards.
#[test]
fn an_end_of_another_task_is_reported_and_ignored() {
    let (a, b) = (async_lock("hooks.m2.a"), async_lock("hooks.m2.b"));
    let (ia, ib) = (fresh_id(), fresh_id());
    let ((), reports) = capture(|| {
        task_poll_begin(ia);
        let ga = Guard::lock(a);
        task_poll_begin(ib);
        let gb = Guard::lock(b);
        task_poll_end(ia); // out of order
        assert_eq!(held_names(), ["hooks.m2.a", "hooks.m2.b"]);
        assert!(in_tracked_task());
        drop(gb);
        task_poll_end(ib);
        drop(ga);
        task_poll_end(ia);
    });
    let call = format!("task_poll_end({ia})");
    assert_unbalanced(&reports, &call, &format!("task {ib}'s"));
    task_end(ia);
    task_end(ib);
    assert_still_sound("hooks.m2");
}

/// An end inside a tracked poll begun after the begin: reported, ignored.
#[test]
fn an_end_inside_a_tracked_poll_is_reported_and_ignored() {
    let id = fresh_id();
    let ((), reports) = capture(|| {
        task_poll_begin(id);
        let mut inner = pin!(tracked(async { task_poll_end(id) }));
        assert!(poll_once(inner.as_mut()).is_ready());
        assert!(in_tracked_task(), "the hooked poll is still open");
        task_poll_end(id);
    });
    assert_unbalanced(&reports, &format!("task_poll_end({id})"), "tracked");
    task_end(id);
    assert_still_sound("hooks.m3");
}

/// A begin of a task being polled on this thread already: reported, and
/// the poll runs as a stand-in whose entries are dropped at its end; the
/// task's own poll goes on unharmed.
#[test]
fn a_begin_of_a_task_open_here_runs_a_stand_in() {
    let (a, b) = (async_lock("hooks.m4.a"), async_lock("hooks.m4.b"));
    let id = fresh_id();
    let ((), reports) = capture(|| {
        task_poll_begin(id);
        let ga = Guard::lock(a);
        task_poll_begin(id); // again
        std::mem::forget(Guard::lock(b));
        task_poll_end(id); // the stand-in's: `b` is dropped with it
        assert_eq!(held_names(), ["hooks.m4.a"]);
        task_poll_end(id);
        assert!(held_locks().is_empty());
        task_poll_begin(id);
        assert_eq!(held_names(), ["hooks.m4.a"]);
        drop(ga);
        task_poll_end(id);
    });
    assert_unbalanced(
        &reports,
        &format!("task_poll_begin({id})"),
        "on this thread already",
    );
    task_end(id);
    assert_still_sound("hooks.m4");
}

/// A begin of a task whose poll on another thread does not end within the
/// hand-over wait: reported after the wait (it does not hang), and the poll
/// runs as a stand-in; the other thread's poll ends normally after.
#[test]
fn a_begin_of_a_task_open_elsewhere_waits_then_runs_a_stand_in() {
    let a = async_lock("hooks.m5.a");
    let id = fresh_id();
    let (began_tx, began_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let owner = s.spawn(move || {
            capture(|| {
                task_poll_begin(id);
                let g = Guard::lock(a);
                began_tx.send(()).unwrap();
                done_rx.recv().unwrap(); // held open past the wait
                drop(g);
                task_poll_end(id);
            })
        });
        began_rx.recv().unwrap();
        let start = Instant::now();
        let ((), reports) = capture(|| {
            task_poll_begin(id);
            assert!(held_locks().is_empty(), "a stand-in holds nothing");
            task_poll_end(id);
        });
        let waited = start.elapsed();
        done_tx.send(()).unwrap();
        let ((), owner_reports) = owner.join().unwrap();
        assert!(owner_reports.is_empty(), "{}", show(&owner_reports));
        assert_unbalanced(
            &reports,
            &format!("task_poll_begin({id})"),
            "another thread",
        );
        assert!(waited >= Duration::from_millis(900), "{waited:?}");
        assert!(waited < Duration::from_secs(30), "{waited:?}");
    });
    task_end(id);
    assert_still_sound("hooks.m5");
}

/// A thread that exits with a poll open (holding nothing): the task is
/// dropped, so a later begin of its id neither waits nor finds entries.
#[test]
fn a_thread_exiting_with_a_poll_open_drops_the_task() {
    let id = fresh_id();
    thread::spawn(move || task_poll_begin(id)).join().unwrap();
    let start = Instant::now();
    let ((), reports) = capture(|| {
        task_poll_begin(id);
        assert!(held_locks().is_empty());
        task_poll_end(id);
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert!(start.elapsed() < Duration::from_millis(900));
    task_end(id);
}
