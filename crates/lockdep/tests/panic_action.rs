//! The default action panics: a report raised outside `capture` fails the
//! code that found it, after the handler (if any) has seen it; each distinct
//! cycle panics once per process.
//!
//! The action is process-wide, so this binary holds one test (the other
//! actions are in `validation_off`).
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{
    action, capture, held_locks, is_enabled, set_handler, Action, Held, LockClass, LockMap, Mode,
    Report, ReportKind,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

static HANDLED: Mutex<Vec<Report>> = Mutex::new(Vec::new());

fn record(r: &Report) {
    HANDLED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(r.clone());
}

/// Releases a held lock when dropped, as a lock guard does during unwinding.
struct Guard<'a>(&'a LockMap, Option<Held>);

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if let Some(h) = self.1.take() {
            self.0.release(h);
        }
    }
}

fn pair(outer: &LockMap, inner: &LockMap) {
    let _go = Guard(outer, Some(outer.acquire(Mode::Write)));
    let _gi = Guard(inner, Some(inner.acquire(Mode::Write)));
}

fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[test]
fn a_report_outside_capture_panics_by_default() {
    std::env::remove_var("KERNSYNC_LOCKDEP");
    assert_eq!(action(), Action::Panic);
    assert!(is_enabled());
    set_handler(Some(record));

    let a = LockMap::new(LockClass::leak("panic_a"));
    let b = LockMap::new(LockClass::leak("panic_b"));
    pair(&a, &b);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let first = catch_unwind(AssertUnwindSafe(|| pair(&b, &a)));
    let again = catch_unwind(AssertUnwindSafe(|| pair(&b, &a)));
    std::panic::set_hook(hook);

    let err = first.expect_err("the reverse order panics");
    let text = panic_text(&*err);
    assert!(
        text.contains("possible circular locking dependency detected")
            && text.contains("panic_a -> panic_b"),
        "panic message: {text:?}"
    );
    let handled = std::mem::take(&mut *HANDLED.lock().unwrap_or_else(|e| e.into_inner()));
    assert_eq!(handled.len(), 1, "the handler saw it first: {handled:#?}");
    assert_eq!(handled[0].kind(), ReportKind::CircularDependency);
    assert!(again.is_ok(), "a cycle is reported once per process");
    assert!(
        held_locks().is_empty(),
        "the guard released during unwinding"
    );
    assert!(is_enabled(), "a panic does not turn validation off");

    // Capture still collects instead of panicking.
    set_handler(None);
    let c = LockMap::new(LockClass::leak("panic_c"));
    let d = LockMap::new(LockClass::leak("panic_d"));
    let ((), reports) = capture(|| {
        pair(&c, &d);
        pair(&d, &c);
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
}
