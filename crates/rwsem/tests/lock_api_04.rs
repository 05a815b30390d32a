//! lock_api 0.4's wrappers over kernsync (the `lock_api_04` feature):
//! `Checked` puts parking_lot 0.12's raw locks under the validator (every
//! acquisition mode recorded, an inversion reported at the user's line,
//! releases in any order, a forgotten guard a held lock), and kernsync's raw
//! locks exclude under lock_api 0.4's `Mutex` and `RwLock` (bounded stress
//! with invariants). No test waits on a lock it could deadlock on: the
//! closing acquisition of an inversion takes a free lock, and contention is
//! tried with a zero timeout.
#![cfg(all(feature = "lock_api_04", not(loom)))]

use kernsync_rwsem::{Checked, RawMutex, RawRwSem};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

/// parking_lot 0.12's mutex, validated, as lock_api 0.4 code names it.
type PlMutex<T> = lock_api_04::Mutex<Checked<parking_lot_012::RawMutex>, T>;
/// parking_lot 0.12's rwlock, validated.
type PlRwLock<T> = lock_api_04::RwLock<Checked<parking_lot_012::RawRwLock>, T>;

#[cfg(any(debug_assertions, feature = "lockdep"))]
mod validated {
    use super::*;
    use kernsync_lockdep::{capture, held_locks, LockClass, Mode, Report, ReportKind, Site};
    use lock_api_04::{
        RawMutex as _, RawRwLock as _, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
    };

    fn kinds(reports: &[Report]) -> Vec<ReportKind> {
        reports.iter().map(Report::kind).collect()
    }

    fn mutex<T>(name: &str, value: T) -> PlMutex<T> {
        lock_api_04::Mutex::from_raw(
            Checked::new(<parking_lot_012::RawMutex>::INIT, LockClass::leak(name)),
            value,
        )
    }

    fn rwlock<T>(name: &str, value: T) -> PlRwLock<T> {
        lock_api_04::RwLock::from_raw(
            Checked::new(<parking_lot_012::RawRwLock>::INIT, LockClass::leak(name)),
            value,
        )
    }

    /// The modes of the current thread's held locks, outermost first.
    fn held_modes() -> Vec<Mode> {
        held_locks().iter().map(|h| h.mode).collect()
    }

    /// Runs `f` on another thread and returns what it returns (the lock
    /// contended from there, so this thread's held stack is left alone).
    fn elsewhere<R: Send>(f: impl FnOnce() -> R + Send) -> R {
        thread::scope(|s| s.spawn(f).join().unwrap())
    }

    #[test]
    fn a_mutex_records_lock_try_and_timed_acquisitions() {
        let m = mutex("api04.mutex", 0u32);
        let ((), reports) = capture(|| {
            {
                let mut g = m.lock();
                *g += 1;
                assert_eq!(held_modes(), [Mode::Write]);
                assert!(elsewhere(|| m.try_lock().is_none()));
                assert!(elsewhere(|| m.try_lock_for(Duration::ZERO).is_none()));
            }
            assert_eq!(held_modes(), []);
            {
                let _g = m.try_lock().expect("free");
                assert_eq!(held_modes(), [Mode::Write]);
            }
            {
                let mut g = m.try_lock_for(Duration::from_millis(10)).expect("free");
                assert_eq!(held_modes(), [Mode::Write]);
                // A bump keeps the lock held, for the validator too.
                lock_api_04::MutexGuard::bump(&mut g);
                assert_eq!(held_modes(), [Mode::Write]);
            }
            assert_eq!(held_modes(), []);
            // A timed attempt that times out leaves nothing held.
            let g = m.lock();
            assert!(elsewhere(|| {
                let got = m.try_lock_for(Duration::ZERO).is_none();
                got && held_locks().is_empty()
            }));
            lock_api_04::MutexGuard::unlock_fair(g);
            assert_eq!(held_modes(), []);
        });
        assert_eq!(kinds(&reports), []);
        assert_eq!(*m.lock(), 1);
    }

    /// The inversion is reported at the closing `lock()` of this file: lock_api
    /// 0.4's lock methods are `#[track_caller]`, and so are `Checked`'s.
    #[test]
    fn an_abba_between_parking_lot_mutexes_is_reported_at_the_users_line() {
        let a = mutex("api04.abba.a", ());
        let b = mutex("api04.abba.b", ());
        let (line, reports) = capture(|| {
            {
                let _a = a.lock();
                let _b = b.lock();
            }
            let _b = b.lock();
            let line = line!() + 1;
            let _a = a.lock(); // closes b -> a
            line
        });
        assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
        assert_eq!(reports[0].classes(), ["api04.abba.a", "api04.abba.b"]);
        let Some(Site::Code(at)) = reports[0].site() else {
            panic!("no code site: {}", reports[0]);
        };
        assert_eq!((at.file(), at.line()), (file!(), line), "{}", reports[0]);
        for e in reports[0].edges() {
            for site in [e.held_at, e.taken_at] {
                let at = site.location().expect("a code site");
                assert_eq!(at.file(), file!(), "{e}");
            }
        }
    }

    /// Timed acquisitions can wait, so they add dependencies: a zero timeout
    /// on a free lock closes an inversion without any risk of hanging.
    #[test]
    fn an_abba_through_rwlock_timed_acquisitions_is_reported() {
        let a = rwlock("api04.rw.abba.a", 0);
        let b = rwlock("api04.rw.abba.b", 0);
        let ((), reports) = capture(|| {
            {
                let _a = a.write();
                let _b = b.read();
            }
            let _b = b.try_write_for(Duration::ZERO).expect("free");
            let _a = a.try_read_for(Duration::ZERO).expect("free");
        });
        assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
        // An immediate try adds none.
        let c = rwlock("api04.rw.try.c", 0);
        let d = rwlock("api04.rw.try.d", 0);
        let ((), reports) = capture(|| {
            {
                let _c = c.write();
                let _d = d.write();
            }
            let _d = d.write();
            let _c = c.try_write().expect("free");
        });
        assert_eq!(kinds(&reports), []);
    }

    #[test]
    fn rwlock_modes_downgrades_and_upgrades_are_recorded() {
        let l = rwlock("api04.rw.modes", 0u32);
        let ((), reports) = capture(|| {
            {
                let _r = l.read();
                let _r2 = l.read_recursive();
                assert_eq!(held_modes(), [Mode::Read, Mode::RecursiveRead]);
                assert!(elsewhere(|| l.try_write_for(Duration::ZERO).is_none()));
            }
            {
                let mut w = l.write();
                *w += 1;
                assert_eq!(held_modes(), [Mode::Write]);
                let r = RwLockWriteGuard::downgrade(w);
                assert_eq!(held_modes(), [Mode::Read]);
                assert!(elsewhere(|| l.try_read().is_some()));
                drop(r);
            }
            {
                let u = l.upgradable_read();
                assert_eq!(held_modes(), [Mode::Read]);
                let mut w = RwLockUpgradableReadGuard::upgrade(u);
                *w += 1;
                assert_eq!(held_modes(), [Mode::Write]);
                let u = RwLockWriteGuard::downgrade_to_upgradable(w);
                assert_eq!(held_modes(), [Mode::Read]);
                let w = RwLockUpgradableReadGuard::try_upgrade(u).expect("no other reader");
                assert_eq!(held_modes(), [Mode::Write]);
                let u = RwLockWriteGuard::downgrade_to_upgradable(w);
                // Another reader: a timed upgrade times out, still upgradable.
                let (ready, done) = (Barrier::new(2), Barrier::new(2));
                let u = thread::scope(|s| {
                    s.spawn(|| {
                        let _r = l.read();
                        ready.wait();
                        done.wait();
                    });
                    ready.wait();
                    let u = RwLockUpgradableReadGuard::try_upgrade_for(u, Duration::ZERO)
                        .expect_err("a reader is inside");
                    assert_eq!(held_modes(), [Mode::Read]);
                    done.wait();
                    u
                });
                let w = RwLockUpgradableReadGuard::try_upgrade_for(u, Duration::from_secs(5))
                    .expect("the reader left");
                assert_eq!(held_modes(), [Mode::Write]);
                let u = RwLockWriteGuard::downgrade_to_upgradable(w);
                let r = RwLockUpgradableReadGuard::downgrade(u);
                assert_eq!(held_modes(), [Mode::Read]);
                RwLockReadGuard::unlock_fair(r);
            }
            {
                let _r = l.try_read_recursive_for(Duration::ZERO).expect("free");
                assert_eq!(held_modes(), [Mode::RecursiveRead]);
            }
            {
                let _u = l.try_upgradable_read_for(Duration::ZERO).expect("free");
                assert_eq!(held_modes(), [Mode::Read]);
            }
            assert_eq!(held_modes(), []);
        });
        assert_eq!(kinds(&reports), []);
        assert_eq!(*l.read(), 2);
    }

    /// An upgrade waits for the other readers while holding what was taken
    /// after the upgradable read: a reader that takes those locks first
    /// deadlocks it, and the validator says so.
    #[test]
    fn an_upgrade_under_a_later_lock_is_reported() {
        let a = rwlock("api04.upgrade.a", ());
        let b = mutex("api04.upgrade.b", ());
        let ((), reports) = capture(|| {
            let u = a.upgradable_read();
            let _b = b.lock();
            let _w = RwLockUpgradableReadGuard::upgrade(u); // b -> a (write)
        });
        assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
        assert_eq!(held_modes(), []);
    }

    /// In panic mode the upgrade's report unwinds before the raw lock is
    /// upgraded; the read is recorded again, so the upgradable guard that
    /// lock_api drops while unwinding releases it cleanly (a bad unlock
    /// reported while unwinding would abort the process).
    #[test]
    fn an_upgrade_whose_report_unwinds_leaves_nothing_held() {
        let a = rwlock("api04.upgrade.unwind.a", ());
        let b = mutex("api04.upgrade.unwind.b", ());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let u = a.upgradable_read();
            let _b = b.lock();
            let _w = RwLockUpgradableReadGuard::upgrade(u);
        }));
        if kernsync_lockdep::action() == kernsync_lockdep::Action::Panic {
            let msg = r.expect_err("the report panics");
            let msg = msg.downcast_ref::<String>().expect("a formatted message");
            assert!(msg.contains("circular"), "{msg}");
        }
        assert_eq!(held_modes(), []);
        assert!(!a.is_locked() && !b.is_locked());
    }

    /// A downgrade waits for nothing, so it adds no dependency: downgrading
    /// `c` under `d` (taken after it) does not make `d -> c`, which would
    /// close a cycle with the `c -> d` just recorded.
    #[test]
    fn a_downgrade_adds_no_dependency() {
        let c = rwlock("api04.downgrade.c", ());
        let d = mutex("api04.downgrade.d", ());
        let ((), reports) = capture(|| {
            let w = c.write();
            let _d = d.lock(); // c -> d
            let _r = RwLockWriteGuard::downgrade(w);
            // Changed in place, below `d`, as under lock_api 0.5.
            assert_eq!(held_modes(), [Mode::Read, Mode::Write]);
        });
        assert_eq!(kinds(&reports), []);
    }

    #[test]
    fn guards_may_be_dropped_out_of_order() {
        let a = mutex("api04.order.a", ());
        let b = rwlock("api04.order.b", ());
        let c = mutex("api04.order.c", ());
        let ((), reports) = capture(|| {
            let ga = a.lock();
            let gb1 = b.read();
            let gb2 = b.read_recursive();
            let gc = c.lock();
            drop(ga);
            drop(gb1);
            assert_eq!(held_locks().len(), 2);
            drop(gc);
            drop(gb2);
            assert_eq!(held_modes(), []);
        });
        assert_eq!(kinds(&reports), []);
    }

    #[test]
    fn a_forgotten_guard_is_a_held_lock() {
        let m = mutex("api04.forgotten", 0u8);
        let ((), reports) = capture(|| {
            std::mem::forget(m.lock());
            assert!(m.is_locked());
            assert_eq!(held_modes(), [Mode::Write]);
            assert!(elsewhere(|| m.try_lock().is_none()));
            // SAFETY: the forgotten guard's acquisition is this thread's.
            unsafe { m.force_unlock() };
            assert_eq!(held_modes(), []);
        });
        assert_eq!(kinds(&reports), []);
        assert!(m.try_lock().is_some());
    }

    /// `INIT`-built locks (`lock_api_04::Mutex::new`) take the class of
    /// their first acquisition's line: two first taken at one line nest
    /// without a recursive-locking report, and the class names that line.
    #[test]
    fn locks_from_init_take_the_class_of_their_first_acquisition() {
        let locks: Vec<PlMutex<u8>> = (0..2).map(|_| lock_api_04::Mutex::new(0)).collect();
        let ((), reports) = capture(|| {
            let line = line!() + 1;
            let guards: Vec<_> = locks.iter().map(|l| l.lock()).collect();
            assert_eq!(held_locks().len(), 2);
            let class = &held_locks()[0].class;
            assert!(
                class.starts_with("lock first taken at ")
                    && class.contains(&format!("lock_api_04.rs:{line}:")),
                "{class}"
            );
            drop(guards);
        });
        assert_eq!(kinds(&reports), []);
    }

    /// kernsync's own checked locks under lock_api 0.4 names: recursive
    /// reads are `RecursiveRead`, a read then a write is recursive locking
    /// (reported on a free lock through a zero timeout).
    #[test]
    fn checked_kernsync_locks_work_under_lock_api_04() {
        let l: lock_api_04::RwLock<kernsync_rwsem::CheckedRawRwSem, u8> =
            lock_api_04::RwLock::from_raw(
                Checked::new(RawRwSem::new(), LockClass::leak("api04.ks")),
                0,
            );
        let ((), reports) = capture(|| {
            let _r = l.read_recursive();
            let _r2 = l.read_recursive();
            assert_eq!(held_modes(), [Mode::RecursiveRead, Mode::RecursiveRead]);
        });
        assert_eq!(kinds(&reports), []);
        let ((), reports) = capture(|| {
            let _r = l.read();
            assert!(l.try_write_for(Duration::ZERO).is_none());
        });
        assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
        assert_eq!(held_modes(), []);
        let m: lock_api_04::Mutex<kernsync_rwsem::CheckedRawMutex, u8> = lock_api_04::Mutex::new(1);
        assert_eq!(*m.lock(), 1);
    }
}

/// The checked parking_lot 0.12 locks are locks in every build, the
/// validator compiled in or not: each operation, from `INIT`.
#[test]
fn checked_parking_lot_012_locks_lock_in_every_build() {
    use lock_api_04::{RwLockUpgradableReadGuard as Upg, RwLockWriteGuard as Wr};
    let m: PlMutex<u32> = lock_api_04::Mutex::new(0);
    *m.lock() += 1;
    *m.try_lock().expect("free") += 1;
    *m.try_lock_for(Duration::ZERO).expect("free") += 1;
    let g = m.lock();
    assert!(m.is_locked());
    assert!(thread::scope(|s| s
        .spawn(|| m.try_lock().is_none())
        .join()
        .unwrap()));
    lock_api_04::MutexGuard::unlock_fair(g);
    assert_eq!(*m.lock(), 3);

    let l: PlRwLock<u32> = lock_api_04::RwLock::new(0);
    {
        let _r = l.read();
        let _r2 = l.read_recursive();
        assert!(l.try_write().is_none());
    }
    let w = l.try_write_for(Duration::ZERO).expect("free");
    let u = Wr::downgrade_to_upgradable(w);
    let mut w = Upg::try_upgrade(u).expect("alone");
    *w += 1;
    let r = Wr::downgrade(w);
    assert_eq!(*r, 1);
    drop(r);
    let u = l.try_upgradable_read_for(Duration::ZERO).expect("free");
    *Upg::upgrade(u) += 1;
    assert_eq!(*l.read(), 2);
    assert!(!l.is_locked());
}

// ---------------------------------------------------------------------------
// kernsync's raw locks under lock_api 0.4 (no validator involved)
// ---------------------------------------------------------------------------

const THREADS: usize = 2;
const ITERATIONS: usize = 20_000;

/// Two threads increment under `lock_api_04::Mutex<RawMutex>`, each checking
/// that it is alone inside, through every acquisition flavour.
#[test]
fn raw_mutex_excludes_under_lock_api_04_bounded() {
    let m = Arc::new(lock_api_04::Mutex::<RawMutex, u64>::new(0));
    let inside = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (m, inside, start) = (m.clone(), inside.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for i in 0..ITERATIONS {
                    let mut g = match (i + t) % 4 {
                        0 => m.lock(),
                        1 => loop {
                            if let Some(g) = m.try_lock() {
                                break g;
                            }
                            std::hint::spin_loop();
                        },
                        2 => m
                            .try_lock_for(Duration::from_secs(10))
                            .expect("not starved"),
                        _ => m.lock(),
                    };
                    assert!(!inside.swap(true, Ordering::Relaxed), "two holders");
                    *g += 1;
                    inside.store(false, Ordering::Relaxed);
                    match i % 3 {
                        0 => lock_api_04::MutexGuard::unlock_fair(g),
                        1 => {
                            lock_api_04::MutexGuard::bump(&mut g);
                            drop(g);
                        }
                        _ => drop(g),
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(*m.lock(), (THREADS * ITERATIONS) as u64);
    assert!(!m.is_locked());
}

/// A pair that writers keep equal; readers (plain, recursive, upgradable,
/// downgraded) must never see it torn.
#[test]
fn raw_rwsem_keeps_an_invariant_under_lock_api_04_bounded() {
    use lock_api_04::{RwLockUpgradableReadGuard as Upg, RwLockWriteGuard as Wr};
    let l = Arc::new(lock_api_04::RwLock::<RawRwSem, (u64, u64)>::new((0, 0)));
    let writers = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (l, writers, start) = (l.clone(), writers.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let mut wrote = 0u64;
                for i in 0..ITERATIONS / 2 {
                    match (i + t) % 6 {
                        0 => {
                            let mut w = l.write();
                            assert_eq!(writers.fetch_add(1, Ordering::Relaxed), 0);
                            w.0 += 1;
                            w.1 += 1;
                            writers.fetch_sub(1, Ordering::Relaxed);
                            wrote += 1;
                        }
                        1 => {
                            let r = l.read();
                            assert_eq!(r.0, r.1);
                        }
                        2 => {
                            let r = l.read_recursive();
                            let r2 = l.read_recursive();
                            assert_eq!((r.0, r.1), (r2.0, r2.1));
                        }
                        3 => {
                            let u = l.upgradable_read();
                            assert_eq!(u.0, u.1);
                            let mut w = Upg::upgrade(u);
                            assert_eq!(writers.fetch_add(1, Ordering::Relaxed), 0);
                            w.0 += 1;
                            w.1 += 1;
                            writers.fetch_sub(1, Ordering::Relaxed);
                            wrote += 1;
                            let r = Wr::downgrade(w);
                            assert_eq!(r.0, r.1);
                        }
                        4 => {
                            if let Some(mut w) = l.try_write_for(Duration::from_millis(1)) {
                                assert_eq!(writers.fetch_add(1, Ordering::Relaxed), 0);
                                w.0 += 1;
                                w.1 += 1;
                                writers.fetch_sub(1, Ordering::Relaxed);
                                wrote += 1;
                                let u = Wr::downgrade_to_upgradable(w);
                                assert_eq!(Upg::downgrade(u).0, l.read_recursive().1);
                            }
                        }
                        _ => {
                            let u = l.upgradable_read();
                            match Upg::try_upgrade_for(u, Duration::from_millis(1)) {
                                Ok(mut w) => {
                                    assert_eq!(writers.fetch_add(1, Ordering::Relaxed), 0);
                                    w.0 += 1;
                                    w.1 += 1;
                                    writers.fetch_sub(1, Ordering::Relaxed);
                                    wrote += 1;
                                    Wr::unlock_fair(w);
                                }
                                Err(u) => assert_eq!(u.0, u.1),
                            }
                        }
                    }
                }
                wrote
            })
        })
        .collect();
    let wrote: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let r = l.read();
    assert_eq!(*r, (wrote, wrote));
    drop(r);
    assert!(!l.is_locked());
}

/// Guards of kernsync's raw locks may be dropped out of order, and a
/// forgotten one keeps the lock held until `force_unlock`.
#[test]
fn raw_locks_release_out_of_order_and_forgotten_guards_hold() {
    let a = lock_api_04::Mutex::<RawMutex, ()>::new(());
    let b = lock_api_04::RwLock::<RawRwSem, ()>::new(());
    let ga = a.lock();
    let gb = b.read();
    let gb2 = b.read_recursive();
    drop(ga);
    drop(gb);
    assert!(b.is_locked() && b.try_write().is_none());
    drop(gb2);
    assert!(!a.is_locked() && !b.is_locked());
    std::mem::forget(b.write());
    assert!(b.is_locked_exclusive() && b.try_read().is_none());
    // SAFETY: the forgotten write guard's acquisition is this thread's.
    unsafe { b.force_unlock_write() };
    assert!(b.try_write().is_some());
}
