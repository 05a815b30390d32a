//! The async locks in tracked tasks: held entries belong to the task, follow
//! it between threads, go with a cancelled future, and report cycles between
//! tasks that never overlapped; a thread-bound lock held across an `.await`
//! is reported; untracked tasks never get a wrong report.
#![cfg(all(not(loom), any(debug_assertions, feature = "lockdep")))]

use kernsync_async::{tracked, tracked_named, Mutex, RwSem};
#[cfg(feature = "tokio")]
use kernsync_lockdep::capture_all;
use kernsync_lockdep::{capture, held_locks, Report, ReportKind};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

/// Returns `Pending` once (waking itself), then `Ready`: an `.await` point.
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

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Polls `fut` once with a no-op waker.
fn poll_once<F: Future + ?Sized>(fut: &mut Pin<Box<F>>) -> Poll<F::Output> {
    fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

/// Polls the futures round-robin on this thread until all are done.
fn interleave(mut futs: Vec<Boxed<'_, ()>>) {
    while !futs.is_empty() {
        futs.retain_mut(|f| poll_once(f).is_pending());
    }
}

#[test]
fn abba_between_tasks_that_never_overlap_is_reported_naming_the_task() {
    let a = Mutex::named("tt_abba_a", 0);
    let b = Mutex::named("tt_abba_b", 0);
    let ((), reports) = capture(|| {
        let mut first: Boxed<'_, ()> = Box::pin(tracked_named("first", async {
            let _a = a.lock().await;
            yield_now().await;
            let _b = b.lock().await; // A -> B, with A held across an await
            yield_now().await;
        }));
        while poll_once(&mut first).is_pending() {}
        let mut second: Boxed<'_, ()> = Box::pin(tracked_named("second", async {
            let _b = b.lock().await;
            yield_now().await;
            let _a = a.lock().await; // B -> A: the cycle
        }));
        while poll_once(&mut second).is_pending() {}
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(reports[0].task(), Some("second"));
    let text = reports[0].to_string();
    assert!(text.contains("task 'second'"), "{text}");
    assert!(held_locks().is_empty());
}

#[test]
fn interleaved_tracked_tasks_on_one_thread_see_only_their_own_locks() {
    let a = Mutex::named("tt_inter_a", 0);
    let b = Mutex::named("tt_inter_b", 0);
    let ((), reports) = capture(|| {
        // Each task holds its lock across a yield while the other runs, then
        // takes nothing else: no edge exists between A and B.
        interleave(vec![
            Box::pin(tracked(async {
                let _a = a.lock().await;
                yield_now().await;
                yield_now().await;
            })),
            Box::pin(tracked(async {
                let _b = b.lock().await;
                yield_now().await;
                let _a = a.lock().await; // B -> A only: no cycle
            })),
            Box::pin(tracked(async {
                yield_now().await;
                assert!(held_locks().is_empty(), "{:?}", held_locks());
            })),
        ]);
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert!(held_locks().is_empty());
}

#[test]
fn untracked_interleaved_tasks_get_no_wrong_report() {
    let a = Mutex::named("ut_inter_a", 0);
    let b = Mutex::named("ut_inter_b", 0);
    let ((), reports) = capture(|| {
        // Without tracking, each task's A or B would sit on the thread's
        // stack while the other runs: B taken "under" A is a false edge A ->
        // B, and the second task's B -> A a false cycle. Check-only
        // acquisitions hold nothing, so nothing is confused.
        interleave(vec![
            Box::pin(async {
                let _a = a.lock().await;
                for _ in 0..3 {
                    yield_now().await;
                }
            }),
            Box::pin(async {
                yield_now().await;
                let _b = b.lock().await;
                for _ in 0..3 {
                    yield_now().await;
                }
                let _a = a.lock().await; // free by now: B -> A only
            }),
        ]);
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert!(held_locks().is_empty());
}

#[test]
fn a_task_moving_between_threads_takes_its_async_locks_along() {
    let a = Arc::new(Mutex::named("tt_move_a", 0));
    let b = Arc::new(Mutex::named("tt_move_b", 0));
    let (a2, b2) = (a.clone(), b.clone());
    let ((), reports) = capture(move || {
        let mut task: Boxed<'static, ()> = Box::pin(tracked(async move {
            let _a = a2.lock().await;
            yield_now().await;
            let _b = b2.lock().await; // on the second thread, under A
        }));
        std::thread::spawn(move || {
            assert!(poll_once(&mut task).is_pending());
            assert!(held_locks().is_empty(), "A went back to the task");
            task
        })
        .join()
        .map(|mut task| {
            std::thread::spawn(move || {
                assert!(poll_once(&mut task).is_ready());
                assert!(held_locks().is_empty());
            })
            .join()
            .unwrap()
        })
        .unwrap();
        // The edge A -> B was recorded with A taken on the first thread.
        let mut reverse: Boxed<'_, ()> = Box::pin(tracked(async {
            let _b = b.lock().await;
            let _a = a.lock().await;
        }));
        while poll_once(&mut reverse).is_pending() {}
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
}

#[test]
fn a_thread_bound_lock_held_across_an_await_is_reported_an_async_one_is_not() {
    let sync = kernsync_sync::Mutex::new(0);
    let task_lock = Mutex::named("tt_await_async", 0);
    let ((), reports) = capture(|| {
        let mut fine: Boxed<'_, ()> = Box::pin(tracked_named("fine", async {
            let _g = task_lock.lock().await;
            yield_now().await;
        }));
        while poll_once(&mut fine).is_pending() {}
        // A std guard is not `Send`: this future could only run on a
        // current-thread runtime, where it stalls every other task.
        let mut bad = Box::pin(tracked_named("stalls", async {
            let _g = sync.lock().unwrap();
            yield_now().await;
        }));
        while poll_once(&mut bad).is_pending() {}
    });
    assert_eq!(kinds(&reports), [ReportKind::HeldAcrossAwait]);
    assert_eq!(reports[0].task(), Some("stalls"));
    let text = reports[0].to_string();
    assert!(
        text.contains("tracked_tasks.rs"),
        "names where it was taken: {text}"
    );
    assert!(held_locks().is_empty());
}

#[test]
fn an_async_lock_under_a_sync_one_and_the_reverse_is_one_cycle() {
    let sync = kernsync_rwsem::Mutex::named("tt_mixed_sync", ());
    let task_lock = Mutex::named("tt_mixed_async", 0);
    let ((), reports) = capture(|| {
        let mut one: Boxed<'_, ()> = Box::pin(tracked(async {
            let _g = task_lock.lock().await;
            yield_now().await;
            let _s = sync.lock(); // async -> sync, released before any await
        }));
        while poll_once(&mut one).is_pending() {}
        let _s = sync.lock();
        let mut two: Boxed<'_, ()> = Box::pin(tracked(async {
            let _g = task_lock.lock().await; // sync (the thread's) -> async
        }));
        while poll_once(&mut two).is_pending() {}
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
}

/// A task taking A, then B (which another holder makes it wait for), then
/// a read of C, with awaits between.
async fn three_locks(a: &Mutex<u32>, b: &Mutex<u32>, c: &RwSem<u32>) {
    let mut ga = a.lock().await;
    yield_now().await;
    let mut gb = b.lock().await;
    *ga += 1;
    yield_now().await;
    let gc = c.read().await;
    *gb += *gc;
    yield_now().await;
}

#[test]
fn cancelling_at_every_poll_point_leaves_nothing_behind() {
    let (a, b) = (
        Mutex::named("tt_cancel_a", 0),
        Mutex::named("tt_cancel_b", 0),
    );
    let c = RwSem::named("tt_cancel_c", 1);
    let ((), reports) = capture(|| {
        for cancel_after in 0..8 {
            // B is held by an untracked holder for the first two polls, so
            // the task waits on it at one of its poll points.
            let holder = b.try_lock().expect("free");
            let mut task: Boxed<'_, ()> = Box::pin(tracked(three_locks(&a, &b, &c)));
            let mut holder = Some(holder);
            for poll in 0..cancel_after {
                if poll == 2 {
                    holder = None;
                }
                if poll_once(&mut task).is_ready() {
                    break;
                }
            }
            drop(holder);
            drop(task);
            assert!(held_locks().is_empty(), "after {cancel_after} polls");
            assert!(a.try_lock().is_some(), "A free after {cancel_after} polls");
            assert!(b.try_lock().is_some(), "B free after {cancel_after} polls");
            assert!(c.try_write().is_some(), "C free after {cancel_after} polls");
        }
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[cfg(feature = "tokio")]
#[test]
fn spawned_tasks_on_a_multi_thread_runtime_find_the_abba() {
    use kernsync_async::rt;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let a = Arc::new(Mutex::named("tt_rt_a", 0));
    let b = Arc::new(Mutex::named("tt_rt_b", 0));
    let ((), reports) = capture_all(|| {
        rt.block_on(async {
            let (a1, b1) = (a.clone(), b.clone());
            rt::tokio::spawn_named("ab", async move {
                let _a = a1.lock().await;
                for _ in 0..20 {
                    tokio::task::yield_now().await;
                }
                let _b = b1.lock().await;
            })
            .await
            .unwrap();
            let (a2, b2) = (a.clone(), b.clone());
            rt::tokio::spawn_named("ba", async move {
                let _b = b2.lock().await;
                tokio::task::yield_now().await;
                let _a = a2.lock().await;
            })
            .await
            .unwrap();
        })
    });
    // The report is raised on a worker thread: `capture_all` collects it.
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency],
        "{reports:?}"
    );
    assert_eq!(reports[0].task(), Some("ba"));
}

#[test]
fn a_borrowed_guard_dropped_in_another_task_is_reported_and_the_lock_is_free() {
    use std::cell::RefCell;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let m = Mutex::named("tt_moved_guard", 0);
    let slot = RefCell::new(None);
    let mut taker = Box::pin(tracked_named("taker", async {
        *slot.borrow_mut() = Some(m.lock().await);
        yield_now().await;
    }));
    assert!(poll_once(&mut taker).is_pending());
    let mut dropper = Box::pin(tracked_named("dropper", async {
        drop(slot.borrow_mut().take());
    }));
    // Outside `capture`, the report panics (the default action) inside the
    // dropper's poll: the lock must be free all the same.
    let r = catch_unwind(AssertUnwindSafe(|| poll_once(&mut dropper)));
    if kernsync_lockdep::is_enabled()
        && kernsync_lockdep::action() == kernsync_lockdep::Action::Panic
    {
        let msg = r.expect_err("a bad unlock report");
        let text = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(text.contains("tt_moved_guard"), "{text}");
    }
    assert!(
        m.try_lock().is_some(),
        "the permits went back before the report"
    );
    drop(dropper);
    drop(taker); // its saved entry is discarded with it
    assert!(held_locks().is_empty());
}
