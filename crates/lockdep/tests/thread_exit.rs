//! Threads that exit holding locks (a leaked guard) are reported from a
//! thread-exit destructor.
//!
//! A panic cannot unwind out of a thread-local destructor, and `capture` is a
//! scope that has ended by then, so this binary switches the whole process to
//! `Action::Warn` with a handler that records every report, and checks the
//! record after joining the thread (its destructors have run by then). The
//! `Panic` action is checked in a child process, where it must abort.
//!
//! (These docs come before the `cfg`: a crate-level `cfg` that is false
//! strips everything after it, docs included, and `missing_docs` would fire.)
#![cfg(any(debug_assertions, feature = "lockdep"))]

use core::panic::Location;
use kernsync_lockdep::{
    capture, held_locks, set_action, set_handler, task_end, task_poll_begin, task_poll_end, Action,
    Held, LockClass, LockMap, Mode, Report, ReportKind, Site,
};
use std::process::{Command, Output};
use std::sync::{Mutex, Once};
use std::thread;

static REPORTS: Mutex<Vec<Report>> = Mutex::new(Vec::new());

fn record(r: &Report) {
    REPORTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(r.clone());
}

/// Warn and record, for the whole process (every test calls it first).
fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        set_action(Action::Warn);
        set_handler(Some(record));
    });
}

/// The recorded reports that name a class starting with `prefix`.
fn reports_naming(prefix: &str) -> Vec<Report> {
    REPORTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|r| r.classes().iter().any(|c| c.starts_with(prefix)))
        .cloned()
        .collect()
}

fn lock(name: &str) -> &'static LockMap {
    Box::leak(Box::new(LockMap::new(LockClass::leak(name))))
}

#[track_caller]
fn here() -> &'static Location<'static> {
    Location::caller()
}

fn same_line(site: Site, loc: &Location<'_>) -> bool {
    matches!(site, Site::Code(l) if l.file() == loc.file() && l.line() == loc.line())
}

/// Leaks an acquisition: it is never released, as after `mem::forget` of a
/// guard (`Held` itself has no destructor, so dropping it is the same).
fn leak(held: Held) {
    let _leaked = held;
}

/// A lock guard, as a real lock would have: releases on drop.
struct Guard(&'static LockMap, Option<Held>);

impl Guard {
    #[track_caller]
    fn lock(m: &'static LockMap, mode: Mode) -> Guard {
        Guard(m, Some(m.acquire(mode)))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(h) = self.1.take() {
            self.0.release(h);
        }
    }
}

#[test]
fn leaked_acquisition_is_reported_at_exit() {
    setup();
    let m = lock("exit.leak.m");
    let at = thread::Builder::new()
        .name("exit-leaker".into())
        .spawn(move || {
            let (h, at) = (m.acquire(Mode::Write), here());
            leak(h);
            at
        })
        .expect("spawn")
        .join()
        .expect("the leaking thread");
    let reports = reports_naming("exit.leak.");
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    assert_eq!(r.kind(), ReportKind::LocksHeldAtExit);
    assert_eq!(r.classes(), ["exit.leak.m"]);
    assert_eq!(r.thread(), "exit-leaker");
    assert_eq!(r.held_locks().len(), 1);
    assert_eq!(r.held_locks()[0].mode, Mode::Write);
    assert!(same_line(r.held_locks()[0].site, at));
    let site = format!("{}:{}:", at.file(), at.line());
    assert!(r.detail().contains(&site), "{}", r.detail());
}

/// A thread that exits inside a poll begun by `task_poll_begin` (its end
/// never came): the task's entries are on the thread's stack then, and the
/// thread-exit check reports them; the task is dropped, so its id starts
/// afresh.
#[test]
fn open_hooked_poll_at_exit_is_reported_and_its_task_dropped() {
    setup();
    let m: &'static LockMap = Box::leak(Box::new(
        LockMap::new(LockClass::leak("exit.hooked.m")).awaitable(),
    ));
    let id = 0x7e57_0001;
    let ((), reports) = capture(|| {
        task_poll_begin(id);
        leak(m.acquire(Mode::Write));
        task_poll_end(id);
    });
    assert!(reports.is_empty(), "{reports:?}");
    thread::Builder::new()
        .name("exit-in-poll".into())
        .spawn(move || task_poll_begin(id))
        .expect("spawn")
        .join()
        .expect("the exiting thread");
    let reports = reports_naming("exit.hooked.");
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::LocksHeldAtExit);
    assert_eq!(reports[0].thread(), "exit-in-poll");
    let ((), reports) = capture(|| {
        task_poll_begin(id);
        assert!(held_locks().is_empty(), "the task was dropped");
        task_poll_end(id);
    });
    assert!(reports.is_empty(), "{reports:?}");
    task_end(id);
}

#[test]
fn leaked_guard_among_released_ones_is_reported_alone() {
    setup();
    let (a, b, c) = (
        lock("exit.guard.a"),
        lock("exit.guard.b"),
        lock("exit.guard.c"),
    );
    thread::spawn(move || {
        let ga = Guard::lock(a, Mode::Write);
        let gb = Guard::lock(b, Mode::Read);
        let gc = Guard::lock(c, Mode::RecursiveRead);
        drop(ga); // out of order
        std::mem::forget(gb);
        drop(gc);
    })
    .join()
    .expect("the leaking thread");
    let reports = reports_naming("exit.guard.");
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::LocksHeldAtExit);
    assert_eq!(reports[0].classes(), ["exit.guard.b"]);
    assert_eq!(reports[0].held_locks()[0].mode, Mode::Read);
}

#[test]
fn every_leaked_lock_is_listed_outermost_first() {
    setup();
    let (a, b) = (lock("exit.two.a"), lock("exit.two.b"));
    let (at_a, at_b) = thread::spawn(move || {
        let (ha, at_a) = (a.acquire(Mode::Write), here());
        let (hb, at_b) = (b.acquire(Mode::Read), here());
        leak(ha);
        leak(hb);
        (at_a, at_b)
    })
    .join()
    .expect("the leaking thread");
    let reports = reports_naming("exit.two.");
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    assert_eq!(r.classes(), ["exit.two.a", "exit.two.b"]);
    let held = r.held_locks();
    assert_eq!((held[0].mode, held[1].mode), (Mode::Write, Mode::Read));
    assert!(same_line(held[0].site, at_a) && same_line(held[1].site, at_b));
}

#[test]
fn capture_in_the_exiting_thread_does_not_see_the_exit_report() {
    setup();
    let m = lock("exit.capture.m");
    let inside = thread::spawn(move || {
        capture(|| {
            leak(m.acquire(Mode::Write));
        })
        .1
    })
    .join()
    .expect("the leaking thread");
    // The capture ended before the thread did: the exit check reports to the
    // handler.
    assert!(inside.is_empty(), "{inside:?}");
    let reports = reports_naming("exit.capture.");
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::LocksHeldAtExit);
}

#[test]
fn thread_that_panics_holding_a_guard_exits_clean() {
    setup();
    let (guarded, raw) = (lock("exit.panic.guarded"), lock("exit.panic.raw"));
    let r = thread::spawn(move || {
        let _g = Guard::lock(guarded, Mode::Write);
        // An acquisition with no guard to release it on unwind stays held.
        leak(raw.acquire(Mode::Read));
        std::panic::resume_unwind(Box::new("expected: the thread panics holding locks"));
    })
    .join();
    assert!(r.is_err());
    let reports = reports_naming("exit.panic.");
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].classes(), ["exit.panic.raw"]);
}

#[test]
fn thread_that_exits_with_nothing_held_is_quiet() {
    setup();
    let (a, b) = (lock("exit.clean.a"), lock("exit.clean.b"));
    let reports = thread::spawn(move || {
        capture(|| {
            let _ga = Guard::lock(a, Mode::Write);
            let hb = b.acquire(Mode::Read);
            b.release(hb);
        })
        .1
    })
    .join()
    .expect("the thread");
    assert!(reports.is_empty(), "{reports:?}");
    assert!(reports_naming("exit.clean.").is_empty());
}

#[test]
fn a_hundred_short_lived_threads_exit_clean() {
    setup();
    let (a, b) = (lock("exit.many.a"), lock("exit.many.b"));
    let threads: Vec<_> = (0..100)
        .map(|i| {
            thread::spawn(move || {
                capture(|| {
                    let ha = a.acquire(Mode::Read);
                    let hb = b.acquire(Mode::Write);
                    if i % 2 == 0 {
                        a.release(ha); // out of order
                        b.release(hb);
                    } else {
                        b.release(hb);
                        a.release(ha);
                    }
                })
                .1
            })
        })
        .collect();
    for t in threads {
        let reports = t.join().expect("a short-lived thread");
        assert!(reports.is_empty(), "{reports:?}");
    }
    assert!(reports_naming("exit.many.").is_empty());
    // The control: one more thread that leaks is reported.
    thread::spawn(move || leak(a.acquire(Mode::Read)))
        .join()
        .expect("the leaking thread");
    let reports = reports_naming("exit.many.");
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::LocksHeldAtExit);
}

/// Runs this binary's test `name` alone in a child process with
/// `EXIT_CHILD=1` and the default (`panic`) action.
fn run_child(name: &str) -> Output {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("EXIT_CHILD", "1")
        .env("KERNSYNC_LOCKDEP", "panic")
        .output()
        .expect("run the child")
}

#[test]
fn panic_action_aborts_at_thread_exit_after_printing() {
    if std::env::var_os("EXIT_CHILD").is_some() {
        // The child: no setup, so the action is `panic` and there is no
        // handler. The exit check cannot unwind: it prints and aborts.
        let m = lock("exit.abort.m");
        let _ = thread::spawn(move || leak(m.acquire(Mode::Write))).join();
        println!("child: survived the thread exit");
        return;
    }
    let out = run_child("panic_action_aborts_at_thread_exit_after_printing");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(6), "SIGABRT expected\n{stderr}");
    }
    assert!(!stdout.contains("child: survived"), "{stdout}");
    assert!(stderr.contains("thread exited with locks held"), "{stderr}");
    assert!(stderr.contains("exit.abort.m"), "{stderr}");
    assert!(stderr.contains("cannot unwind here"), "{stderr}");
}
