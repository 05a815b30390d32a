//! Without `KERNSYNC_LOCKDEP_BACKTRACE` nothing of the backtraces shows: no
//! backtrace on a report or on its edges, no function beside a site. (With
//! it: `backtrace_env`.)
//!
//! The variable is read once, at the validator's first use, so the only
//! test sets it first thing.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{capture, is_enabled, LockClass, LockMap, Mode, ReportKind};

fn nest3(x: &LockMap, y: &LockMap, z: &LockMap) {
    let hx = x.acquire(Mode::Write);
    let hy = y.acquire(Mode::Write);
    let hz = z.acquire(Mode::Write);
    z.release(hz);
    y.release(hy);
    x.release(hx);
}

#[test]
fn reports_carry_no_backtrace_and_no_function_names() {
    std::env::set_var("KERNSYNC_LOCKDEP_BACKTRACE", "0");
    std::env::remove_var("KERNSYNC_LOCKDEP");
    assert!(is_enabled());
    let lock = |name: &str| LockMap::new(LockClass::leak(name));
    let (x, a, b, c) = (lock("off_x"), lock("off_a"), lock("off_b"), lock("off_c"));
    // The scenario of `backtrace_env::function_names_appear_beside_sites`.
    let ((), reports) = capture(|| {
        nest3(&a, &b, &c);
        nest3(&x, &c, &a);
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let r = &reports[0];
    assert_eq!(r.kind(), ReportKind::CircularDependency);
    assert_eq!(r.backtrace(), None);
    assert_eq!(r.edges().len(), 2);
    for d in r.edges() {
        assert_eq!(d.backtrace(), None);
        assert_eq!(d.held_in(), None);
        assert_eq!(d.taken_in(), None);
    }
    assert_eq!(r.held_locks().len(), 2);
    assert_eq!((r.held_in(0), r.held_in(1)), (None, None));
    let text = r.to_string();
    for absent in ["stack backtrace", "its stack", " (in "] {
        assert!(!text.contains(absent), "{absent:?} in\n{text}");
    }
}
