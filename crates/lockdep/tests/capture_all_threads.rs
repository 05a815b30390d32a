//! `capture_all` collects the reports of every thread while it runs: an
//! inversion split across two threads, a thread that exits holding a lock
//! (collected instead of aborting the process), but not a thread's reports
//! inside its own `capture`. Two `capture_all`s run one after the other.
//!
//! `capture_all` sees every thread of the process, so this binary holds one
//! test and every report it raises is raised inside a capture.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{capture, capture_all, LockClass, LockMap, Mode, Report, ReportKind};
use std::sync::mpsc;
use std::time::Duration;

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(|r| r.kind()).collect()
}

fn nest(outer: &LockMap, inner: &LockMap) {
    let o = outer.acquire(Mode::Write);
    let i = inner.acquire(Mode::Write);
    inner.release(i);
    outer.release(o);
}

fn fresh(name: &str) -> LockMap {
    LockMap::new(LockClass::leak(name))
}

#[test]
fn capture_all_collects_every_threads_reports() {
    // An inversion whose two halves run on two threads, one after the other.
    let (a, b) = (fresh("all.a"), fresh("all.b"));
    let ((), reports) = capture_all(|| {
        std::thread::scope(|s| {
            s.spawn(|| nest(&a, &b));
        });
        std::thread::scope(|s| {
            s.spawn(|| nest(&b, &a));
        });
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency],
        "{reports:#?}"
    );
    assert_ne!(reports[0].thread(), std::thread::current().name().unwrap());

    // A thread exiting with a lock held: collected, where outside a capture
    // the process would abort (a thread-exit destructor cannot unwind).
    let leaked = fresh("all.leaked");
    let ((), reports) = capture_all(|| {
        std::thread::scope(|s| {
            // `join` waits for the thread's exit (its thread-local
            // destructors, where the check runs); a scope's own wait at its
            // end does not.
            s.spawn(|| {
                let _never_released = leaked.acquire(Mode::Write);
            })
            .join()
            .unwrap();
        });
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::LocksHeldAtExit],
        "{reports:#?}"
    );

    // A thread inside its own `capture` keeps its reports.
    let (c, d) = (fresh("all.c"), fresh("all.d"));
    let ((), reports) = capture_all(|| {
        let mine = std::thread::scope(|s| {
            s.spawn(|| capture(|| (nest(&c, &d), nest(&d, &c))).1)
                .join()
                .unwrap()
        });
        assert_eq!(kinds(&mine), [ReportKind::CircularDependency]);
    });
    assert!(reports.is_empty(), "{reports:#?}");

    // Two at once: the second starts when the first has ended, so each sees
    // only the report raised inside it.
    let (e, f, g, h) = (
        fresh("all.e"),
        fresh("all.f"),
        fresh("all.g"),
        fresh("all.h"),
    );
    let (started, wait) = mpsc::channel();
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| {
            capture_all(|| {
                started.send(()).unwrap();
                nest(&e, &f);
                std::thread::sleep(Duration::from_millis(50));
                nest(&f, &e);
            })
            .1
        });
        wait.recv().unwrap();
        let second = s.spawn(|| capture_all(|| (nest(&g, &h), nest(&h, &g))).1);
        (first.join().unwrap(), second.join().unwrap())
    });
    assert_eq!(kinds(&first), [ReportKind::CircularDependency]);
    assert_eq!(first[0].classes(), ["all.e", "all.f"]);
    assert_eq!(kinds(&second), [ReportKind::CircularDependency]);
    assert_eq!(second[0].classes(), ["all.g", "all.h"]);
}
