//! Delivering reports: to `capture`, to the handler or stderr, then the action.

use super::config;
use super::thread::{with_thread, Busy};
use crate::report::{Action, Report};
use std::cell::RefCell;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// What a `capture_all` collects, while one runs.
static ALL: Mutex<Option<Vec<Report>>> = Mutex::new(None);
/// Whether a `capture_all` runs: the hint every delivery reads first.
/// Relaxed: `ALL` itself is read under its lock; a delivery that sees the
/// flag late goes to the handler, as one raised just before the capture.
static ALL_ON: AtomicBool = AtomicBool::new(false);
/// Serialises `capture_all`s.
static ALL_GATE: Mutex<()> = Mutex::new(());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these; a poisoned one is still sound.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

thread_local! {
    /// The innermost `capture` on this thread collects here.
    static CAPTURED: RefCell<Option<Vec<Report>>> = const { RefCell::new(None) };
}

/// Runs `f` and returns the reports raised on the current thread meanwhile,
/// instead of acting on them (the test API). Threads `f` spawns report on
/// their own. Captures nest: the innermost one collects.
///
/// ```
/// use kernsync_lockdep::{capture, LockClass, LockMap, Mode, ReportKind};
/// let (a, b) = (LockMap::new(LockClass::leak("a")), LockMap::new(LockClass::leak("b")));
/// let ((), reports) = capture(|| {
///     let ha = a.acquire(Mode::Write);
///     let hb = b.acquire(Mode::Write);
///     b.release(hb);
///     a.release(ha);
///     let hb = b.acquire(Mode::Write);
///     let ha = a.acquire(Mode::Write); // B then A: the reverse order
///     a.release(ha);
///     b.release(hb);
/// });
/// # if kernsync_lockdep::COMPILED_IN {
/// assert_eq!(reports.len(), 1);
/// assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
/// # }
/// ```
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<Report>) {
    struct Restore(Option<Option<Vec<Report>>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(prev) = self.0.take() {
                let _ = CAPTURED.try_with(|c| *c.borrow_mut() = prev);
            }
        }
    }
    let prev = CAPTURED.with(|c| c.replace(Some(Vec::new())));
    let mut restore = Restore(Some(prev));
    let r = f();
    let prev = restore.0.take().unwrap_or_default();
    let got = CAPTURED.with(|c| c.replace(prev)).unwrap_or_default();
    (r, got)
}

/// Runs `f` and returns the reports raised on *every* thread meanwhile,
/// instead of acting on them: threads `f` spawns, thread-exit reports
/// included (collected, where outside a capture they would abort), and any
/// other thread of the process. A thread's exit check runs in its
/// thread-local destructors: `JoinHandle::join` waits for them, but the
/// implicit wait at the end of `thread::scope` does not, so join a thread
/// whose exit report you expect before `f` returns. A
/// thread inside its own [`capture`] keeps its reports there. Two
/// `capture_all`s run one after the other (a process-wide lock); tests that
/// run in parallel with one contribute their reports to it, so give such a
/// test a binary of its own.
///
/// ```
/// use kernsync_lockdep::{capture_all, LockClass, LockMap, Mode, ReportKind};
/// let (a, b) = (LockMap::new(LockClass::leak("a")), LockMap::new(LockClass::leak("b")));
/// let ((), reports) = capture_all(|| {
///     std::thread::scope(|s| {
///         s.spawn(|| {
///             let ha = a.acquire(Mode::Write);
///             let hb = b.acquire(Mode::Write); // A then B, on one thread
///             b.release(hb);
///             a.release(ha);
///         });
///     });
///     std::thread::scope(|s| {
///         s.spawn(|| {
///             let hb = b.acquire(Mode::Write);
///             let ha = a.acquire(Mode::Write); // B then A, on another
///             a.release(ha);
///             b.release(hb);
///         });
///     });
/// });
/// # if kernsync_lockdep::COMPILED_IN {
/// assert_eq!(reports.len(), 1);
/// assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
/// # }
/// ```
pub fn capture_all<R>(f: impl FnOnce() -> R) -> (R, Vec<Report>) {
    struct Stop;
    impl Drop for Stop {
        fn drop(&mut self) {
            ALL_ON.store(false, Ordering::Relaxed);
        }
    }
    let _gate = lock(&ALL_GATE);
    *lock(&ALL) = Some(Vec::new());
    ALL_ON.store(true, Ordering::Relaxed);
    let stop = Stop;
    let r = f();
    drop(stop);
    let got = lock(&ALL).take().unwrap_or_default();
    (r, got)
}

/// Collects `report` into a running `capture_all`, or gives it back.
fn collect_all(report: Report) -> Option<Report> {
    if !ALL_ON.load(Ordering::Relaxed) {
        return Some(report);
    }
    match lock(&ALL).as_mut() {
        Some(all) => {
            all.push(report);
            None
        }
        None => Some(report),
    }
}

/// Delivers one report. Runs as the validator's own work throughout (its
/// allocations, even the capture's, are not checked, so delivering cannot
/// raise another report); may panic in `Panic` mode, or abort where a panic
/// cannot unwind.
#[track_caller]
pub(crate) fn emit(report: Report, no_unwind: bool) {
    let action = config::action();
    let (report, no_unwind) = with_thread(|t| {
        let _busy = Busy::enter(t);
        let mut report = Some(report);
        let _ = CAPTURED.try_with(|c| {
            if let Some(v) = c.borrow_mut().as_mut() {
                v.extend(report.take());
            }
        });
        report = report.and_then(collect_all);
        if let Some(r) = &report {
            match config::handler() {
                Some(h) => h(r),
                // Warn mode goes on, so nothing else would show the report:
                // write to the process's stderr itself, which libtest does
                // not capture (it captures `eprint!` of passing tests).
                None if action == Action::Warn => {
                    let _ = writeln!(std::io::stderr().lock(), "{r}");
                }
                // Panic mode: the test that panics shows its captured output.
                None if action != Action::Off => eprintln!("{r}"),
                None => {}
            }
        }
        (report, no_unwind || t.no_unwind.get() != 0)
    });
    let Some(report) = report else {
        return; // captured
    };
    if action == Action::Panic {
        // The site first: where the panic cannot name the user's line (a
        // `Drop`, thread exit, the allocator), the message does.
        let at = report
            .site()
            .map(|s| format!(" at {s}"))
            .unwrap_or_default();
        if no_unwind || std::thread::panicking() {
            eprintln!(
                "kernsync-lockdep: {}{at}: cannot unwind here (allocator, thread exit or unwinding); aborting",
                report.title()
            );
            std::process::abort();
        }
        panic!(
            "kernsync-lockdep: {}{at}: {}",
            report.title(),
            report.classes().join(" -> ")
        );
    }
}
