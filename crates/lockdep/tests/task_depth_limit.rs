//! A tracked task's held entries count toward `MAX_DEPTH` while swapped in:
//! resuming a task whose entries do not fit above what the polling thread
//! holds reports `DepthExceeded` once (naming the task) and turns validation
//! off; the thread's stack is left as it was and the task runs on.
//!
//! Reaching the bound switches validation off for the whole process, so this
//! binary holds one test.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{
    capture, held_locks, is_enabled, tracked_named, Held, LockClass, LockMap, Mode, ReportKind,
    MAX_DEPTH,
};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

fn fresh(name: String) -> &'static LockMap {
    Box::leak(Box::new(LockMap::new(LockClass::leak(&name)).awaitable()))
}

/// Returns `Pending` once, then `Ready`.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        let first = !self.0;
        self.0 = true;
        if first {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

#[test]
fn task_entries_past_the_bound_report_once_and_leave_the_thread_as_it_was() {
    std::env::remove_var("KERNSYNC_LOCKDEP");
    assert!(is_enabled(), "validation starts on");
    let mine: Vec<&LockMap> = (0..10).map(|i| fresh(format!("task_depth.t{i}"))).collect();
    let theirs: Vec<&LockMap> = (0..MAX_DEPTH - 5)
        .map(|i| fresh(format!("task_depth.h{i}")))
        .collect();
    let mut task = pin!(tracked_named("deep", async {
        let hs: Vec<Held> = mine.iter().map(|l| l.acquire(Mode::Write)).collect();
        YieldNow(false).await;
        for (l, h) in mine.iter().zip(hs).rev() {
            l.release(h);
        }
    }));
    let mut cx = Context::from_waker(Waker::noop());
    let (p, reports) = capture(|| task.as_mut().poll(&mut cx));
    assert!(p.is_pending() && reports.is_empty());
    assert!(held_locks().is_empty());

    let hs: Vec<Held> = theirs.iter().map(|l| l.acquire(Mode::Write)).collect();
    let (p, reports) = capture(|| task.as_mut().poll(&mut cx));
    assert!(p.is_ready(), "the task runs on");
    let kinds: Vec<ReportKind> = reports.iter().map(|r| r.kind()).collect();
    assert_eq!(kinds, [ReportKind::DepthExceeded]);
    let r = &reports[0];
    assert_eq!(r.task(), Some("deep"));
    assert!(
        r.detail().contains("task 'deep' with its 10 held lock(s)"),
        "{r}"
    );
    assert!(!is_enabled(), "validation is off after the bound");
    assert_eq!(
        held_locks().len(),
        MAX_DEPTH - 5,
        "the thread's stack is as it was"
    );
    for (l, h) in theirs.iter().zip(hs).rev() {
        l.release(h);
    }
    assert!(held_locks().is_empty());
}
