//! std's `Condvar` behaviours, re-expressed against `kernsync_sync`.

use kernsync_sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn notify_one_wakes_a_waiter_on_a_flag() {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let p = Arc::clone(&pair);
    let t = thread::spawn(move || {
        *p.0.lock().unwrap() = true;
        p.1.notify_one();
    });
    let (m, cv) = &*pair;
    let mut ready = m.lock().unwrap();
    while !*ready {
        ready = cv.wait(ready).unwrap();
    }
    drop(ready);
    t.join().unwrap();
}

#[test]
fn notify_all_wakes_every_waiter() {
    const N: usize = 3;
    let state = Arc::new((Mutex::new((0usize, false)), Condvar::new()));
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let s = Arc::clone(&state);
            thread::spawn(move || {
                let (m, cv) = &*s;
                let mut g = m.lock().unwrap();
                g.0 += 1;
                cv.notify_all();
                let g = cv.wait_while(g, |g| !g.1).unwrap();
                assert!(g.1);
            })
        })
        .collect();
    let (m, cv) = &*state;
    let mut g = cv.wait_while(m.lock().unwrap(), |g| g.0 < N).unwrap();
    g.1 = true;
    cv.notify_all();
    drop(g);
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn wait_timeout_times_out() {
    let m = Mutex::new(());
    let cv = Condvar::new();
    let start = Instant::now();
    let (g, r) = cv
        .wait_timeout(m.lock().unwrap(), Duration::from_millis(20))
        .unwrap();
    assert!(r.timed_out());
    assert!(start.elapsed() >= Duration::from_millis(20));
    drop(g);
    // The mutex is free again.
    assert!(m.try_lock().is_ok());
}

#[test]
fn wait_timeout_while_reports_whether_the_condition_still_held() {
    let m = Mutex::new(0);
    let cv = Condvar::new();
    let (g, r) = cv
        .wait_timeout_while(m.lock().unwrap(), Duration::from_millis(10), |v| *v == 0)
        .unwrap();
    assert!(r.timed_out());
    assert_eq!(*g, 0);
    drop(g);
    let (g, r) = cv
        .wait_timeout_while(m.lock().unwrap(), Duration::from_millis(10), |v| *v != 0)
        .unwrap();
    assert!(!r.timed_out());
    assert_eq!(*g, 0);
}

#[test]
fn wait_while_returns_once_the_condition_fails() {
    let pair = Arc::new((Mutex::new(0), Condvar::new()));
    let p = Arc::clone(&pair);
    let t = thread::spawn(move || {
        for _ in 0..5 {
            *p.0.lock().unwrap() += 1;
            p.1.notify_one();
        }
    });
    let (m, cv) = &*pair;
    let g = cv.wait_while(m.lock().unwrap(), |v| *v < 5).unwrap();
    assert_eq!(*g, 5);
    drop(g);
    t.join().unwrap();
}

#[test]
fn a_notified_timed_wait_does_not_time_out() {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let p = Arc::clone(&pair);
    let t = thread::spawn(move || {
        *p.0.lock().unwrap() = true;
        p.1.notify_one();
    });
    let (m, cv) = &*pair;
    let (g, r) = cv
        .wait_timeout_while(m.lock().unwrap(), Duration::from_secs(60), |v| !*v)
        .unwrap();
    assert!(*g && !r.timed_out());
    drop(g);
    t.join().unwrap();
}

#[test]
fn default_debug_and_wait_timeout_result() {
    let cv = Condvar::default();
    assert_eq!(format!("{cv:?}"), "Condvar { .. }");
    assert_eq!(
        format!("{cv:?}"),
        format!("{:?}", std::sync::Condvar::new())
    );
    cv.notify_one();
    cv.notify_all();
    let m = Mutex::new(());
    let (_g, r) = cv.wait_timeout(m.lock().unwrap(), Duration::ZERO).unwrap();
    let copy = r;
    assert_eq!(r, copy);
    assert_eq!(format!("{r:?}"), "WaitTimeoutResult(true)");
}
