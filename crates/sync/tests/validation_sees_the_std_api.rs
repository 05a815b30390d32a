//! The std-shaped locks report to the validator: an ABBA on two of them in
//! one thread is one circular dependency.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{capture, ReportKind};
use kernsync_sync::{Condvar, Mutex, RwLock};
use std::time::Duration;

#[test]
fn an_abba_on_two_mutexes_is_one_circular_dependency() {
    let a = Mutex::new(0);
    let b = Mutex::new(0);
    let ((), reports) = capture(|| {
        {
            let _a = a.lock().unwrap();
            let _b = b.lock().unwrap();
        }
        let _b = b.lock().unwrap();
        let _a = a.lock().unwrap();
    });
    let kinds: Vec<_> = reports.iter().map(|r| r.kind()).collect();
    assert_eq!(kinds, [ReportKind::CircularDependency], "{reports:#?}");
}

#[test]
fn an_abba_between_a_rwlock_write_and_a_mutex_is_reported() {
    let a = RwLock::new(0);
    let b = Mutex::new(0);
    let ((), reports) = capture(|| {
        {
            let _a = a.write().unwrap();
            let _b = b.lock().unwrap();
        }
        let _b = b.lock().unwrap();
        let _a = a.write().unwrap();
    });
    let kinds: Vec<_> = reports.iter().map(|r| r.kind()).collect();
    assert_eq!(kinds, [ReportKind::CircularDependency], "{reports:#?}");
}

#[test]
fn a_condvar_wait_is_a_release_and_reacquire_with_no_report() {
    let outer = Mutex::new(());
    let m = Mutex::new(());
    let cv = Condvar::new();
    let ((), reports) = capture(|| {
        let _o = outer.lock().unwrap();
        let g = m.lock().unwrap();
        let (g, r) = cv.wait_timeout(g, Duration::from_millis(1)).unwrap();
        assert!(r.timed_out());
        drop(g);
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

/// The hints of a report on these locks name only what std's surface (and
/// `named`) offers: no `read_recursive`.
#[test]
fn hints_name_only_what_the_std_surface_offers() {
    let hint = |reports: Vec<kernsync_lockdep::Report>| {
        assert_eq!(reports.len(), 1, "{reports:#?}");
        reports[0].hint().expect("a hint").to_owned()
    };
    let rw = RwLock::new(0);
    let ((), reports) = capture(|| {
        let _a = rw.read().unwrap();
        let _b = rw.read().unwrap(); // a second read of one lock
    });
    // The same lock again keeps its subclass: named as itself, not "/1".
    assert!(
        reports
            .iter()
            .all(|r| r.classes().iter().all(|c| !c.ends_with("/1"))),
        "{reports:#?}"
    );
    let h = hint(reports);
    assert!(h.contains("RwLock has no recursive read"), "{h}");
    assert!(!h.contains("read_recursive"), "{h}");

    // (Two locks of one class nested are not reported on these types: see
    // the next test.)
}

/// std's API has no nesting annotation, so locks of one class (made at one
/// line: the fields of a `#[derive(Default)]` struct, list nodes) nest as
/// successive subclasses: nesting them, or coupling down a list, is not
/// reported, while a cycle through another class still is.
#[test]
fn locks_of_one_class_nest_without_annotation_and_cycles_through_others_are_found() {
    #[derive(Default)]
    struct Pair {
        left: Mutex<u8>,
        right: RwLock<u8>,
        spare: Mutex<u8>,
    }
    let pair = Pair::default();
    let nodes: Vec<Mutex<u8>> = (0..5).map(|_| Mutex::new(0)).collect();
    let ((), reports) = capture(|| {
        {
            let _l = pair.left.lock().unwrap();
            let _s = pair.spare.lock().unwrap();
            let _r = pair.right.write().unwrap();
        }
        // Lock coupling: take the next node, then drop the previous one.
        let mut prev = nodes[0].lock().unwrap();
        for next in &nodes[1..] {
            let g = next.lock().unwrap();
            drop(prev);
            prev = g;
        }
    });
    assert!(reports.is_empty(), "{reports:#?}");

    let other = Mutex::new(0);
    let ((), reports) = capture(|| {
        {
            let _n = nodes[0].lock().unwrap();
            let _o = other.lock().unwrap();
        }
        let _o = other.lock().unwrap();
        let _n = nodes[1].lock().unwrap();
    });
    let kinds: Vec<_> = reports.iter().map(|r| r.kind()).collect();
    assert_eq!(kinds, [ReportKind::CircularDependency], "{reports:#?}");
}
