//! What the validator sees of the async locks without a tracked task:
//! async acquisitions are check-only (edges from the thread's held locks,
//! no held entry), `try_*` adds no edge, `blocking_*` holds a real entry of
//! its thread, owned guards are check-only, and a guard that moves to
//! another thread gives no report.
#![cfg(all(not(loom), any(debug_assertions, feature = "lockdep")))]

use kernsync_async::{block_on, Mutex, RwSem, RwSemUpgradableReadGuard};
use kernsync_lockdep::{capture, held_locks, Report, ReportKind};
use std::sync::Arc;

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

#[test]
fn blocking_then_async_abba_is_reported_with_both_names() {
    let a = Mutex::named("ab_mutex_a", 0);
    let b = Mutex::named("ab_mutex_b", 0);
    let ((), reports) = capture(|| {
        {
            let _a = a.blocking_lock();
            let _b = block_on(b.lock()); // A -> B
        }
        let _b = b.blocking_lock();
        let _a = block_on(a.lock()); // B -> A closes the cycle
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    let classes = reports[0].classes();
    assert!(
        classes.iter().any(|c| c.contains("ab_mutex_a")),
        "{classes:?}"
    );
    assert!(
        classes.iter().any(|c| c.contains("ab_mutex_b")),
        "{classes:?}"
    );
    for e in reports[0].edges() {
        assert!(e.taken_at.to_string().contains("lockdep_checks.rs"), "{e}");
    }
    assert!(held_locks().is_empty());
}

#[test]
fn an_async_guard_leaves_no_held_entry_and_a_blocking_one_does() {
    let m = Mutex::named("entries", 0);
    let g = block_on(m.lock());
    assert!(held_locks().is_empty(), "check-only");
    drop(g);
    let g = m.blocking_lock();
    assert_eq!(held_locks().len(), 1, "thread-bound");
    drop(g);
    assert!(held_locks().is_empty());
    let l = Arc::new(RwSem::named("owned", 0));
    let r = block_on(l.clone().read_owned());
    let w = l.try_write_owned();
    assert!(w.is_none());
    assert!(held_locks().is_empty(), "owned guards are check-only");
    drop(r);
    let r = l.blocking_read();
    assert_eq!(held_locks().len(), 1);
    drop(r);
}

#[test]
fn an_async_guard_dropped_on_another_thread_gives_no_report() {
    let m = Arc::new(Mutex::named("moved", 0));
    let ((), reports) = capture(|| {
        let g = block_on(m.lock());
        std::thread::scope(|s| s.spawn(move || drop(g)).join().unwrap());
        let g = block_on(m.clone().lock_owned());
        std::thread::spawn(move || drop(g)).join().unwrap();
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn try_lock_adds_no_edge() {
    let a = Mutex::named("try_a", 0);
    let b = Mutex::named("try_b", 0);
    let ((), reports) = capture(|| {
        {
            let _a = a.blocking_lock();
            let _b = b.try_lock().unwrap(); // no A -> B
        }
        let _b = b.blocking_lock();
        let _a = block_on(a.lock()); // B -> A: no cycle
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn awaiting_a_lock_the_thread_holds_is_reported_before_it_can_block() {
    let a = Mutex::named("self_a", 0);
    let ((), reports) = capture(|| {
        let _held = a.blocking_lock();
        let never_awaited = a.lock(); // would hang a block_on
        drop(never_awaited);
    });
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
}

#[test]
fn rwsem_read_then_write_cycle_is_reported() {
    let a = RwSem::named("rw_a", 0);
    let b = RwSem::named("rw_b", 0);
    let ((), reports) = capture(|| {
        {
            let _a = a.blocking_read();
            let _b = block_on(b.write()); // A(read) -> B
        }
        let _b = b.blocking_write();
        let _a = block_on(a.read()); // B -> A(read): reads wait behind writers
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
}

#[test]
fn an_upgrade_is_a_write_acquisition() {
    let a = RwSem::named("up_a", 0);
    let b = Mutex::named("up_b", 0);
    let ((), reports) = capture(|| {
        {
            let _b = b.blocking_lock();
            let up = block_on(a.upgradable_read());
            let w = block_on(RwSemUpgradableReadGuard::upgrade(up)); // B -> A(write)
            drop(w);
        }
        let _a = a.blocking_write();
        let _b = block_on(b.lock()); // A -> B
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
}

#[test]
fn a_blocking_write_downgraded_stays_held_as_a_read() {
    let a = RwSem::named("down_a", 0);
    let w = a.blocking_write();
    let r = kernsync_async::RwSemWriteGuard::downgrade(w);
    let held = held_locks();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].mode, kernsync_lockdep::Mode::Read);
    drop(r);
    assert!(held_locks().is_empty());
}

#[test]
fn a_blocking_guard_dropped_on_another_thread_is_a_bad_unlock() {
    let m = Mutex::named("blocking_moved", 0);
    let g = m.blocking_lock();
    let ((), reports) =
        std::thread::scope(|s| s.spawn(move || capture(move || drop(g))).join().unwrap());
    assert_eq!(kinds(&reports), [ReportKind::BadUnlock]);
    // The entry is still this thread's: release it as the validator sees it.
    assert_eq!(held_locks().len(), 1);
    m.lock_map().release_unpaired();
    assert!(held_locks().is_empty());
    assert!(m.try_lock().is_some(), "the permits went back");
}
