//! `LockMap::acquire_by_depth`: locks of one class nested in an order the
//! data decides (once-cells forcing sibling cells) are not recursion, while
//! the same lock again is, and cycles through other classes are found.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{capture, held_locks, LockClass, LockMap, Mode, ReportKind};

fn kinds(reports: &[kernsync_lockdep::Report]) -> Vec<ReportKind> {
    reports.iter().map(|r| r.kind()).collect()
}

#[test]
fn siblings_of_one_class_nest_as_successive_subclasses() {
    static CELL: LockClass = LockClass::new("by_depth_cell");
    let maps: Vec<LockMap> = (0..3).map(|_| LockMap::new(&CELL)).collect();
    let ((), reports) = capture(|| {
        let held: Vec<_> = maps
            .iter()
            .map(|m| m.acquire_by_depth(Mode::Write))
            .collect();
        let subclasses: Vec<_> = maps.iter().map(|m| m.held_subclass()).collect();
        assert_eq!(subclasses, [Some(0), Some(1), Some(2)]);
        for (m, h) in maps.iter().zip(held).rev() {
            m.release(h);
        }
    });
    assert!(reports.is_empty(), "{reports:#?}");
    assert!(held_locks().is_empty());
}

#[test]
fn the_same_lock_again_is_recursive_locking() {
    static CELL: LockClass = LockClass::new("by_depth_self");
    let map = LockMap::new(&CELL);
    let ((), reports) = capture(|| {
        let outer = map.acquire_by_depth(Mode::Write);
        let inner = map.acquire_by_depth(Mode::Write);
        map.release(inner);
        map.release(outer);
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::RecursiveLocking],
        "{reports:#?}"
    );
}

#[test]
fn a_cycle_through_another_class_is_found() {
    static CELL: LockClass = LockClass::new("by_depth_cycle_cell");
    static LOCK: LockClass = LockClass::new("by_depth_cycle_lock");
    let (cell, lock) = (LockMap::new(&CELL), LockMap::new(&LOCK));
    let ((), reports) = capture(|| {
        let c = cell.acquire_by_depth(Mode::Write);
        lock.acquire_release(Mode::Write);
        cell.release(c);
        let l = lock.acquire(Mode::Write);
        let c = cell.acquire_by_depth(Mode::Write);
        cell.release(c);
        lock.release(l);
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency],
        "{reports:#?}"
    );
}

#[test]
fn past_eight_of_one_class_the_acquisition_is_not_tracked() {
    static CELL: LockClass = LockClass::new("by_depth_deep");
    let maps: Vec<LockMap> = (0..10).map(|_| LockMap::new(&CELL)).collect();
    let ((), reports) = capture(|| {
        let held: Vec<_> = maps
            .iter()
            .map(|m| m.acquire_by_depth(Mode::Write))
            .collect();
        assert_eq!(held.iter().filter(|h| h.is_tracked()).count(), 8);
        assert_eq!(held_locks().len(), 8);
        for (m, h) in maps.iter().zip(held).rev() {
            m.release(h);
        }
    });
    assert!(reports.is_empty(), "{reports:#?}");
    assert!(held_locks().is_empty());
}
