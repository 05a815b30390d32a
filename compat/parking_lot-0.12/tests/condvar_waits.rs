//! A `Condvar` wait is a release and a blocking re-acquisition of its mutex
//! for the validator: ordinary waits are quiet and leave the held stack as
//! it was; a lock held across the wait that the notifier takes after the
//! mutex is a reported inversion.
#![cfg(not(feature = "send_guard"))]

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use kernsync_lockdep::{capture, held_locks, Mode, Report, ReportKind};
use parking_lot::{Condvar, Mutex};

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

#[test]
fn a_plain_wait_is_quiet_and_keeps_the_mutex_held_once() {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let p = Arc::clone(&pair);
    let ((), reports) = capture(|| {
        let mut ready = pair.0.lock();
        let t = thread::spawn(move || {
            *p.0.lock() = true;
            p.1.notify_one();
        });
        pair.1.wait_while(&mut ready, |r| !*r);
        if kernsync_lockdep::COMPILED_IN {
            let held: Vec<Mode> = held_locks().iter().map(|h| h.mode).collect();
            assert_eq!(held, [Mode::Write]);
        }
        let timed = pair.1.wait_for(&mut ready, Duration::from_millis(1));
        assert!(timed.timed_out());
        drop(ready);
        t.join().unwrap();
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert!(held_locks().is_empty());
}

/// The edge outer -> m comes from the wait alone: `outer` is taken with a
/// trylock (no edge into it) while `m` is held, and only the wait's
/// re-acquisition of `m` happens with `outer` held.
fn held_across_wait(wait: bool) -> Vec<Report> {
    let outer = Mutex::new(());
    let m = Mutex::new(());
    let cv = Condvar::new();
    let ((), reports) = capture(|| {
        {
            let mut g = m.lock();
            let _o = outer.try_lock().expect("free");
            if wait {
                let _ = cv.wait_for(&mut g, Duration::from_millis(1));
            }
        }
        // The notifier's order, m then outer, closes the cycle.
        let _g = m.lock();
        let _o = outer.lock();
    });
    assert!(held_locks().is_empty());
    reports
}

#[test]
fn a_lock_held_across_the_wait_is_an_edge_into_the_mutex() {
    if !kernsync_lockdep::COMPILED_IN {
        return;
    }
    assert!(held_across_wait(false).is_empty());
    let reports = held_across_wait(true);
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency],
        "{reports:?}"
    );
}

#[test]
#[should_panic(expected = "attempted to use a condition variable with more than one mutex")]
fn two_mutexes_panic_with_parking_lots_message() {
    let m1 = Arc::new(Mutex::new(()));
    let m2 = Mutex::new(());
    let cv = Arc::new(Condvar::new());
    let (m, c) = (Arc::clone(&m1), Arc::clone(&cv));
    let (tx, rx) = std::sync::mpsc::channel();
    let _t = thread::spawn(move || {
        let mut g = m.lock();
        tx.send(()).unwrap();
        c.wait(&mut g);
    });
    rx.recv().unwrap();
    let _g = m1.lock(); // the waiter has released it: it is parked
    drop(_g);
    struct Wake<'a>(&'a Condvar);
    impl Drop for Wake<'_> {
        fn drop(&mut self) {
            self.0.notify_all();
        }
    }
    let _wake = Wake(&cv);
    cv.wait(&mut m2.lock());
}
