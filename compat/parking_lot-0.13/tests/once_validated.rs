//! `Once` is a pseudo-lock: an initialiser that takes a lock, against a
//! caller that reaches the `Once` holding that lock, is a reported cycle
//! from a run that never raced.

use kernsync_lockdep::{ReportKind, capture};
use parking_lot::{Mutex, Once, OnceState};

#[test]
fn once_and_lock_cycle_is_reported() {
    if !kernsync_lockdep::COMPILED_IN || cfg!(feature = "send_guard") {
        return;
    }
    static INIT: Once = Once::new();
    let config = Mutex::new(0);
    let ((), reports) = capture(|| {
        INIT.call_once(|| *config.lock() += 1);
        // Later, a caller holding the lock reaches the same `Once`.
        let _c = config.lock();
        INIT.call_once(|| {});
    });
    assert!(
        reports
            .iter()
            .any(|r| r.kind() == ReportKind::CircularDependency),
        "{reports:#?}"
    );
}

#[test]
fn once_state_and_poison() {
    let once = Once::new();
    assert_eq!(once.state(), OnceState::New);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        once.call_once(|| panic!("boom"));
    }));
    assert!(r.is_err());
    assert_eq!(once.state(), OnceState::Poisoned);
    let mut seen = None;
    once.call_once_force(|s| seen = Some(s));
    assert_eq!(seen, Some(OnceState::Poisoned));
    assert!(once.state().done());
    assert_eq!(format!("{once:?}"), "Once { state: Done }");
}
