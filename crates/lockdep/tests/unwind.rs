//! Panics and the validator: guards release on unwind and leave a clean held
//! stack, scopes are left on unwind, and a report raised while unwinding (in
//! a `Drop`) is captured, printed in `warn` mode, and aborts (rather than
//! double-panicking) in `panic` mode. The last two run in child processes.
//!
//! Expected panics are raised with `resume_unwind` where possible, which
//! skips the panic hook and keeps the output quiet.
//!
//! (These docs come before the `cfg`: a crate-level `cfg` that is false
//! strips everything after it, docs included, and `missing_docs` would fire.)
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{
    allocation_path, atomic_section, capture, held_locks, lock_internals, might_alloc, no_alloc,
    set_action, Action, Held, LockClass, LockMap, Mode, Report, ReportKind,
};
use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::process::{Command, Output};

fn lock(name: &str) -> LockMap {
    LockMap::new(LockClass::leak(name))
}

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

/// A lock guard, as a real lock would have: releases on drop.
struct Guard<'a>(&'a LockMap, Option<Held>);

impl<'a> Guard<'a> {
    #[track_caller]
    fn lock(m: &'a LockMap, mode: Mode) -> Guard<'a> {
        Guard(m, Some(m.acquire(mode)))
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if let Some(h) = self.1.take() {
            self.0.release(h);
        }
    }
}

/// Runs a closure on drop (during unwinding, in these tests).
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

const EXPECTED: &str = "expected test panic";

/// Panics without running the panic hook.
fn boom() -> ! {
    resume_unwind(Box::new(EXPECTED))
}

fn payload_is_ours(p: &(dyn Any + Send)) -> bool {
    p.downcast_ref::<&str>() == Some(&EXPECTED)
}

/// Takes `first` then `second` and releases both.
fn nest(first: &LockMap, second: &LockMap) {
    let _a = Guard::lock(first, Mode::Write);
    let _b = Guard::lock(second, Mode::Write);
}

#[test]
fn guard_released_on_unwind_then_relock_is_clean() {
    let a = lock("unwind.guard.a");
    let ((), reports) = capture(|| {
        let r = catch_unwind(|| {
            let _g = Guard::lock(&a, Mode::Write);
            assert!(a.is_held());
            boom();
        });
        assert!(payload_is_ours(&*r.expect_err("it panicked")));
        assert!(held_locks().is_empty());
        assert!(!a.is_held());
        // Taking it again is not recursive locking.
        let _g = Guard::lock(&a, Mode::Write);
        assert_eq!(held_locks().len(), 1);
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert!(held_locks().is_empty());
}

#[test]
fn with_releases_on_unwind() {
    let a = lock("unwind.with.a");
    let ((), reports) = capture(|| {
        let r = catch_unwind(|| {
            a.with(Mode::Write, || {
                assert!(a.is_held());
                boom()
            })
        });
        assert!(r.is_err());
        assert!(!a.is_held());
        assert!(held_locks().is_empty());
        a.with(Mode::Write, || assert!(a.is_held()));
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn nested_holds_unwind_both() {
    let (a, b) = (lock("unwind.nested.a"), lock("unwind.nested.b"));
    let ((), reports) = capture(|| {
        let r = catch_unwind(|| {
            let _ga = Guard::lock(&a, Mode::Write);
            let _gb = Guard::lock(&b, Mode::Read);
            assert_eq!(held_locks().len(), 2);
            boom();
        });
        assert!(r.is_err());
        assert!(held_locks().is_empty());
        nest(&a, &b);
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn guards_dropped_out_of_order_while_unwinding() {
    let (a, b, c) = (
        lock("unwind.order.a"),
        lock("unwind.order.b"),
        lock("unwind.order.c"),
    );
    let ((), reports) = capture(|| {
        let r = catch_unwind(|| {
            // An array drops front to back: the outermost is released first.
            let _guards = [
                Guard::lock(&a, Mode::Write),
                Guard::lock(&b, Mode::Write),
                Guard::lock(&c, Mode::Write),
            ];
            boom();
        });
        assert!(r.is_err());
        assert!(held_locks().is_empty());
        nest(&a, &c);
        assert!(held_locks().is_empty());
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn validator_panic_unwinds_the_held_guards() {
    // The only test here that lets a report act instead of capturing it.
    set_action(Action::Panic);
    let (a, b) = (lock("unwind.lockdep.a"), lock("unwind.lockdep.b"));
    let ((), reports) = capture(|| nest(&a, &b));
    assert!(reports.is_empty(), "{reports:?}");
    let r = catch_unwind(|| {
        let _gb = Guard::lock(&b, Mode::Write);
        let _ga = Guard::lock(&a, Mode::Write); // B then A: the report panics
        unreachable!("the inversion panics");
    });
    let payload = r.expect_err("the validator panicked");
    let msg = payload
        .downcast_ref::<String>()
        .expect("a formatted message");
    assert!(
        msg.contains("possible circular locking dependency detected"),
        "{msg}"
    );
    assert!(msg.contains("unwind.lockdep.a") && msg.contains("unwind.lockdep.b"));
    assert!(held_locks().is_empty());
    assert!(!a.is_held() && !b.is_held());
    // Nothing is left over: each lock can be taken again on its own.
    let ((), reports) = capture(|| {
        let _ga = Guard::lock(&a, Mode::Write);
        drop(_ga);
        let _gb = Guard::lock(&b, Mode::Write);
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn report_in_drop_during_unwinding_is_captured() {
    let m = lock("unwind.drop.m");
    let (a, b) = (lock("unwind.drop.a"), lock("unwind.drop.b"));
    let (r, reports) = capture(|| {
        catch_unwind(AssertUnwindSafe(|| {
            nest(&a, &b);
            let _d = OnDrop(|| {
                assert!(std::thread::panicking());
                m.assert_held(); // fails
                nest(&b, &a); // closes a cycle
            });
            boom();
        }))
    });
    // One panic, the original one: the reports did not panic again.
    assert!(payload_is_ours(&*r.expect_err("it panicked")));
    assert_eq!(
        kinds(&reports),
        [ReportKind::AssertionFailed, ReportKind::CircularDependency]
    );
    assert!(held_locks().is_empty());
}

#[test]
fn scopes_are_left_on_unwind() {
    let sleeper = lock("unwind.scopes.mutex");
    let l = lock("unwind.scopes.l");
    let r = catch_unwind(|| no_alloc(|| boom()));
    assert!(r.is_err());
    let r = catch_unwind(|| atomic_section(|| boom()));
    assert!(r.is_err());
    let r = catch_unwind(|| lock_internals(|| boom()));
    assert!(r.is_err());
    let r = catch_unwind(|| {
        allocation_path(|| {
            let _g = Guard::lock(&l, Mode::Write);
            boom()
        })
    });
    assert!(r.is_err());
    assert!(held_locks().is_empty());
    let ((), reports) = capture(|| {
        // Not in a no_alloc scope any more.
        might_alloc();
        // Not atomic any more: a sleeping lock is fine.
        let _g = Guard::lock(&sleeper, Mode::Write);
    });
    assert!(reports.is_empty(), "{reports:?}");
    // Not in the lock's internals nor in the allocation path any more: a
    // forbidden allocation is checked again.
    let ((), reports) = capture(|| {
        no_alloc(|| {
            might_alloc();
        })
    });
    assert_eq!(kinds(&reports), [ReportKind::AllocUnderNoAlloc]);
}

#[test]
fn inner_capture_unwound_restores_the_outer_one() {
    let (x, y) = (lock("unwind.capture.x"), lock("unwind.capture.y"));
    let ((), reports) = capture(|| {
        let r = catch_unwind(|| {
            capture(|| {
                x.assert_held();
                boom()
            })
        });
        assert!(r.is_err());
        y.assert_held();
    });
    assert_eq!(kinds(&reports), [ReportKind::AssertionFailed]);
    assert!(
        reports[0].detail().contains("unwind.capture.y"),
        "{}",
        reports[0].detail()
    );
}

/// Runs this binary's test `name` alone in a child process with
/// `UNWIND_CHILD=1` and `KERNSYNC_LOCKDEP=action`.
fn run_child(name: &str, action: &str) -> Output {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("UNWIND_CHILD", "1")
        .env("KERNSYNC_LOCKDEP", action)
        .output()
        .expect("run the child")
}

fn is_child() -> bool {
    std::env::var_os("UNWIND_CHILD").is_some()
}

/// The child's scenario: a `Drop` raises a report while a panic unwinds.
fn report_while_unwinding(tag: &str) {
    let m = lock(&format!("unwind.{tag}.m"));
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _d = OnDrop(|| m.assert_held());
        boom();
    }));
    let ours = r.as_ref().is_err_and(|p| payload_is_ours(&**p));
    println!("child: survived the report, original panic caught: {ours}");
}

#[test]
fn warn_action_prints_a_report_raised_while_unwinding_and_goes_on() {
    if is_child() {
        return report_while_unwinding("warn");
    }
    let out = run_child(
        "warn_action_prints_a_report_raised_while_unwinding_and_goes_on",
        "warn",
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{:?}\n{stdout}\n{stderr}", out.status);
    assert!(
        stdout.contains("child: survived the report, original panic caught: true"),
        "{stdout}"
    );
    assert!(
        stderr.contains("WARNING: lock assertion failed"),
        "{stderr}"
    );
    assert!(stderr.contains("\"unwind.warn.m\" is not held"), "{stderr}");
}

#[test]
fn panic_action_aborts_on_a_report_raised_while_unwinding() {
    if is_child() {
        return report_while_unwinding("abort");
    }
    let out = run_child(
        "panic_action_aborts_on_a_report_raised_while_unwinding",
        "panic",
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(6), "SIGABRT expected\n{stderr}");
    }
    assert!(!stdout.contains("child: survived"), "{stdout}");
    // Printed whole, then an abort of its own, not a panic in a destructor
    // during cleanup.
    assert!(
        stderr.contains("WARNING: lock assertion failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\"unwind.abort.m\" is not held"),
        "{stderr}"
    );
    assert!(stderr.contains("cannot unwind here"), "{stderr}");
    assert!(!stderr.contains("panic in a destructor"), "{stderr}");
}
