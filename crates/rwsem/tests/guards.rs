//! What users of the typed locks rely on beyond ordering: guards are `!Send`
//! and `Sync`, a panic inside a guard unlocks and leaves the validator's
//! stack clean (no poisoning), classes come from construction sites (and a
//! lock made inside the standard library gets one of its own), and the
//! usual traits work.
#![cfg(not(loom))]

use kernsync_lockdep::{capture, held_locks, ReportKind};
use kernsync_rwsem::{Mutex, MutexGuard, RwSem, RwSemReadGuard, RwSemWriteGuard};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn assert_sync<T: Sync>() {}

#[test]
fn guards_are_sync() {
    assert_sync::<MutexGuard<'_, u32>>();
    assert_sync::<RwSemReadGuard<'_, u32>>();
    assert_sync::<RwSemWriteGuard<'_, u32>>();
    assert_sync::<Mutex<u32>>();
    assert_sync::<RwSem<u32>>();
}

#[test]
fn panic_inside_a_guard_unlocks_and_unwinds_the_held_stack() {
    let m = Mutex::new(1);
    let l = RwSem::new(2);
    let ((), reports) = capture(|| {
        let r = catch_unwind(AssertUnwindSafe(|| {
            let _g = m.lock();
            let _w = l.write();
            panic!("inside the guards");
        }));
        assert!(r.is_err());
        assert!(!m.is_locked());
        assert!(!l.is_locked());
        assert!(held_locks().is_empty());
        // No poisoning: the data is there, and the next lock reports nothing.
        assert_eq!(*m.lock(), 1);
        assert_eq!(*l.read(), 2);
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn locks_made_at_one_line_share_a_class() {
    let make = || Mutex::new(0); // one construction site, one class
    let (a, b) = (make(), make());
    let ((), reports) = capture(|| {
        let _a = a.lock();
        let _b = b.lock();
    });
    if kernsync_lockdep::COMPILED_IN {
        assert_eq!(
            reports.iter().map(|r| r.kind()).collect::<Vec<_>>(),
            [ReportKind::RecursiveLocking]
        );
    }
}

#[test]
fn locks_made_inside_the_standard_library_get_classes_of_their_own() {
    // `Default` reached through std: the site is in the standard library.
    let locks: Vec<Mutex<u32>> = std::iter::repeat_with(Default::default).take(2).collect();
    let x: Option<RwSem<u32>> = std::hint::black_box(None);
    let y = x.unwrap_or_default();
    let ((), reports) = capture(|| {
        let _a = locks[0].lock();
        let _b = locks[1].lock(); // two distinct anonymous classes: no report
        let _y = y.read();
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn traits_and_accessors() {
    let mut m = Mutex::from(5);
    *m.get_mut() += 1;
    // parking_lot's Debug output, so code that matches on it ports as is.
    assert_eq!(format!("{m:?}"), "Mutex { data: 6 }");
    assert_eq!(m.into_inner(), 6);
    let l: RwSem<Vec<u8>> = RwSem::default();
    l.write().push(1);
    assert_eq!(format!("{l:?}"), "RwSem { data: [1] }");
    let g = l.write();
    assert_eq!(format!("{l:?}"), "RwSem { data: <locked> }");
    drop(g);
    let r = RwSemReadGuard::map(l.read(), |v| &v[0]);
    assert_eq!(*r, 1);
}

#[test]
fn formatting_a_lock_this_thread_holds_is_silent() {
    let l = RwSem::new(1);
    let m = Mutex::new(2);
    let ((), reports) = capture(|| {
        let r = l.read();
        assert_eq!(format!("{l:?}"), "RwSem { data: 1 }");
        drop(r);
        let w = l.write();
        assert_eq!(format!("{l:?}"), "RwSem { data: <locked> }");
        drop(w);
        let g = m.lock();
        assert_eq!(format!("{m:?}"), "Mutex { data: <locked> }");
        drop(g);
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert!(held_locks().is_empty());
}
