//! `Once`'s waits are a pseudo-lock: a closure that takes a lock, against a
//! thread that reaches the `Once` holding that lock, is a reported cycle
//! from a run that never raced. parking_lot's poisoning is kept.
#![cfg(not(feature = "send_guard"))]

use std::panic;

use kernsync_lockdep::{capture, held_locks, Report, ReportKind};
use parking_lot::{Mutex, Once, OnceState};

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

#[test]
fn once_closure_lock_against_lock_then_once_is_a_cycle() {
    if !kernsync_lockdep::COMPILED_IN {
        return;
    }
    static INIT: Once = Once::new();
    let l = Mutex::new(());
    let ((), reports) = capture(|| {
        INIT.call_once(|| {
            let _l = l.lock(); // INIT -> l
        });
        let _l = l.lock();
        INIT.call_once(|| {}); // l -> INIT: waits for whoever runs INIT
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency],
        "{reports:?}"
    );
    assert!(
        reports[0]
            .classes()
            .iter()
            .any(|c| c.contains("parking_lot::Once")),
        "{reports:?}"
    );
    assert!(held_locks().is_empty());
}

#[test]
fn poisoning_and_state_follow_parking_lot() {
    static O: Once = Once::new();
    assert_eq!(O.state(), OnceState::New);
    assert!(panic::catch_unwind(|| O.call_once(|| panic!("boom"))).is_err());
    assert_eq!(O.state(), OnceState::Poisoned);
    assert!(O.state().poisoned());
    let err = panic::catch_unwind(|| O.call_once(|| {})).unwrap_err();
    assert_eq!(
        err.downcast_ref::<&str>().copied(),
        Some("Once instance has previously been poisoned")
    );
    let mut seen = None;
    O.call_once_force(|s| seen = Some(s));
    assert_eq!(seen, Some(OnceState::Poisoned));
    assert!(O.state().done());
    assert_eq!(format!("{O:?}"), "Once { state: Done }");
    assert!(held_locks().is_empty());
}
