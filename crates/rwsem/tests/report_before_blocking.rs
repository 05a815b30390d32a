//! Validation happens before a lock can block: a self-deadlock is reported
//! (in the default `Panic` action, a panic) instead of hanging, and the
//! unwinding leaves the lock and the held-lock stack clean. Outside
//! `capture` on purpose, so this binary holds only these tests.
#![cfg(all(not(loom), any(debug_assertions, feature = "lockdep")))]

use kernsync_lockdep::{held_locks, LockClass};
use kernsync_rwsem::{Mutex, RwSem};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn panic_message(e: Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn relocking_a_held_mutex_panics_instead_of_hanging() {
    let m = Mutex::with_class(0, LockClass::leak("rbb_mutex"));
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _g = m.lock();
        let _again = m.lock(); // would deadlock: reported first
    }));
    let msg = panic_message(r.expect_err("the second lock must panic"));
    assert!(msg.contains("recursive locking"), "{msg}");
    assert!(!m.is_locked());
    assert!(held_locks().is_empty());
    *m.lock() += 1;
}

#[test]
fn write_under_own_read_panics_instead_of_hanging() {
    let l = RwSem::with_class(0, LockClass::leak("rbb_rwsem"));
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _r = l.read();
        let _w = l.write(); // would wait for itself forever
    }));
    assert!(r.is_err());
    assert!(!l.is_locked());
    assert!(held_locks().is_empty());
    *l.write() += 1;
}
