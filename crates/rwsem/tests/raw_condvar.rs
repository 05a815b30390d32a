//! The raw condition variable on real threads: producer/consumer hand-offs
//! through `notify_one` and `notify_all` (bounded), a timed wait that times
//! out holding the mutex, the two-mutex misuse panic, and `lock_api`'s
//! `Condvar` over [`RawCondvar`] with `lock_api::Mutex<RawMutex, _>`.
#![cfg(not(loom))]

use kernsync_rwsem::{RawCondvar, RawMutex};
use std::collections::VecDeque;
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

type Mutex<T> = lock_api::Mutex<RawMutex, T>;
type Condvar = lock_api::Condvar<RawCondvar>;

/// A bounded queue: producers wait while full, consumers while empty.
struct Queue {
    items: Mutex<(VecDeque<u64>, bool)>,
    not_empty: Condvar,
    not_full: Condvar,
}

const CAPACITY: usize = 4;

fn run_producer_consumer(notify_all: bool) {
    const PRODUCERS: u64 = 2;
    const CONSUMERS: usize = 2;
    const PER_PRODUCER: u64 = 5_000;
    let q = Arc::new(Queue {
        items: Mutex::new((VecDeque::new(), false)),
        not_empty: Condvar::new(),
        not_full: Condvar::new(),
    });
    let notify = move |c: &Condvar| {
        if notify_all {
            c.notify_all();
        } else {
            c.notify_one();
        }
    };
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let q = q.clone();
            thread::spawn(move || {
                let (mut sum, mut n) = (0u64, 0u64);
                let mut g = q.items.lock();
                loop {
                    if let Some(v) = g.0.pop_front() {
                        sum += v;
                        n += 1;
                        notify(&q.not_full);
                    } else if g.1 {
                        return (sum, n);
                    } else {
                        q.not_empty.wait(&mut g);
                    }
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = q.clone();
            thread::spawn(move || {
                for i in 0..PER_PRODUCER {
                    let mut g = q.items.lock();
                    while g.0.len() == CAPACITY {
                        q.not_full.wait(&mut g);
                    }
                    g.0.push_back(p * PER_PRODUCER + i);
                    notify(&q.not_empty);
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    q.items.lock().1 = true;
    q.not_empty.notify_all();
    let (sum, n) = consumers
        .into_iter()
        .map(|c| c.join().unwrap())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let total = PRODUCERS * PER_PRODUCER;
    assert_eq!(n, total);
    assert_eq!(sum, total * (total - 1) / 2);
    assert!(!q.items.is_locked());
}

#[test]
fn producer_consumer_bounded_10k_items_notify_one() {
    run_producer_consumer(false);
}

#[test]
fn producer_consumer_bounded_10k_items_notify_all() {
    run_producer_consumer(true);
}

#[test]
fn notify_all_counts_and_releases_every_waiter() {
    const N: usize = 6;
    let pair = Arc::new((Mutex::new((0usize, false)), Condvar::new()));
    let (tx, rx) = channel();
    let waiters: Vec<_> = (0..N)
        .map(|_| {
            let (pair, tx) = (pair.clone(), tx.clone());
            thread::spawn(move || {
                let mut g = pair.0.lock();
                g.0 += 1;
                if g.0 == N {
                    tx.send(()).unwrap();
                }
                while !g.1 {
                    pair.1.wait(&mut g);
                }
            })
        })
        .collect();
    rx.recv().unwrap();
    // All N are parked on the condvar: each released the mutex only by
    // waiting, and we could take it after the last one counted itself.
    let mut g = pair.0.lock();
    g.1 = true;
    // Notified with the mutex held: all are requeued onto it, and counted.
    assert_eq!(pair.1.notify_all(), N);
    drop(g);
    for w in waiters {
        w.join().unwrap();
    }
    assert_eq!(pair.1.notify_all(), 0);
    assert!(!pair.1.notify_one());
}

#[test]
fn wait_for_times_out_holding_the_lock() {
    let m = Mutex::new(7u32);
    let c = Condvar::new();
    let mut g = m.lock();
    let start = Instant::now();
    let r = c.wait_for(&mut g, Duration::from_millis(20));
    assert!(r.timed_out());
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert!(m.is_locked());
    *g += 1;
    drop(g);
    assert!(!m.is_locked());
    assert_eq!(*m.lock(), 8);
    // The raw API reports the same.
    let raw = RawMutex::new();
    let cond = RawCondvar::new();
    raw.lock();
    // SAFETY: we hold `raw`; `wait_until` returns holding it.
    let timed_out = unsafe { cond.wait_until(&raw, Instant::now() + Duration::from_millis(5)) };
    assert!(timed_out);
    assert!(raw.is_locked());
    // SAFETY: we hold `raw`.
    unsafe { raw.unlock() };
    // Nobody is left on the condvar.
    assert!(!cond.notify_one());
}

#[test]
fn wait_for_notified_does_not_report_timeout() {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let mut g = pair.0.lock();
    let notifier = {
        let pair = pair.clone();
        thread::spawn(move || {
            let mut g = pair.0.lock();
            *g = true;
            assert!(pair.1.notify_one());
        })
    };
    while !*g {
        let r = pair.1.wait_for(&mut g, Duration::from_secs(60));
        assert!(!r.timed_out());
    }
    drop(g);
    notifier.join().unwrap();
}

#[test]
#[should_panic(expected = "two different mutexes")]
fn one_condvar_two_mutexes_panics() {
    let m1 = Arc::new(Mutex::new(()));
    let m2 = Mutex::new(());
    let c = Arc::new(Condvar::new());
    let (tx, rx) = channel();
    let parked = {
        let (m1, c) = (m1.clone(), c.clone());
        thread::spawn(move || {
            let mut g = m1.lock();
            tx.send(()).unwrap();
            // Returns once the panicking thread's guard below notifies.
            c.wait(&mut g);
        })
    };
    rx.recv().unwrap();
    // Once we hold m1, the other thread is parked on the condvar with it.
    drop(m1.lock());
    /// Wakes the parked thread while unwinding, so it does not leak.
    struct NotifyOnDrop(Arc<Condvar>, Option<thread::JoinHandle<()>>);
    impl Drop for NotifyOnDrop {
        fn drop(&mut self) {
            self.0.notify_all();
            self.1.take().unwrap().join().unwrap();
        }
    }
    let _cleanup = NotifyOnDrop(c.clone(), Some(parked));
    let mut g2 = m2.lock();
    c.wait(&mut g2);
}
