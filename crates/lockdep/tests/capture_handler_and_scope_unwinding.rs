//! Reports collected and handled where a user would not expect them:
//! captures nested and left by a panic, a report handler that takes locks
//! and raises reports itself (re-entering the handler), and `no_alloc` /
//! `atomic_section` / `lock_internals` scopes left by a panic inside other
//! scopes (the outer ones are restored).
//!
//! The handler test sets the process-wide handler for its duration; the
//! handler passes other threads' reports on as the default does.
//!
//! Each misuse must end in a clear report or panic, never a hang, a crash, a
//! silent wrong answer or a held stack that no longer matches what the
//! thread holds. Every scenario takes fresh classes and releases what it
//! took before it asserts (see `common/misuse.rs`); no test here turns
//! validation off or reaches a bound.
//
//! (These docs come before the `cfg`: a crate-level `cfg` that is false
//! strips everything after it, docs included, and `missing_docs` would fire.)
#![cfg(any(debug_assertions, feature = "lockdep"))]

mod common;

use common::misuse::*;
use kernsync_lockdep::{
    action, atomic_section, capture, held_locks, lock_internals, might_alloc, might_sleep,
    no_alloc, set_handler, Action, LockClass, LockMap, Report, ReportKind,
};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

// ------------------------------------------------------------ capture

#[test]
fn nested_captures_each_collect_their_own() {
    let (a, b, c) = (lock("capnest.a"), lock("capnest.b"), lock("capnest.c"));
    let ((inner, innermost), outer) = capture(|| {
        a.assert_held(); // outer
        let (innermost, inner) = capture(|| {
            b.assert_held(); // inner
            let ((), innermost) = capture(|| c.assert_held());
            b.release_unpaired(); // inner
            innermost
        });
        a.release_unpaired(); // outer
        (inner, innermost)
    });
    let names = |rs: &[Report]| -> Vec<(ReportKind, Vec<String>)> {
        rs.iter()
            .map(|r| {
                (
                    r.kind(),
                    r.classes().iter().map(|s| (*s).to_owned()).collect(),
                )
            })
            .collect()
    };
    assert_eq!(
        names(&outer),
        [
            (
                ReportKind::AssertionFailed,
                vec!["misuse.capnest.a".to_owned()]
            ),
            (ReportKind::BadUnlock, vec!["misuse.capnest.a".to_owned()]),
        ]
    );
    assert_eq!(
        names(&inner),
        [
            (
                ReportKind::AssertionFailed,
                vec!["misuse.capnest.b".to_owned()]
            ),
            (ReportKind::BadUnlock, vec!["misuse.capnest.b".to_owned()]),
        ]
    );
    assert_eq!(
        names(&innermost),
        [(
            ReportKind::AssertionFailed,
            vec!["misuse.capnest.c".to_owned()]
        )]
    );
}

#[test]
fn capture_left_by_a_panic_leaves_reports_acting_again() {
    let (pseudo, x, y) = (lock("capboom.pseudo"), lock("capboom.x"), lock("capboom.y"));
    let r = catch_unwind(AssertUnwindSafe(|| {
        capture(|| {
            pseudo.with(W, || {
                x.assert_held();
                boom()
            })
        })
    }));
    assert_eq!(payload_text(&*r.expect_err("it panicked")), EXPECTED);
    // `with` released on unwind.
    assert!(held_locks().is_empty());
    // Capturing works again...
    let ((), reports) = capture(|| y.assert_held());
    assert_eq!(kinds(&reports), [ReportKind::AssertionFailed]);
    // ...and, outside any capture, a report acts again (prints and panics in
    // the default action) rather than going to a stale collection.
    // (Only in the default action: `KERNSYNC_LOCKDEP=warn` prints and goes on.)
    if action() == Action::Panic {
        let r = catch_unwind(|| y.assert_held());
        let msg = payload_text(&*r.expect_err("a report outside capture panics"));
        assert!(
            msg.contains("lock assertion failed"),
            "the panic message reads: {msg}"
        );
    }
    assert!(held_locks().is_empty());
    assert_still_sound("capboom");
}

// ------------------------------------------------------------ the handler

thread_local! {
    /// Whether this thread's reports go to `reentrant_handler`'s scenario.
    static IN_HANDLER_TEST: Cell<bool> = const { Cell::new(false) };
    /// Inside `reentrant_handler` on this thread.
    static HANDLING: Cell<bool> = const { Cell::new(false) };
}

/// What the handler saw and did, for the test to check.
static HANDLED: Mutex<Vec<String>> = Mutex::new(Vec::new());
static HANDLER_LOCKS: Mutex<Option<[&'static LockMap; 3]>> = Mutex::new(None);

/// A handler that does everything a handler should not: takes locks in an
/// order that closes a cycle, sleeps in an atomic section and raises a
/// report outside any capture (which re-enters the handler).
fn reentrant_handler(r: &Report) {
    if !IN_HANDLER_TEST.with(Cell::get) {
        eprintln!("{r}"); // another test's report: print it, as by default
        return;
    }
    let log = |s: String| HANDLED.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    if HANDLING.with(Cell::get) {
        log(format!("reentered with {:?} {:?}", r.kind(), r.classes()));
        return;
    }
    HANDLING.with(|h| h.set(true));
    log(format!("handling {:?} {:?}", r.kind(), r.classes()));
    let [p, q, z] = HANDLER_LOCKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .expect("the handler's locks");
    let held_in_handler = held_locks().len();
    let ((), inner) = capture(|| {
        nest(p, q);
        nest(q, p); // a cycle, raised inside the handler
        atomic_section(|| might_sleep());
    });
    for i in &inner {
        log(format!("captured {:?} {:?}", i.kind(), i.classes()));
    }
    // Outside capture: re-enters the handler, then panics (default action).
    let r = catch_unwind(|| z.assert_held());
    log(format!("nested report panicked: {}", r.is_err()));
    log(format!(
        "held in handler: {held_in_handler} -> {}",
        held_locks().len()
    ));
    HANDLING.with(|h| h.set(false));
}

#[test]
fn report_handler_that_takes_locks_and_raises_reports() {
    struct Unset;
    impl Drop for Unset {
        fn drop(&mut self) {
            set_handler(None);
            IN_HANDLER_TEST.with(|f| f.set(false));
        }
    }
    let trigger = lock("handler.trigger");
    let outer = lock("handler.outer");
    *HANDLER_LOCKS.lock().unwrap_or_else(|e| e.into_inner()) = Some([
        shared("handler.p"),
        shared("handler.q"),
        shared("handler.z"),
    ]);
    IN_HANDLER_TEST.with(|f| f.set(true));
    set_handler(Some(reentrant_handler));
    let _unset = Unset;
    let ho = outer.acquire(W);
    // Outside capture: the handler receives the report, then it panics.
    let r = catch_unwind(|| trigger.assert_held());
    let held_after = held_names();
    outer.release(ho);
    drop(_unset);
    let panics = action() == Action::Panic; // not under KERNSYNC_LOCKDEP=warn
    if panics {
        let msg = payload_text(&*r.expect_err("the report panics after the handler"));
        assert!(msg.contains("lock assertion failed"), "{msg}");
    } else {
        assert!(r.is_ok());
    }
    assert_eq!(held_after, ["misuse.handler.outer"]);
    assert!(held_locks().is_empty());
    let log = HANDLED.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(
        log,
        [
            "handling AssertionFailed [\"misuse.handler.trigger\"]",
            "captured CircularDependency [\"misuse.handler.p\", \"misuse.handler.q\"]",
            "captured SleepInAtomic []",
            "reentered with AssertionFailed [\"misuse.handler.z\"]",
            &format!("nested report panicked: {panics}"),
            "held in handler: 1 -> 1",
        ],
        "{log:#?}"
    );
    assert_still_sound("handler");
}

// ------------------------------------------------------------ scopes

#[test]
fn scopes_left_by_a_panic_inside_other_scopes_restore_the_outer_ones() {
    let sleeper = lock("scopes.sleeper");
    let (outer_line, reports) = capture(|| {
        let outer_line = line!() + 1;
        no_alloc(|| {
            let r = catch_unwind(|| {
                atomic_section(|| no_alloc(|| lock_internals(|| atomic_section(|| boom()))))
            });
            assert!(r.is_err());
            // Still in the outer no_alloc scope (and it is the one named),
            // no longer atomic, no longer in the lock's internals.
            might_alloc();
            might_sleep();
            let h = sleeper.acquire(W);
            sleeper.release(h);
        });
        // Out of every scope.
        might_alloc();
        might_sleep();
        outer_line
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::AllocUnderNoAlloc],
        "{}",
        show(&reports)
    );
    let d = reports[0].detail();
    assert!(
        d.contains(&format!(
            "capture_handler_and_scope_unwinding.rs:{outer_line}:"
        )),
        "names the outer scope (line {outer_line}): {d}"
    );
    // An atomic section entered after all that is atomic again.
    let ((), reports) = capture(|| atomic_section(|| might_sleep()));
    assert_eq!(kinds(&reports), [ReportKind::SleepInAtomic]);
    assert!(held_locks().is_empty());
}

#[test]
fn panic_while_holding_atomic_and_no_alloc_classes_restores_the_context() {
    static ATOMIC: LockClass = LockClass::new("misuse.ctx.atomic").atomic();
    static NOALLOC: LockClass = LockClass::new("misuse.ctx.noalloc").no_alloc();
    let (spin, na) = (LockMap::new(&ATOMIC), LockMap::new(&NOALLOC));
    let r = catch_unwind(AssertUnwindSafe(|| {
        spin.with(W, || na.with(W, || boom()));
    }));
    assert!(r.is_err());
    assert!(held_locks().is_empty());
    let ((), reports) = capture(|| {
        might_sleep();
        might_alloc();
    });
    assert!(reports.is_empty(), "{}", show(&reports));
}
