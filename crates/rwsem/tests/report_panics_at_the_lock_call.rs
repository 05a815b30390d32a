//! A report in panic mode panics at the user's lock call: the test harness
//! prints the panic's location first, so it must be the line that took the
//! lock (or released it, or asserted), not a line inside kernsync. Reports
//! raised where no caller is known (a `Drop`, thread exit) say in the panic
//! message where the lock was taken.
//!
//! The panic hook is process-wide, so this binary holds one test.
#![cfg(all(not(loom), any(debug_assertions, feature = "lockdep")))]

use kernsync_lockdep::{LockClass, LockMap, Mode};
use kernsync_rwsem::{Mutex, RwSem};
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::sync::Mutex as StdMutex;

/// Where the last panic happened, and its message.
static LAST: StdMutex<Option<(String, u32, String)>> = StdMutex::new(None);

/// Runs `f`, which must panic, and returns the panic's file, line and message.
fn panic_of(f: impl FnOnce()) -> (String, u32, String) {
    *LAST.lock().unwrap() = None;
    let r = catch_unwind(AssertUnwindSafe(f));
    assert!(r.is_err(), "expected a panic");
    LAST.lock().unwrap().take().expect("the hook saw the panic")
}

#[test]
fn the_panic_of_a_report_is_at_the_users_lock_call() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let loc = info.location().unwrap();
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        if !msg.starts_with("kernsync-lockdep:") {
            return default(info); // the test's own assertions
        }
        *LAST.lock().unwrap() = Some((loc.file().to_owned(), loc.line(), msg));
    }));
    let here = Location::caller().file();

    // An inversion on kernsync's Mutex: the second `lock()` of the reverse order.
    let a = Mutex::with_class(0, LockClass::leak("loc.mutex.a"));
    let b = Mutex::with_class(0, LockClass::leak("loc.mutex.b"));
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let (file, line, msg) = panic_of(|| {
        let _b = b.lock();
        let _a = a.lock(); // the closing acquisition: line!() - 3 below
    });
    assert_eq!(file, here, "{msg}");
    assert_eq!(line, line!() - 3, "{msg}");
    assert!(
        msg.contains("possible circular locking dependency"),
        "{msg}"
    );
    assert!(msg.contains(here), "the message names the site too: {msg}");

    // A read then a write of the same RwSem: recursive locking, at the write.
    let s = RwSem::with_class(0, LockClass::leak("loc.rwsem"));
    let (file, line, msg) = panic_of(|| {
        let _r = s.read();
        let _w = s.write();
    });
    assert_eq!((file.as_str(), line), (here, line!() - 2), "{msg}");

    // The raw hooks: a bad unlock, and an assertion.
    let m = LockMap::new(LockClass::leak("loc.map"));
    let (file, line, msg) = panic_of(|| m.release_unpaired());
    assert_eq!((file.as_str(), line), (here, line!() - 1), "{msg}");
    let (file, line, msg) = panic_of(|| m.assert_held());
    assert_eq!((file.as_str(), line), (here, line!() - 1), "{msg}");
    let h = m.acquire(Mode::Write);
    let (file, line, msg) = panic_of(|| {
        let _again = m.acquire(Mode::Write);
    });
    assert_eq!((file.as_str(), line), (here, line!() - 2), "{msg}");
    m.release(h);

    // Freed while held: raised in a `Drop`, the message says where it was taken.
    let (_, _, msg) = panic_of(|| {
        let m = LockMap::new(LockClass::leak("loc.freed"));
        let _leaked = m.acquire(Mode::Write);
        drop(m);
    });
    assert!(msg.contains("held lock freed at"), "{msg}");
    assert!(msg.contains(here), "{msg}");
    let _ = std::panic::take_hook();
}
