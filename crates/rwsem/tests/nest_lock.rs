//! Many locks of one class at once: under a nest lock (`lock_nest_lock`,
//! Linux's `mutex_lock_nest_lock`) or in a stated order (`lock_ordered`).
//! Without either, the second lock of the class is possible recursive
//! locking; with them it is not, and order against other classes is still
//! checked.
#![cfg(all(not(loom), any(debug_assertions, feature = "lockdep")))]

use kernsync_lockdep::{capture, held_locks, LockClass, LockMap, Mode, Report, ReportKind};
use kernsync_rwsem::{Mutex, RwSem};

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(|r| r.kind()).collect()
}

/// `n` mutexes of one fresh class.
fn items(name: &str, n: u32) -> Vec<Mutex<u32>> {
    let class = LockClass::leak(name);
    (0..n).map(|i| Mutex::with_class(i, class)).collect()
}

#[test]
fn many_mutexes_of_one_class_under_a_nest_lock_are_not_recursive() {
    let all = Mutex::with_class((), LockClass::leak("nest.all"));
    let items = items("nest.item", 64);
    let ((), reports) = capture(|| {
        let outer = all.lock();
        let held: Vec<_> = items.iter().map(|m| m.lock_nest_lock(&outer)).collect();
        assert_eq!(held.iter().map(|g| **g).sum::<u32>(), 63 * 64 / 2);
        // One entry for the outer lock, one for the 64 merged under it.
        assert_eq!(held_locks().len(), 2);
        drop(held);
        assert_eq!(held_locks().len(), 1);
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert!(held_locks().is_empty());
}

#[test]
fn the_same_without_the_nest_lock_is_reported() {
    let items = items("nest.plain", 2);
    let ((), reports) = capture(|| {
        let _a = items[0].lock();
        let _b = items[1].lock();
    });
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
}

#[test]
fn order_against_other_classes_is_still_checked() {
    let all = Mutex::with_class((), LockClass::leak("nest.order.all"));
    let items = items("nest.order.item", 2);
    let other = Mutex::with_class((), LockClass::leak("nest.order.other"));
    let ((), reports) = capture(|| {
        {
            let outer = all.lock();
            let _a = items[0].lock_nest_lock(&outer);
            let _o = other.lock(); // item -> other
        }
        let _o = other.lock();
        let _i = items[1].lock(); // other -> item: the inversion
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
}

#[test]
fn rwsems_under_a_write_or_read_guard_and_a_pseudo_lock() {
    let table = RwSem::with_class((), LockClass::leak("nest.rw.table"));
    let class = LockClass::leak("nest.rw.row");
    let rows: Vec<RwSem<u32>> = (0..8).map(|i| RwSem::with_class(i, class)).collect();
    static ALL_ROWS: LockClass = LockClass::new("nest.rw.all_rows");
    let pseudo = LockMap::new(&ALL_ROWS);
    let ((), reports) = capture(|| {
        {
            let t = table.write();
            let w: Vec<_> = rows.iter().map(|r| r.write_nest_lock(&t)).collect();
            assert_eq!(w.len(), 8);
        }
        {
            let t = table.read();
            let r: Vec<_> = rows.iter().map(|r| r.read_nest_lock(&t)).collect();
            assert_eq!(*r[7], 7);
        }
        // A pseudo-lock the caller holds may stand as the nest lock too.
        let h = pseudo.acquire(Mode::Write);
        let r: Vec<_> = rows.iter().map(|r| r.read_nest_lock(&pseudo)).collect();
        drop(r);
        pseudo.release(h);
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert!(held_locks().is_empty());
}

#[test]
fn a_stated_order_is_checked() {
    let items = items("nest.ordered", 4);
    let ((), reports) = capture(|| {
        let held: Vec<_> = items
            .iter()
            .enumerate()
            .map(|(i, m)| m.lock_ordered(i as u64))
            .collect();
        drop(held);
    });
    assert!(reports.is_empty(), "{reports:?}");
    let ((), reports) = capture(|| {
        let _b = items[1].lock_ordered(1);
        let _a = items[0].lock_ordered(0); // out of order
    });
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);

    let class = LockClass::leak("nest.ordered.rw");
    let rws: Vec<RwSem<()>> = (0..3).map(|_| RwSem::with_class((), class)).collect();
    let ((), reports) = capture(|| {
        let _a = rws[0].read_ordered(10);
        let _b = rws[1].write_ordered(20);
        let _c = rws[2].read_ordered(5); // out of order
    });
    // One report per held lock of the class with a larger key.
    assert_eq!(
        kinds(&reports),
        [ReportKind::RecursiveLocking, ReportKind::RecursiveLocking]
    );
}
