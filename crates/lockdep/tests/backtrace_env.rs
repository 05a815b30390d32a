//! `KERNSYNC_LOCKDEP_BACKTRACE=1` adds a backtrace to every report.
//!
//! The variable is read once, at the validator's first use, so it is set
//! first thing in the only test. (Without it reports carry none: see
//! `validation_off`.)
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{capture, is_enabled, LockClass, LockMap, Mode, ReportKind};

fn pair(outer: &LockMap, inner: &LockMap) {
    let ho = outer.acquire(Mode::Write);
    let hi = inner.acquire(Mode::Write);
    inner.release(hi);
    outer.release(ho);
}

#[test]
fn reports_carry_a_backtrace_when_asked() {
    std::env::set_var("KERNSYNC_LOCKDEP_BACKTRACE", "1");
    std::env::remove_var("KERNSYNC_LOCKDEP");
    assert!(is_enabled());
    let a = LockMap::new(LockClass::leak("bt_a"));
    let b = LockMap::new(LockClass::leak("bt_b"));
    let ((), reports) = capture(|| {
        pair(&a, &b);
        pair(&b, &a);
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let r = &reports[0];
    assert_eq!(r.kind(), ReportKind::CircularDependency);
    let bt = r.backtrace().expect("a backtrace");
    assert!(!bt.trim().is_empty());
    assert!(r.to_string().contains("stack backtrace:"));
}
