//! The shim's locks report to kernsync's validator: an ABBA on two
//! `parking_lot` locks is a reported cycle, named by the lines that first
//! took them.
#![cfg(not(feature = "send_guard"))]

use kernsync_lockdep::{ReportKind, capture};
use parking_lot::{FairMutex, Mutex, RecursiveRwLock, RwLock};

fn cycles(reports: &[kernsync_lockdep::Report]) -> usize {
    reports
        .iter()
        .filter(|r| r.kind() == ReportKind::CircularDependency)
        .count()
}

#[test]
fn mutex_abba_is_reported_with_first_use_classes() {
    if !kernsync_lockdep::COMPILED_IN {
        return;
    }
    let a = Mutex::new(0);
    let b = Mutex::new(0);
    let ((), reports) = capture(|| {
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        let _b = b.lock();
        let _a = a.lock();
    });
    assert_eq!(cycles(&reports), 1, "{reports:#?}");
    let classes = reports[0].classes();
    assert!(
        classes
            .iter()
            .all(|c| c.contains("lock first taken at") && c.contains("validation.rs")),
        "{classes:?}"
    );
}

#[test]
fn rwlock_write_read_inversion_is_reported() {
    if !kernsync_lockdep::COMPILED_IN {
        return;
    }
    let a = RwLock::new(0);
    let b = FairMutex::new(0);
    let ((), reports) = capture(|| {
        {
            let _a = a.read();
            let _b = b.lock();
        }
        let _b = b.lock();
        let _a = a.write();
    });
    assert_eq!(cycles(&reports), 1, "{reports:#?}");
}

#[test]
fn try_lock_adds_no_edge() {
    if !kernsync_lockdep::COMPILED_IN {
        return;
    }
    let a = Mutex::new(0);
    let b = Mutex::new(0);
    let ((), reports) = capture(|| {
        {
            let _a = a.lock();
            let _b = b.try_lock().unwrap();
        }
        let _b = b.lock();
        let _a = a.try_lock().unwrap();
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

#[test]
fn recursive_reads_of_a_recursive_rwlock_are_fine() {
    let l = RecursiveRwLock::new(1);
    let ((), reports) = capture(|| {
        let r1 = l.read();
        let r2 = l.read();
        assert_eq!(*r1 + *r2, 2);
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

#[test]
fn reading_a_plain_rwlock_twice_is_reported() {
    if !kernsync_lockdep::COMPILED_IN {
        return;
    }
    // A read of a task-fair lock waits behind a waiting writer, so a thread
    // that reads it again can deadlock.
    let l = RwLock::new(1);
    let ((), reports) = capture(|| {
        let _r1 = l.read();
        let _r2 = l.read();
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
}

#[test]
fn many_locks_from_one_line_nest_without_reports() {
    // First-use classes: locks of one class nest as successive subclasses.
    let locks: Vec<Mutex<u32>> = (0..4).map(Mutex::new).collect();
    let ((), reports) = capture(|| {
        let guards: Vec<_> = locks.iter().map(|m| m.lock()).collect();
        assert_eq!(guards.len(), 4);
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

#[test]
fn upgrade_and_downgrade_keep_the_validator_in_step() {
    let l = RwLock::new(0);
    let ((), reports) = capture(|| {
        let u = l.upgradable_read();
        let mut w = parking_lot::RwLockUpgradableReadGuard::upgrade(u);
        *w += 1;
        let r = parking_lot::RwLockWriteGuard::downgrade(w);
        assert_eq!(*r, 1);
    });
    assert!(reports.is_empty(), "{reports:#?}");
    assert!(kernsync_lockdep::held_locks().is_empty());
}

#[test]
fn reentrant_mutexes_are_not_validated() {
    // lock_api's `RawReentrantMutex::lock` is not `#[track_caller]`: the
    // inner mutex's first acquisition site is lock_api's own line, so the
    // validator leaves it unvalidated (no class joins every reentrant mutex).
    let a = parking_lot::ReentrantMutex::new(0);
    let b = parking_lot::ReentrantMutex::new(0);
    let ((), reports) = capture(|| {
        {
            let _a = a.lock();
            let _a2 = a.lock();
            let _b = b.lock();
        }
        let _b = b.lock();
        let _a = a.lock();
        assert!(kernsync_lockdep::held_locks().is_empty());
    });
    assert!(reports.is_empty(), "{reports:#?}");
}
