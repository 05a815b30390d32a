//! A condvar wait releases and re-takes its mutex for the validator: a
//! wait under another lock gives no false report, and the mutex is held
//! again (in the validator's eyes) when the wait returns.
#![cfg(not(feature = "send_guard"))]

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use kernsync_lockdep::capture;
use parking_lot::{Condvar, Mutex};

#[test]
fn wait_under_another_lock_gives_no_false_report() {
    let outer = Arc::new(Mutex::new(()));
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let p = Arc::clone(&pair);
    let notifier = thread::spawn(move || {
        let ((), reports) = capture(|| {
            thread::sleep(Duration::from_millis(20));
            *p.0.lock() = true;
            p.1.notify_one();
        });
        assert!(reports.is_empty(), "{reports:#?}");
    });
    let ((), reports) = capture(|| {
        let _o = outer.lock();
        let mut ready = pair.0.lock();
        while !*ready {
            pair.1.wait(&mut ready);
        }
        assert!(pair.0.try_lock().is_none());
    });
    assert!(reports.is_empty(), "{reports:#?}");
    notifier.join().unwrap();
    assert!(kernsync_lockdep::held_locks().is_empty());
}

#[test]
fn timed_wait_keeps_the_mutex_held() {
    let m = Mutex::new(0);
    let c = Condvar::new();
    let ((), reports) = capture(|| {
        let mut g = m.lock();
        let r = c.wait_for(&mut g, Duration::from_millis(5));
        assert!(r.timed_out());
        *g += 1;
        if kernsync_lockdep::COMPILED_IN {
            assert_eq!(kernsync_lockdep::held_locks().len(), 1);
        }
    });
    assert!(reports.is_empty(), "{reports:#?}");
    assert!(kernsync_lockdep::held_locks().is_empty());
}

#[test]
#[should_panic(expected = "attempted to use a condition variable with more than one mutex")]
fn two_mutexes_panic_with_upstreams_message() {
    let m1 = Arc::new(Mutex::new(()));
    let c = Arc::new(Condvar::new());
    let (m, cv) = (Arc::clone(&m1), Arc::clone(&c));
    let (tx, rx) = std::sync::mpsc::channel();
    // Left waiting on the condvar with `m1` (detached; the process ends it).
    thread::spawn(move || {
        let mut g = m.lock();
        tx.send(()).unwrap();
        loop {
            cv.wait(&mut g);
        }
    });
    rx.recv().unwrap();
    // The waiter queues on the condvar before it releases `m1`.
    drop(m1.lock());
    let m2 = Mutex::new(());
    let mut g2 = m2.lock();
    c.wait_for(&mut g2, Duration::from_millis(100));
}
