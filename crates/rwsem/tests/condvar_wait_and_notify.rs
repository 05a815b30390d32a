//! `Condvar`: notify one and all (and what they return), waits that time
//! out and are notified (`wait_for`, `wait_until`, `wait_while*`), timeouts
//! no `Instant` can hold (an untimed wait, as in std), one mutex at a time
//! per condvar, requeueing onto a held mutex, wakeups passed on, a bounded
//! queue, and a waiter woken by a notifier that then panics.
//!
//! The `both!` tests re-express parking_lot 0.13's unit tests and run once
//! against the order-checked locks (`<test>::typed`) and once against
//! lock_api's wrappers over the raw locks (`<test>::raw`); the plain
//! `#[test]`s re-express std's tests (`library/std/tests/sync/`). Each names
//! the peer test it re-expresses in its first comment (none where it checks
//! kernsync's own API). Where the validator or our API differs from the
//! peer's, a comment starting `Adaptation:` says so; there is no poisoning
//! (parking_lot's convention), so std's poisoning tests check the lock is
//! usable after a panic instead.
#![cfg(not(loom))]

mod common;

use common::*;
use kernsync_lockdep::{held_locks, Mode, COMPILED_IN};
use kernsync_rwsem::{Condvar, Mutex};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

both!(mutex_and_condvar_hand_a_flag_over, {
    // parking_lot's `test_mutex_arc_condvar`.
    let shared = Arc::new((Mutex::new(false), Condvar::new()));
    let (parent_in_tx, parent_in_rx) = channel();
    let child = {
        let shared = Arc::clone(&shared);
        thread::spawn(move || {
            parent_in_rx.recv().unwrap();
            let (flag, cv) = &*shared;
            *flag.lock() = true;
            cv.notify_one();
        })
    };
    let (flag, cv) = &*shared;
    let mut g = flag.lock();
    parent_in_tx.send(()).unwrap();
    assert!(!*g);
    while !*g {
        cv.wait(&mut g);
    }
    drop(g);
    child.join().unwrap();
});

both!(condvar_notify_without_waiters_does_nothing, {
    let cv = Condvar::new();
    assert!(!cv.notify_one());
    assert_eq!(cv.notify_all(), 0);
});

both!(condvar_notify_one_wakes_the_waiter_and_says_so, {
    // parking_lot's `notify_one` and `notify_one_return_true`: a single,
    // unlooped wait (no spurious wakeups).
    let m = Arc::new(Mutex::new(()));
    let cv = Arc::new(Condvar::new());
    let mut g = m.lock();
    let notifier = {
        let (m, cv) = (Arc::clone(&m), Arc::clone(&cv));
        thread::spawn(move || {
            let _g = m.lock();
            assert!(cv.notify_one(), "notify_one found no waiter");
        })
    };
    cv.wait(&mut g);
    drop(g);
    notifier.join().unwrap();
});

both!(condvar_notify_all_wakes_every_waiter_and_counts_them, {
    // parking_lot's `notify_all` and `notify_all_return`.
    const WAITERS: usize = 10;
    let shared = Arc::new((Mutex::new(0usize), Condvar::new()));
    let (tx, rx) = channel();
    for _ in 0..WAITERS {
        let shared = Arc::clone(&shared);
        let tx = tx.clone();
        thread::spawn(move || {
            let (count, cv) = &*shared;
            let mut g = count.lock();
            *g += 1;
            if *g == WAITERS {
                tx.send(()).unwrap();
            }
            while *g != 0 {
                cv.wait(&mut g);
            }
            tx.send(()).unwrap();
        });
    }
    drop(tx);
    let (count, cv) = &*shared;
    rx.recv().unwrap();
    let mut g = count.lock();
    *g = 0;
    // Everyone has released the mutex into `wait` before we could lock it.
    assert_eq!(cv.notify_all(), WAITERS);
    drop(g);
    for _ in 0..WAITERS {
        rx.recv_timeout(PATIENCE).expect("a waiter was not woken");
    }
    assert_eq!(cv.notify_all(), 0);
});

both!(condvar_wait_for_times_out_then_is_notified, {
    let m = Arc::new(Mutex::new(()));
    let cv = Arc::new(Condvar::new());
    let mut g = m.lock();
    let start = Instant::now();
    assert!(cv.wait_for(&mut g, Duration::from_millis(1)).timed_out());
    assert!(start.elapsed() >= Duration::from_millis(1));
    let notifier = {
        let (m, cv) = (Arc::clone(&m), Arc::clone(&cv));
        thread::spawn(move || {
            let _g = m.lock();
            cv.notify_one();
        })
    };
    let r = cv.wait_for(&mut g, Duration::from_millis(u64::from(u32::MAX)));
    assert!(!r.timed_out());
    drop(g);
    notifier.join().unwrap();
});

both!(condvar_wait_until_times_out_then_is_notified, {
    let m = Arc::new(Mutex::new(()));
    let cv = Arc::new(Condvar::new());
    let mut g = m.lock();
    let deadline = Instant::now() + Duration::from_millis(1);
    assert!(cv.wait_until(&mut g, deadline).timed_out());
    assert!(Instant::now() >= deadline);
    let notifier = {
        let (m, cv) = (Arc::clone(&m), Arc::clone(&cv));
        thread::spawn(move || {
            let _g = m.lock();
            cv.notify_one();
        })
    };
    let far = Instant::now() + Duration::from_millis(u64::from(u32::MAX));
    assert!(!cv.wait_until(&mut g, far).timed_out());
    drop(g);
    notifier.join().unwrap();
});

both!(condvar_wait_while_does_not_wait_when_already_false, {
    let m = Mutex::new(0u32);
    let cv = Condvar::new();
    let mut g = m.lock();
    cv.wait_while(&mut g, |calls| {
        *calls += 1;
        false
    });
    assert_eq!(*g, 1);
});

both!(condvar_wait_while_rechecks_after_each_notification, {
    // parking_lot's `wait_while`: the condition bumps a counter on every
    // check; a notifier wakes the waiter each time the counter reaches
    // the next epoch.
    const EPOCHS: u32 = 4;
    let m = Arc::new(Mutex::new(0u32));
    let cv = Arc::new(Condvar::new());
    let mut g = m.lock();
    let notifier = {
        let (m, cv) = (Arc::clone(&m), Arc::clone(&cv));
        thread::spawn(move || notify_per_epoch(&m, &cv, EPOCHS, None))
    };
    let mut check = |count: &mut u32| {
        *count += 1;
        *count <= EPOCHS
    };
    cv.wait_while(&mut g, &mut check);
    assert_eq!(*g, EPOCHS + 1);
    cv.wait_while(&mut g, &mut check);
    assert_eq!(*g, EPOCHS + 2);
    drop(g);
    notifier.join().unwrap();

    /// Notifies once the counter has reached each epoch in turn (or gives
    /// up at `until`), backing off so the waiter can take the mutex.
    fn notify_per_epoch(m: &Mutex<u32>, cv: &Condvar, epochs: u32, until: Option<Instant>) {
        for epoch in 1..=epochs {
            let mut backoff = Duration::from_millis(1);
            loop {
                let g = m.lock();
                if until.is_some_and(|t| Instant::now() >= t) {
                    return;
                }
                if *g == epoch {
                    break;
                }
                drop(g);
                thread::sleep(backoff);
                backoff *= 2;
            }
            cv.notify_one();
        }
    }
});

both!(condvar_wait_while_until_times_out_while_still_true, {
    // parking_lot's `wait_while_until_times_out_before_false`.
    const EPOCHS: u32 = 3;
    let m = Arc::new(Mutex::new(0u32));
    let cv = Arc::new(Condvar::new());
    let mut g = m.lock();
    let deadline = Instant::now() + Duration::from_millis(500);
    let notifier = {
        let (m, cv) = (Arc::clone(&m), Arc::clone(&cv));
        thread::spawn(move || {
            for epoch in 1..=EPOCHS {
                let mut backoff = Duration::from_millis(1);
                loop {
                    let g = m.lock();
                    if Instant::now() >= deadline {
                        return;
                    }
                    if *g == epoch {
                        break;
                    }
                    drop(g);
                    thread::sleep(backoff);
                    backoff *= 2;
                }
                cv.notify_one();
            }
        })
    };
    let r = cv.wait_while_until(
        &mut g,
        |count| {
            *count += 1;
            true
        },
        deadline,
    );
    assert!(r.timed_out());
    assert!(Instant::now() >= deadline);
    // One check per epoch, one before the timed-out wait, one after it.
    assert_eq!(*g, EPOCHS + 2);
    drop(g);
    notifier.join().unwrap();
});

both!(condvar_wait_while_until_rechecks_after_the_deadline, {
    // parking_lot's `wait_while_until_rechecks_condition_after_timeout`:
    // a condition that turns false during the timed-out wait is not
    // reported as a timeout.
    let m = Mutex::new(());
    let cv = Condvar::new();
    let mut checks = 0;
    let mut g = m.lock();
    let r = cv.wait_while_until(
        &mut g,
        |_| {
            checks += 1;
            checks == 1
        },
        Instant::now(),
    );
    assert!(!r.timed_out());
    assert_eq!(checks, 2);
});

both!(condvar_wait_while_for_times_out_after_the_duration, {
    let m = Mutex::new(0u32);
    let cv = Condvar::new();
    let mut g = m.lock();
    let start = Instant::now();
    let r = cv.wait_while_for(&mut g, |_| true, SHORT);
    assert!(r.timed_out());
    assert!(start.elapsed() >= SHORT);
    assert!(!cv.wait_while_for(&mut g, |_| false, SHORT).timed_out());
});

both!(
    condvar_refuses_a_second_mutex_while_waiters_use_the_first,
    {
        // parking_lot's `two_mutexes`. Adaptation: kernsync's panic message
        // ("...used with two different mutexes at once...") differs from
        // parking_lot's ("attempted to use a condition variable with more
        // than one mutex"), so the message is matched on its own words; and
        // the panic is caught rather than expected with `should_panic`, so
        // the test can also check what the panic leaves behind.
        let first = Arc::new(Mutex::new(()));
        let second = Mutex::new(());
        let cv = Arc::new(Condvar::new());
        let (waiting_tx, waiting_rx) = channel();
        let g = first.lock();
        let child = {
            let (first, cv) = (Arc::clone(&first), Arc::clone(&cv));
            thread::spawn(move || {
                let mut g = first.lock();
                waiting_tx.send(()).unwrap();
                cv.wait(&mut g);
            })
        };
        drop(g);
        waiting_rx.recv().unwrap();
        // Locking `first` proves the child is parked in `wait`.
        let held = first.lock();
        let payload = catch_unwind(AssertUnwindSafe(|| cv.wait(&mut second.lock())))
            .expect_err("waited with a second mutex while the first had waiters");
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or_default();
        assert!(
            message.contains("two different mutexes"),
            "unexpected panic: {message:?}"
        );
        // The refused wait unwound holding `second`, and released it.
        assert!(
            second.try_lock().is_some(),
            "the refused wait left its mutex held"
        );
        // The validator's held-lock stack is back to just `first`.
        assert_eq!(held_locks().len(), usize::from(TRACKED && COMPILED_IN));
        // The child still waits, with the first mutex: it can be notified.
        assert!(cv.notify_one(), "the child's wait was lost");
        drop(held);
        child.join().unwrap();
    }
);

both!(condvar_may_switch_mutex_once_no_one_waits, {
    // parking_lot's `two_mutexes_disjoint`.
    let first = Arc::new(Mutex::new(()));
    let second = Mutex::new(());
    let cv = Arc::new(Condvar::new());
    let mut g = first.lock();
    let notifier = {
        let (first, cv) = (Arc::clone(&first), Arc::clone(&cv));
        thread::spawn(move || {
            let _g = first.lock();
            cv.notify_one();
        })
    };
    cv.wait(&mut g);
    drop(g);
    notifier.join().unwrap();
    assert!(cv
        .wait_for(&mut second.lock(), Duration::from_millis(1))
        .timed_out());
});

both!(condvar_debug_hides_its_state, {
    assert_eq!(format!("{:?}", Condvar::new()), "Condvar { .. }");
});

both!(condvar_notify_requeues_a_waiter_onto_a_held_mutex, {
    // parking_lot's `test_condvar_requeue`: the notifier holds the mutex,
    // bumping it until the child has got in and waits; the child is then
    // moved to the mutex and woken by our unlock.
    let m = Arc::new(Mutex::new(()));
    let cv = Arc::new(Condvar::new());
    let child = {
        let (m, cv) = (Arc::clone(&m), Arc::clone(&cv));
        thread::spawn(move || {
            let mut g = m.lock();
            cv.wait(&mut g);
        })
    };
    let mut g = m.lock();
    let give_up = Instant::now() + PATIENCE;
    while !cv.notify_one() {
        assert!(Instant::now() < give_up, "the child never waited");
        MutexGuard::bump(&mut g);
        thread::yield_now();
    }
    drop(g);
    child.join().unwrap();
});

both!(condvar_waiters_woken_one_by_one_pass_the_wakeup_on, {
    // parking_lot's `test_issue_129`: each woken waiter does a short
    // timed wait, then wakes the next one.
    let shared = Arc::new((Mutex::new(0), Condvar::new()));
    let (tx, rx) = channel();
    for _ in 0..4 {
        let shared = Arc::clone(&shared);
        let tx = tx.clone();
        thread::spawn(move || {
            let (count, cv) = &*shared;
            let mut g = count.lock();
            *g += 1;
            cv.wait(&mut g);
            cv.wait_for(&mut g, Duration::from_millis(1));
            cv.notify_one();
            tx.send(()).unwrap();
        });
    }
    eventually("all four wait", || *shared.0.lock() == 4);
    shared.1.notify_one();
    for _ in 0..4 {
        assert_eq!(rx.recv_timeout(Duration::from_secs(2)), Ok(()));
    }
});

both!(condvar_bounded_queue_moves_every_message_once, {
    // parking_lot's WebKit-derived queue test, scaled down: producers
    // wait while the queue is full, consumers while it is empty; every
    // message must come out exactly once.
    #[derive(Clone, Copy)]
    enum Wake {
        One,
        AllOnTransition,
    }
    struct Queue {
        items: std::collections::VecDeque<usize>,
        open: bool,
    }
    struct Shared {
        queue: Mutex<Queue>,
        not_empty: Condvar,
        not_full: Condvar,
        out: Mutex<Vec<usize>>,
    }
    fn wake(cv: &Condvar, how: Wake, transition: bool) {
        match how {
            Wake::One => {
                cv.notify_one();
            }
            Wake::AllOnTransition if transition => {
                cv.notify_all();
            }
            Wake::AllOnTransition => {}
        }
    }
    fn wait_until_true(
        cv: &Condvar,
        g: &mut MutexGuard<'_, Queue>,
        bound: Option<Duration>,
        ready: impl Fn(&Queue) -> bool,
    ) {
        while !ready(g) {
            match bound {
                Some(d) => {
                    cv.wait_for(g, d);
                }
                None => cv.wait(g),
            }
        }
    }
    fn run(
        producers: usize,
        consumers: usize,
        cap: usize,
        per_producer: usize,
        how: Wake,
        bound: Option<Duration>,
    ) {
        let s = Arc::new(Shared {
            queue: Mutex::new(Queue {
                items: Default::default(),
                open: true,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            out: Mutex::new(Vec::new()),
        });
        let consumer_threads: Vec<_> = (0..consumers)
            .map(|_| {
                let s = Arc::clone(&s);
                thread::spawn(move || loop {
                    let mut q = s.queue.lock();
                    wait_until_true(&s.not_empty, &mut q, bound, |q| {
                        !q.items.is_empty() || !q.open
                    });
                    let Some(item) = q.items.pop_front() else {
                        return; // closed and drained
                    };
                    let was_full = q.items.len() + 1 == cap;
                    drop(q);
                    wake(&s.not_full, how, was_full);
                    s.out.lock().push(item);
                })
            })
            .collect();
        let producer_threads: Vec<_> = (0..producers)
            .map(|_| {
                let s = Arc::clone(&s);
                thread::spawn(move || {
                    for item in 0..per_producer {
                        let mut q = s.queue.lock();
                        wait_until_true(&s.not_full, &mut q, bound, |q| q.items.len() < cap);
                        let was_empty = q.items.is_empty();
                        q.items.push_back(item);
                        drop(q);
                        wake(&s.not_empty, how, was_empty);
                    }
                })
            })
            .collect();
        for p in producer_threads {
            p.join().expect("a producer panicked");
        }
        s.queue.lock().open = false;
        s.not_empty.notify_all();
        for c in consumer_threads {
            c.join().expect("a consumer panicked");
        }
        let mut out = std::mem::take(&mut *s.out.lock());
        assert_eq!(out.len(), producers * per_producer);
        out.sort_unstable();
        for (i, item) in out.iter().enumerate() {
            assert_eq!(*item, i / producers, "message lost or duplicated");
        }
    }
    let bounded = Some(Duration::from_secs(1));
    run(1, 1, 1, 2_000, Wake::AllOnTransition, bounded);
    run(1, 1, 1, 2_000, Wake::AllOnTransition, None);
    run(1, 5, 1, 1_000, Wake::AllOnTransition, None);
    run(1, 1, 100, 5_000, Wake::AllOnTransition, None);
    run(10, 1, 1, 200, Wake::AllOnTransition, None);
    run(10, 1, 100, 200, Wake::One, None);
    run(1, 10, 1, 1_000, Wake::AllOnTransition, None);
    run(1, 10, 100, 2_000, Wake::One, None);
    run(10, 10, 1, 200, Wake::AllOnTransition, None);
    run(10, 10, 100, 200, Wake::One, None);
});

#[test]
fn condvar_wait_while_a_flag_another_thread_sets_once() {
    // std's `wait_while`: a thread sets a flag under the mutex and
    // notifies once; `wait_while` returns only when the flag is set,
    // whether the thread ran before the wait began (no wait at all),
    // during it, or woke it spuriously. Adaptation: std's `wait_while`
    // takes and returns the guard; ours borrows it.
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let pair2 = Arc::clone(&pair);
    let setter = thread::spawn(move || {
        let (lock, cv) = &*pair2;
        let mut started = lock.lock();
        *started = true;
        cv.notify_one();
    });
    let (lock, cv) = &*pair;
    let mut started = lock.lock();
    cv.wait_while(&mut started, |started| !*started);
    assert!(*started);
    assert_eq!(held_modes(), expect_held(&[Mode::Write]));
    drop(started);
    setter.join().unwrap();
}

#[test]
fn condvar_wait_while_for_a_zero_timeout() {
    // std's `wait_timeout_while_instant_satisfy`: with no time at all, a
    // condition that is already false is not a timeout. Also the other
    // side, which std checks with 1 ms (`wait_timeout_while_wait`): a
    // condition that stays true times out, and no time does not mean
    // no check (the condition is evaluated before giving up).
    // Adaptation: std's `wait_timeout_while` is our `wait_while_for`.
    let m = Mutex::new(0u32);
    let cv = Condvar::new();
    let mut g = m.lock();
    let r = cv.wait_while_for(&mut g, |_| false, Duration::ZERO);
    assert!(!r.timed_out(), "a satisfied wait with no time timed out");
    let r = cv.wait_while_for(
        &mut g,
        |checks| {
            *checks += 1;
            true
        },
        Duration::ZERO,
    );
    assert!(
        r.timed_out(),
        "an unsatisfied wait with no time did not time out"
    );
    assert!(*g >= 1, "the condition was never checked");
    assert_eq!(held_modes(), expect_held(&[Mode::Write]));
}

/// std's `wait_timeout_while_wake` with the timeout given: a thread sets
/// a flag and notifies; the waiter's `wait_while_for` returns with the flag
/// set, not timed out. The setter can only lock once the waiter has
/// released the mutex into the wait, so its notification always finds the
/// waiter. Adaptation: std's setter sleeps 1 ms holding the mutex first;
/// that changes no outcome and is left out.
fn wait_while_for_woken_by_a_setter(timeout: Duration) {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let pair2 = Arc::clone(&pair);
    let (m, cv) = &*pair;
    let mut g = m.lock();
    let setter = thread::spawn(move || {
        let (m, cv) = &*pair2;
        let mut notified = m.lock();
        *notified = true;
        cv.notify_one();
    });
    let r = cv.wait_while_for(&mut g, |notified| !*notified, timeout);
    assert!(!r.timed_out(), "a wait of {timeout:?} timed out");
    assert!(*g);
    drop(g);
    setter.join().unwrap();
}

/// std's `wait_timeout_wake` with the timeout given: one unlooped
/// `wait_for` is woken by a notification, not a timeout. A wakeup may be
/// spurious; std then runs the round again, and so does this (a bounded
/// number of times).
fn wait_for_woken_by_a_notifier(timeout: Duration) {
    let m = Arc::new(Mutex::new(()));
    let cv = Arc::new(Condvar::new());
    for _attempt in 0..100 {
        let mut g = m.lock();
        let notified = Arc::new(AtomicBool::new(false));
        let notifier = {
            let (m, cv, notified) = (Arc::clone(&m), Arc::clone(&cv), Arc::clone(&notified));
            thread::spawn(move || {
                let _g = m.lock();
                // Relaxed: the mutex orders it before the waiter's load.
                notified.store(true, Ordering::Relaxed);
                cv.notify_one();
            })
        };
        let r = cv.wait_for(&mut g, timeout);
        assert!(!r.timed_out(), "a wait of {timeout:?} timed out");
        let was_notified = notified.load(Ordering::Relaxed);
        drop(g);
        notifier.join().unwrap();
        if was_notified {
            return;
        }
    }
    panic!("100 waits in a row woke spuriously");
}

#[test]
fn condvar_wait_while_for_u64_max_millis_is_woken() {
    // std's `wait_timeout_while_wake`, with std's timeout: u64::MAX
    // milliseconds (half a billion years: on Linux an `Instant` can still
    // hold that deadline, on some platforms it cannot).
    wait_while_for_woken_by_a_setter(Duration::from_millis(u64::MAX));
}

#[test]
fn condvar_wait_for_u64_max_millis_is_woken() {
    // std's `wait_timeout_wake`, with std's timeout.
    wait_for_woken_by_a_notifier(Duration::from_millis(u64::MAX));
}

#[test]
fn condvar_wait_while_for_duration_max_is_woken() {
    // std's `wait_timeout_while_wake` with the largest timeout there is,
    // the "wait forever" a port may pass: std (checked on this machine)
    // and lock_api's `Condvar` make it an untimed wait.
    wait_while_for_woken_by_a_setter(Duration::MAX);
}

#[test]
fn condvar_wait_for_duration_max_is_woken() {
    // std's `wait_timeout_wake` with the largest timeout there is.
    wait_for_woken_by_a_notifier(Duration::MAX);
}

#[test]
fn condvar_timeout_past_instant_range_waits_untimed() {
    // The minimal form of the two tests above. std turns a timeout no
    // `Instant` can hold into an untimed wait (as does lock_api's own
    // `Condvar`, see the next test); here the condition is already false,
    // so std returns at once: no wait, no timeout. Ours panicked on the
    // deadline's overflow.
    let m = Mutex::new(());
    let cv = Condvar::new();
    let mut g = m.lock();
    let r = cv.wait_while_for(&mut g, |_| false, Duration::MAX);
    assert!(!r.timed_out());
}

#[test]
fn raw_condvar_timeout_past_instant_range_is_an_untimed_wait() {
    // The reference for the tests above: lock_api's `Condvar` over
    // kernsync's raw locks (no validator) does what std does with a
    // timeout no `Instant` can hold: it waits untimed.
    type RawLockedFlag = lock_api::Mutex<kernsync_rwsem::RawMutex, bool>;
    type RawCv = lock_api::Condvar<kernsync_rwsem::RawCondvar>;
    let m = RawLockedFlag::new(false);
    let cv = RawCv::new();
    let mut g = m.lock();
    assert!(!cv
        .wait_while_for(&mut g, |_| false, Duration::MAX)
        .timed_out());
    drop(g);

    let pair = Arc::new((RawLockedFlag::new(false), RawCv::new()));
    let pair2 = Arc::clone(&pair);
    let (m, cv) = &*pair;
    let mut g = m.lock();
    let setter = thread::spawn(move || {
        let (m, cv) = &*pair2;
        *m.lock() = true;
        cv.notify_one();
    });
    let r = cv.wait_while_for(&mut g, |set| !*set, Duration::MAX);
    assert!(!r.timed_out() && *g);
    *g = false;
    drop(g);
    setter.join().unwrap();
}

#[test]
fn condvar_waiter_woken_by_a_notifier_that_then_panics() {
    // The old std `test_arc_condvar_poison`: a thread takes the mutex,
    // notifies the waiter, and panics while still holding the mutex. The
    // waiter was moved to the mutex by the notification and gets it from
    // the unwinding thread. Adaptation: in std the waiter's `wait` returns
    // a poison error and the waiter leaves its loop on it. With no
    // poisoning the waiter gets the mutex and the data as left, so the
    // notifier changes the data before it panics, and the waiter loops on
    // that (tolerating spurious wakeups, as std's loop does).
    let pair = Arc::new((Mutex::new(1), Condvar::new()));
    let pair2 = Arc::clone(&pair);
    let (go_tx, go_rx) = channel();
    let notifier = thread::spawn(move || {
        go_rx.recv().unwrap();
        let payload = catch_unwind(AssertUnwindSafe(|| {
            let (lock, cv) = &*pair2;
            let mut g = lock.lock();
            *g = 2;
            cv.notify_one();
            panic!("deliberate panic after notifying, with the mutex held");
        }))
        .expect_err("no panic");
        assert_holds_nothing("a panic after notifying");
        resume_unwind(payload);
    });
    let (lock, cv) = &*pair;
    let mut g = lock.lock();
    go_tx.send(()).unwrap();
    while *g == 1 {
        cv.wait(&mut g);
    }
    assert_eq!(*g, 2);
    assert_eq!(held_modes(), expect_held(&[Mode::Write]));
    drop(g);
    assert!(notifier.join().is_err());
    assert!(!lock.is_locked());
    assert_eq!(*lock.lock(), 2);
}
