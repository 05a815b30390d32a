//! A validator report in panic mode is a panic like any other: the locks
//! whose guards are dropped by its unwinding are poisoned; the lock whose
//! acquisition was reported was never taken and is not.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::Action;
use kernsync_sync::Mutex;
use std::panic;

#[test]
fn a_report_while_a_guard_is_held_poisons_that_lock_only() {
    kernsync_lockdep::set_action(Action::Panic);
    let a = Mutex::new(0);
    let b = Mutex::new(0);
    {
        let _a = a.lock().unwrap();
        let _b = b.lock().unwrap();
    }
    let r = panic::catch_unwind(|| {
        let _b = b.lock().unwrap();
        let _a = a.lock().unwrap(); // B then A: reported, a panic
    });
    assert!(r.is_err(), "the inversion was reported by a panic");
    assert!(b.is_poisoned(), "held during the unwind");
    assert!(!a.is_poisoned(), "reported before it was taken");
    assert!(a.try_lock().is_ok(), "and free");
}
