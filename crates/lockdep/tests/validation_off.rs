//! The actions other than the default: `KERNSYNC_LOCKDEP=off` and
//! `set_action(Action::Off)` validate nothing; `set_action(Action::Warn)`
//! reports without panicking; `set_handler` receives the reports raised
//! outside `capture`.
//!
//! The action is process-wide and the variable is read once, at first use,
//! so this binary holds one test and sets the variable first thing. The
//! default (`Panic`) has its binary, `panic_action`.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{
    action, capture, graph, held_locks, is_enabled, set_action, set_handler, Action, LockClass,
    LockMap, Mode, Report, ReportKind,
};
use std::sync::Mutex;

static HANDLED: Mutex<Vec<Report>> = Mutex::new(Vec::new());

fn record(r: &Report) {
    HANDLED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(r.clone());
}

fn handled() -> Vec<Report> {
    std::mem::take(&mut *HANDLED.lock().unwrap_or_else(|e| e.into_inner()))
}

fn pair(outer: &LockMap, inner: &LockMap) -> bool {
    let ho = outer.acquire(Mode::Write);
    let hi = inner.acquire(Mode::Write);
    let tracked = ho.is_tracked() || hi.is_tracked();
    inner.release(hi);
    outer.release(ho);
    tracked
}

/// An ABBA inversion between two fresh classes `{tag}_a`, `{tag}_b`.
/// Returns whether any acquisition was tracked.
fn abba(tag: &str) -> bool {
    let a = LockMap::new(LockClass::leak(&format!("{tag}_a")));
    let b = LockMap::new(LockClass::leak(&format!("{tag}_b")));
    pair(&a, &b) | pair(&b, &a)
}

#[test]
fn off_and_warn_actions_and_the_handler() {
    std::env::set_var("KERNSYNC_LOCKDEP", "off");
    std::env::remove_var("KERNSYNC_LOCKDEP_BACKTRACE");
    set_handler(Some(record));

    // Off from the environment: nothing is tracked or reported, inside or
    // outside capture (outside, a report would reach the handler).
    assert_eq!(action(), Action::Off);
    assert!(!is_enabled());
    let (tracked, reports) = capture(|| abba("off_env_captured"));
    assert!(reports.is_empty(), "{reports:#?}");
    assert!(!tracked);
    assert!(!abba("off_env_outside"));
    assert!(handled().is_empty());
    assert!(
        graph()
            .classes
            .iter()
            .all(|c| !c.name.starts_with("off_env")),
        "nothing reached the graph while off"
    );

    // Warn, by the setter: validation is on; a report outside capture goes
    // to the handler and nothing panics.
    set_action(Action::Warn);
    assert_eq!(action(), Action::Warn);
    assert!(is_enabled());
    assert!(abba("warn_handler"));
    let got = handled();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].kind(), ReportKind::CircularDependency);
    assert_eq!(got[0].classes(), ["warn_handler_a", "warn_handler_b"]);
    assert!(
        got[0].backtrace().is_none(),
        "no backtrace unless asked for"
    );

    // Inside capture the report is captured, not handed to the handler.
    let (_, reports) = capture(|| abba("warn_captured"));
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert!(handled().is_empty());

    // Without a handler, warn prints the report and goes on.
    set_handler(None);
    assert!(abba("warn_printed"));
    set_handler(Some(record));

    // Off by the setter, with a tracked lock held: its release is still
    // processed; an acquisition made while off is untracked and its release
    // is no bad unlock once validation is back on.
    let x = LockMap::new(LockClass::leak("off_setter_x"));
    let y = LockMap::new(LockClass::leak("off_setter_y"));
    let hx = x.acquire(Mode::Write);
    assert!(hx.is_tracked());
    set_action(Action::Off);
    assert!(!is_enabled());
    assert_eq!(action(), Action::Off);
    assert!(!abba("off_setter"));
    let hy = y.acquire(Mode::Write);
    assert!(!hy.is_tracked());
    x.release(hx);
    assert!(held_locks().is_empty());
    set_action(Action::Warn);
    assert!(is_enabled());
    y.release(hy);
    assert!(held_locks().is_empty());
    assert!(handled().is_empty(), "no report while off, no bad unlock");

    // Back on, the validator works as before.
    assert!(abba("warn_again"));
    assert_eq!(handled().len(), 1);
    set_handler(None);
}
