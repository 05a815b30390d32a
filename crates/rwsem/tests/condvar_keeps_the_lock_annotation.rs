//! A condition-variable wait releases its mutex and takes it again. The
//! validator must see the second acquisition exactly as the first: under
//! the same nest lock, with the same stated-order key, in the same
//! subclass, however the wait ends (notified, timed out, spurious). A wait
//! that forgot the annotation reported recursive locking on correct code.
#![cfg(all(not(loom), any(debug_assertions, feature = "lockdep")))]

use kernsync_lockdep::{capture, held_locks, LockClass, Report, ReportKind};
use kernsync_rwsem::{Condvar, Mutex};
use std::sync::Arc;
use std::time::Duration;

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(|r| r.kind()).collect()
}

fn items(name: &str, n: u32) -> Vec<Mutex<u32>> {
    let class = LockClass::leak(name);
    (0..n).map(|i| Mutex::with_class(i, class)).collect()
}

#[test]
fn a_timed_out_wait_under_a_nest_lock_stays_under_it() {
    let all = Mutex::with_class((), LockClass::leak("cv.nest.all"));
    let items = items("cv.nest.item", 3);
    let cv = Condvar::new();
    let ((), reports) = capture(|| {
        let outer = all.lock();
        let _a = items[0].lock_nest_lock(&outer);
        let mut b = items[1].lock_nest_lock(&outer);
        let timed_out = cv.wait_for(&mut b, Duration::from_millis(1));
        assert!(timed_out.timed_out());
        // Still under the nest lock: a third lock of the class is fine.
        let _c = items[2].lock_nest_lock(&outer);
        assert_eq!(held_locks().len(), 2, "the outer lock and the merged entry");
    });
    assert!(reports.is_empty(), "{reports:#?}");
    assert!(held_locks().is_empty());
}

#[test]
fn a_notified_wait_in_a_stated_order_keeps_its_key() {
    let class = LockClass::leak("cv.ordered");
    let pair = Arc::new((Mutex::with_class(false, class), Condvar::new()));
    let low = Mutex::with_class(0u32, class);
    let high = Mutex::with_class(0u32, class);
    let ((), reports) = capture(|| {
        let _l = low.lock_ordered(1);
        let mut g = pair.0.lock_ordered(5);
        let p = Arc::clone(&pair);
        let t = std::thread::spawn(move || {
            *p.0.lock() = true;
            p.1.notify_one();
        });
        while !*g {
            pair.1.wait(&mut g);
        }
        // Key 5 is still held as key 5: key 9 after it keeps the order.
        let _h = high.lock_ordered(9);
        drop(g);
        t.join().unwrap();
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

#[test]
fn a_stated_order_broken_after_a_wait_is_still_reported() {
    let class = LockClass::leak("cv.ordered.broken");
    let m = Mutex::with_class((), class);
    let other = Mutex::with_class((), class);
    let cv = Condvar::new();
    let ((), reports) = capture(|| {
        let mut g = m.lock_ordered(5);
        let _ = cv.wait_for(&mut g, Duration::from_millis(1));
        let _o = other.lock_ordered(2); // below the key held: out of order
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::RecursiveLocking],
        "{reports:#?}"
    );
    assert!(reports[0].detail().contains("out of the stated order"));
}

#[test]
fn a_wait_on_a_nested_subclass_stays_in_it() {
    let class = LockClass::leak("cv.sub");
    let parent = Mutex::with_class((), class);
    let child = Mutex::with_class((), class);
    let cv = Condvar::new();
    let ((), reports) = capture(|| {
        let _p = parent.lock();
        let mut c = child.lock_nested(1);
        let _ = cv.wait_while_for(&mut c, |_| true, Duration::from_millis(1));
    });
    assert!(reports.is_empty(), "{reports:#?}");
}
