//! Held locks belong to the async task: a `tracked` task's entries are
//! swapped onto the polling thread's held stack around each poll, so tasks
//! interleaved on one thread do not see each other's locks, a task moving
//! between threads takes its locks along, a thread-bound lock held across
//! `Pending` is reported, and cancellation, nesting and unwinding leave
//! every stack as it was.
//!
//! The executors are written here (a `Wake` + park `block_on`, and a manual
//! round-robin poller on one thread); the "locks" are `LockMap`s held by a
//! guard across hand-written yields.
//!
//! (These docs come before the `cfg`: a crate-level `cfg` that is false
//! strips everything after it, docs included, and `missing_docs` would fire.)
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{
    capture, held_locks, in_tracked_task, tracked, tracked_named, Held, LockClass, LockMap, Mode,
    Report, ReportKind, Site,
};
use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

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

/// Returns `Pending` once (waking its waker), then `Ready`.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn yield_now() -> YieldNow {
    YieldNow(false)
}

/// Wakes by unparking the thread that runs `block_on`.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// A one-future executor: polls `fut` on this thread, parking between polls.
fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => thread::park(),
        }
    }
}

/// Polls `fut` once, with a waker that does nothing.
fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// A manual poller: polls the tasks round-robin on this thread, in the
/// order given, until all are done.
fn round_robin(mut tasks: Vec<Pin<Box<dyn Future<Output = ()> + '_>>>) {
    while !tasks.is_empty() {
        tasks.retain_mut(|t| poll_once(t.as_mut()).is_pending());
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

/// A task that holds `l` across a yield, recording what the thread holds
/// while it does (after taking it, and after the yield).
async fn hold_across_yield(l: &'static LockMap, seen: &RefCell<Vec<Vec<String>>>) {
    let _g = Guard::lock(l);
    seen.borrow_mut().push(held_names());
    yield_now().await;
    seen.borrow_mut().push(held_names());
}

// ---------------------------------------------------------------- 1

/// Two tasks interleaved on one thread, each holding an async lock across a
/// yield: each sees only its own lock held, and no edge joins them, in
/// either interleaving. Without `tracked`, the same schedule makes the
/// thread hold both and reports a cycle that no task has.
#[test]
fn interleaved_tasks_on_one_thread_see_only_their_own_locks() {
    let (a, b) = (async_lock("tasks.1.a"), async_lock("tasks.1.b"));
    let (sa, sb) = (RefCell::new(Vec::new()), RefCell::new(Vec::new()));
    let ((), reports) = capture(|| {
        for _ in 0..2 {
            round_robin(vec![
                Box::pin(tracked(hold_across_yield(a, &sa))),
                Box::pin(tracked(hold_across_yield(b, &sb))),
            ]);
            // The other interleaving: b's task first.
            round_robin(vec![
                Box::pin(tracked(hold_across_yield(b, &sb))),
                Box::pin(tracked(hold_across_yield(a, &sa))),
            ]);
        }
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert!(sa.borrow().iter().all(|h| *h == ["tasks.1.a"]), "{sa:?}");
    assert!(sb.borrow().iter().all(|h| *h == ["tasks.1.b"]), "{sb:?}");
    assert!(held_locks().is_empty());

    // The control: the same schedule, untracked, gets it wrong.
    let (c, d) = (async_lock("tasks.1.c"), async_lock("tasks.1.d"));
    let (sc, sd) = (RefCell::new(Vec::new()), RefCell::new(Vec::new()));
    let ((), reports) = capture(|| {
        round_robin(vec![
            Box::pin(hold_across_yield(c, &sc)),
            Box::pin(hold_across_yield(d, &sd)),
        ]);
        round_robin(vec![
            Box::pin(hold_across_yield(d, &sd)),
            Box::pin(hold_across_yield(c, &sc)),
        ]);
    });
    assert_eq!(
        sd.borrow()[0],
        ["tasks.1.c", "tasks.1.d"],
        "the thread's stack mixes tasks"
    );
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
}

// ---------------------------------------------------------------- 2

/// ABBA between two tasks that never overlap: the cycle is found, and the
/// report names the task whose poll closed it.
#[test]
fn abba_between_tasks_is_reported_and_names_the_task() {
    let (a, b) = (async_lock("tasks.2.a"), async_lock("tasks.2.b"));
    let ((), reports) = capture(|| {
        block_on(tracked_named("first", async {
            let _ga = Guard::lock(a);
            yield_now().await;
            let _gb = Guard::lock(b);
            yield_now().await;
        }));
        block_on(tracked_named("second", async {
            let _gb = Guard::lock(b);
            yield_now().await;
            let _ga = Guard::lock(a); // B then A: the reverse order
            yield_now().await;
        }));
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency],
        "{}",
        show(&reports)
    );
    let r = &reports[0];
    assert_eq!(r.task(), Some("second"));
    assert_eq!(r.classes(), ["tasks.2.a", "tasks.2.b"]);
    let text = r.to_string();
    assert!(text.contains("task 'second' (on thread '"), "{text}");
    assert!(text.contains("1 lock held by task 'second'"), "{text}");
    assert!(held_locks().is_empty());
}

/// An unnamed task is named so, and a report outside any task has none.
#[test]
fn reports_name_an_unnamed_task_and_sync_ones_name_no_task() {
    let (a, b) = (async_lock("tasks.2u.a"), async_lock("tasks.2u.b"));
    let ((), reports) = capture(|| {
        let _ga = Guard::lock(a);
        let _gb = Guard::lock(b);
    });
    assert!(reports.is_empty());
    let ((), reports) = capture(|| {
        block_on(tracked(async {
            assert!(in_tracked_task());
            let _gb = Guard::lock(b);
            let _ga = Guard::lock(a);
        }))
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(reports[0].task(), Some("<unnamed>"));
    assert!(reports[0]
        .to_string()
        .contains("an unnamed task (on thread '"));
    assert!(!in_tracked_task());

    let x = lock("tasks.2u.x");
    let ((), reports) = capture(|| x.release(Held::UNTRACKED));
    assert!(reports.is_empty());
    let ((), reports) = capture(|| x.release_unpaired());
    assert_eq!(kinds(&reports), [ReportKind::BadUnlock]);
    assert_eq!(reports[0].task(), None);
    assert!(reports[0].to_string().contains("\nthread '"));
}

// ---------------------------------------------------------------- 3

/// A task polled on one thread, then on another: its lock goes with it.
/// Releasing it on the second thread is no bad unlock, and the first thread
/// is left holding nothing.
#[test]
fn a_task_moving_between_threads_takes_its_locks_along() {
    let a = async_lock("tasks.3.a");
    let mut task = Box::pin(tracked_named("mover", async move {
        let g = Guard::lock(a);
        yield_now().await;
        let during = held_names();
        drop(g);
        during
    }));
    let task = &mut task;
    let first = thread::scope(|s| {
        s.spawn(|| {
            let (p, reports) = capture(|| poll_once(task.as_mut()));
            assert!(p.is_pending());
            (reports, held_names())
        })
        .join()
        .unwrap()
    });
    assert!(first.0.is_empty(), "{}", show(&first.0));
    assert_eq!(
        first.1,
        Vec::<String>::new(),
        "thread 1 holds nothing after the poll"
    );
    let second = thread::scope(|s| {
        s.spawn(|| {
            let (p, reports) = capture(|| poll_once(task.as_mut()));
            (p, reports, held_names())
        })
        .join()
        .unwrap()
    });
    assert_eq!(second.0, Poll::Ready(vec!["tasks.3.a".to_owned()]));
    assert!(
        second.1.is_empty(),
        "no unlock-not-held report: {}",
        show(&second.1)
    );
    assert!(second.2.is_empty());
}

// ---------------------------------------------------------------- 4

/// A thread-bound lock held across `Pending` is reported, naming the lock,
/// where it was taken and the task; an async lock across `Pending` is not.
#[test]
fn thread_bound_lock_across_pending_is_reported_awaitable_is_not() {
    let t = lock("tasks.4.thread_bound");
    let at: RefCell<Option<&'static Location<'static>>> = RefCell::new(None);
    let ((), reports) = capture(|| {
        block_on(tracked_named("holder", async {
            let (g, here) = (Guard::lock(t), Location::caller());
            *at.borrow_mut() = Some(here);
            yield_now().await;
            drop(g);
        }))
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::HeldAcrossAwait],
        "{}",
        show(&reports)
    );
    let r = &reports[0];
    assert_eq!(r.classes(), ["tasks.4.thread_bound"]);
    assert_eq!(r.task(), Some("holder"));
    let (Some(Site::Code(site)), Some(here)) = (r.site(), *at.borrow()) else {
        panic!("no site: {r}");
    };
    assert_eq!((site.file(), site.line()), (here.file(), here.line()));
    // Built while the entry was still held: the report lists it.
    assert_eq!(r.held_locks().len(), 1);
    let text = r.to_string();
    assert!(text.contains("task 'holder' (on thread '"), "{text}");
    assert!(text.contains("tasks.4.thread_bound"), "{text}");
    assert!(held_locks().is_empty());

    let a = async_lock("tasks.4.awaitable");
    let ((), reports) = capture(|| {
        block_on(tracked_named("async holder", async {
            let _g = Guard::lock(a);
            yield_now().await;
        }))
    });
    assert!(reports.is_empty(), "{}", show(&reports));
}

/// In `Panic` mode the report unwinds out of the poll, and the stack is
/// already consistent: the entry went back to the task.
#[test]
fn held_across_await_panicking_leaves_the_stack_consistent() {
    let t = lock("tasks.4p.thread_bound");
    let mut task = pin!(tracked(async {
        let _g = Guard::lock(t);
        yield_now().await;
    }));
    let r = catch_unwind(AssertUnwindSafe(|| poll_once(task.as_mut())));
    let msg = r
        .expect_err("the report panics")
        .downcast::<String>()
        .unwrap();
    assert!(msg.contains("held across an await"), "{msg}");
    assert!(held_locks().is_empty());
    // The task still has its lock: finishing it releases it, unreported.
    let (p, reports) = capture(|| poll_once(task.as_mut()));
    assert!(p.is_ready() && reports.is_empty(), "{}", show(&reports));
    assert!(held_locks().is_empty());
}

// ---------------------------------------------------------------- 5

/// Dropping a task mid-way drops its guards from the task's stack: the
/// thread's stack is exactly as before, and nothing is reported.
#[test]
fn cancelled_task_releases_its_guards_from_its_own_stack() {
    let (x, a, b) = (
        lock("tasks.5.x"),
        async_lock("tasks.5.a"),
        async_lock("tasks.5.b"),
    );
    let ((), reports) = capture(|| {
        let gx = Guard::lock(x);
        let mut task = Box::pin(tracked_named("cancelled", async {
            let _ga = Guard::lock(a);
            yield_now().await;
            let _gb = Guard::lock(b);
            std::future::pending::<()>().await;
        }));
        assert!(poll_once(task.as_mut()).is_pending());
        assert!(poll_once(task.as_mut()).is_pending());
        assert_eq!(held_names(), ["tasks.5.x"]);
        drop(task); // as select! or an abort would
        assert_eq!(held_names(), ["tasks.5.x"]);
        drop(gx);
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert!(held_locks().is_empty());
}

/// A task dropped with a guard it forgot: the entry is discarded silently
/// (the guard is gone), and the thread is left as it was.
#[test]
fn cancelled_task_discards_what_its_future_left_held() {
    let a = async_lock("tasks.5f.a");
    let ((), reports) = capture(|| {
        let mut task = pin!(tracked(async {
            std::mem::forget(Guard::lock(a));
            std::future::pending::<()>().await;
        }));
        assert!(poll_once(task.as_mut()).is_pending());
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert!(held_locks().is_empty());
}

// ---------------------------------------------------------------- 6

/// A tracked future polled inside another's poll pushes its entries above
/// the outer task's, and each gets its own back.
#[test]
fn nested_tracked_polls_keep_stack_discipline() {
    let (a, b) = (async_lock("tasks.6.a"), async_lock("tasks.6.b"));
    let seen = RefCell::new(Vec::new());
    let ((), reports) = capture(|| {
        let mut outer = pin!(tracked_named("outer", async {
            let _ga = Guard::lock(a);
            tracked_named("inner", async {
                let _gb = Guard::lock(b);
                yield_now().await;
                seen.borrow_mut().push(held_names());
            })
            .await;
            seen.borrow_mut().push(held_names());
        }));
        assert!(poll_once(outer.as_mut()).is_pending());
        assert!(held_locks().is_empty());
        assert!(poll_once(outer.as_mut()).is_ready());
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert_eq!(
        *seen.borrow(),
        [vec!["tasks.6.a", "tasks.6.b"], vec!["tasks.6.a"]]
    );
    assert!(held_locks().is_empty());
}

/// A poll that panics leaves the thread's stack as before it, and the task
/// keeps the entries it held across the last yield: dropping it releases
/// them without a report.
#[test]
fn panicking_poll_restores_the_thread_and_keeps_the_task_consistent() {
    let (x, a, b) = (
        lock("tasks.6p.x"),
        async_lock("tasks.6p.a"),
        async_lock("tasks.6p.b"),
    );
    let ((), reports) = capture(|| {
        let gx = Guard::lock(x);
        let mut task = Box::pin(tracked_named("panicky", async {
            let _ga = Guard::lock(a);
            yield_now().await;
            let _gb = Guard::lock(b);
            resume_unwind(Box::new("expected test panic"));
        }));
        assert!(poll_once(task.as_mut()).is_pending());
        let r = catch_unwind(AssertUnwindSafe(|| poll_once(task.as_mut())));
        assert!(r.is_err());
        assert_eq!(held_names(), ["tasks.6p.x"]);
        assert!(!in_tracked_task());
        drop(task); // releases `a` from the task's stack
        assert_eq!(held_names(), ["tasks.6p.x"]);
        drop(gx);
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert!(held_locks().is_empty());
}

// ---------------------------------------------------------------- 7

/// The thread's own entries stay below the task's, untouched; a task
/// acquisition under a lock the thread holds adds that (real) edge.
#[test]
fn thread_entries_stay_below_and_edges_from_them_are_real() {
    let (x, a) = (lock("tasks.7.x"), async_lock("tasks.7.a"));
    let seen = RefCell::new(Vec::new());
    let ((), reports) = capture(|| {
        let gx = Guard::lock(x);
        let mut task = pin!(tracked(async {
            let _ga = Guard::lock(a);
            seen.borrow_mut().push(held_names());
            yield_now().await;
            seen.borrow_mut().push(held_names());
        }));
        assert!(poll_once(task.as_mut()).is_pending());
        assert_eq!(held_names(), ["tasks.7.x"]);
        assert!(poll_once(task.as_mut()).is_ready());
        assert_eq!(held_names(), ["tasks.7.x"]);
        drop(gx);
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert_eq!(
        *seen.borrow(),
        [["tasks.7.x", "tasks.7.a"], ["tasks.7.x", "tasks.7.a"]]
    );
    // The edge x -> a exists: a then x closes a cycle.
    let ((), reports) = capture(|| {
        let _ga = Guard::lock(a);
        let _gx = Guard::lock(x);
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(reports[0].classes(), ["tasks.7.x", "tasks.7.a"]);
}

/// A poll that releases locks the thread held before it: the rest stay the
/// thread's and the task's stay the task's, whether the release took the
/// top of the stack (the fast path) or one below it.
#[test]
fn poll_releasing_a_thread_lock_moves_the_boundary_not_the_entries() {
    let (t1, t2, t3) = (
        lock("tasks.7r.t1"),
        lock("tasks.7r.t2"),
        lock("tasks.7r.t3"),
    );
    let (a, b) = (async_lock("tasks.7r.a"), async_lock("tasks.7r.b"));
    let ((), reports) = capture(|| {
        let g1 = Guard::lock(t1);
        let mut g2 = Some(Guard::lock(t2));
        let mut g3 = Some(Guard::lock(t3));
        let seen = RefCell::new(Vec::new());
        let mut task = pin!(tracked(async {
            // The thread's top, released while the task holds nothing.
            drop(g3.take());
            let _ga = Guard::lock(a);
            yield_now().await;
            // Below the task's entry: removed from the middle.
            drop(g2.take());
            let _gb = Guard::lock(b);
            yield_now().await;
            seen.borrow_mut().push(held_names());
        }));
        assert!(poll_once(task.as_mut()).is_pending());
        assert_eq!(held_names(), ["tasks.7r.t1", "tasks.7r.t2"]);
        assert!(poll_once(task.as_mut()).is_pending());
        assert_eq!(held_names(), ["tasks.7r.t1"]);
        assert!(poll_once(task.as_mut()).is_ready());
        assert_eq!(
            *seen.borrow(),
            [["tasks.7r.t1", "tasks.7r.a", "tasks.7r.b"]]
        );
        assert_eq!(held_names(), ["tasks.7r.t1"]);
        drop(g1);
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert!(held_locks().is_empty());
}

/// On `Ready`, a guard returned in the output is the poller's: its entry
/// stays on the thread, and the thread releases it.
#[test]
fn ready_hands_held_entries_to_the_poller() {
    let a = async_lock("tasks.r.a");
    let ((), reports) = capture(|| {
        let mut task = pin!(tracked(async {
            let g = Guard::lock(a);
            yield_now().await;
            g
        }));
        assert!(poll_once(task.as_mut()).is_pending());
        assert!(held_locks().is_empty());
        let Poll::Ready(g) = poll_once(task.as_mut()) else {
            panic!("the task ends on its second poll");
        };
        assert_eq!(held_names(), ["tasks.r.a"]);
        drop(g);
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert!(held_locks().is_empty());
}
