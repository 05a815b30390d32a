//! What a chain promises, on both kinds: priority order (stable among
//! equals), stop and fail, robust rollback in reverse from the same
//! snapshot, unregister returning only when no call can still run the
//! callback, unregistration from inside a call (itself, another, two threads
//! crosswise), the clear refusal of a self-deadlocking register, a panicking
//! callback, and the atomic chain's atomic section.
#![cfg(not(loom))]

use kernsync_lockdep::{capture, might_sleep, ReportKind};
use kernsync_notifier::{
    AtomicNotifierChain, AtomicRegistration, Ended, NotifierChain, Outcome, Prepared, Registration,
    Verdict,
};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::thread;
use std::time::{Duration, Instant};

/// Polls `cond` for up to 10 s.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

type Log = Arc<StdMutex<Vec<String>>>;

/// A callback that logs `name:event` and answers `verdict`.
fn logger(log: &Log, name: &'static str, verdict: Verdict) -> impl Fn(&u32) -> Verdict {
    let log = log.clone();
    move |e: &u32| {
        log.lock().unwrap().push(format!("{name}:{e}"));
        verdict
    }
}

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

#[test]
fn priority_order_is_higher_first_and_stable_among_equals() {
    let log = Log::default();
    let chain = NotifierChain::new();
    let _a = chain.subscribe(logger(&log, "a", Verdict::Continue), 0);
    let _b = chain.subscribe(logger(&log, "b", Verdict::Continue), 10);
    let _c = chain.subscribe(logger(&log, "c", Verdict::Continue), 0);
    let _d = chain.subscribe(logger(&log, "d", Verdict::Continue), -5);
    let _e = chain.subscribe(logger(&log, "e", Verdict::Continue), 10);
    let out = chain.call(&1);
    assert_eq!(
        out,
        Outcome {
            called: 5,
            ended: Ended::Completed
        }
    );
    assert_eq!(take(&log), ["b:1", "e:1", "a:1", "c:1", "d:1"]);

    let atomic = AtomicNotifierChain::new();
    let _x = atomic.subscribe(logger(&log, "x", Verdict::Continue), 1);
    let _y = atomic.subscribe(logger(&log, "y", Verdict::Continue), 2);
    let _z = atomic.subscribe(logger(&log, "z", Verdict::Continue), 1);
    assert_eq!(atomic.call(&2).called, 3);
    assert_eq!(take(&log), ["y:2", "x:2", "z:2"]);
}

#[test]
fn stop_and_fail_end_the_walk_and_say_why() {
    let log = Log::default();
    let chain = NotifierChain::new();
    let _a = chain.subscribe(logger(&log, "a", Verdict::Continue), 3);
    let b = chain.subscribe(logger(&log, "b", Verdict::Stop), 2);
    let _c = chain.subscribe(logger(&log, "c", Verdict::Continue), 1);
    let out = chain.call(&0);
    assert_eq!(out.called, 2);
    assert_eq!(out.ended, Ended::Stopped);
    assert_eq!(out.error(), None);
    assert_eq!(take(&log), ["a:0", "b:0"]);
    drop(b);
    let _f = chain.subscribe(logger(&log, "f", Verdict::Fail(-22)), 2);
    let out = chain.call(&0);
    assert_eq!(out.ended, Ended::Failed(-22));
    assert_eq!(out.error(), Some(-22));
    assert_eq!(take(&log), ["a:0", "f:0"]);
}

#[test]
fn robust_call_rolls_back_the_successes_in_reverse() {
    for kind in ["blocking", "atomic"] {
        let log = Log::default();
        let blocking = NotifierChain::new();
        let atomic = AtomicNotifierChain::new();
        let mut regs_b: Vec<Registration<'_, u32>> = Vec::new();
        let mut regs_a: Vec<AtomicRegistration<'_, u32>> = Vec::new();
        for (name, prio, v) in [
            ("a", 4, Verdict::Continue),
            ("b", 3, Verdict::Continue),
            ("c", 2, Verdict::Fail(-1)),
            ("d", 1, Verdict::Continue),
        ] {
            if kind == "blocking" {
                regs_b.push(blocking.subscribe(logger(&log, name, v), prio));
            } else {
                regs_a.push(atomic.subscribe(logger(&log, name, v), prio));
            }
        }
        let out = if kind == "blocking" {
            blocking.call_robust(&1, &100)
        } else {
            atomic.call_robust(&1, &100)
        };
        assert_eq!(out.ended, Ended::Failed(-1), "{kind}");
        assert_eq!(out.called, 3, "{kind}");
        assert_eq!(
            take(&log),
            ["a:1", "b:1", "c:1", "b:100", "a:100"],
            "{kind}"
        );
    }
}

#[test]
fn robust_rollback_of_more_than_32_successes() {
    let log = Log::default();
    let chain = NotifierChain::new();
    let count = Arc::new(AtomicUsize::new(0));
    let mut regs = Vec::new();
    for i in 0..40 {
        let count = count.clone();
        regs.push(chain.subscribe(
            move |e: &u32| {
                if *e == 1 {
                    count.fetch_add(1, Ordering::Relaxed);
                } else {
                    // Rolled back in reverse: the highest priority last.
                    assert_eq!(count.fetch_sub(1, Ordering::Relaxed), i + 1);
                }
                Verdict::Continue
            },
            100 - i as i32,
        ));
    }
    regs.push(chain.subscribe(logger(&log, "fail", Verdict::Fail(-5)), -1));
    let out = chain.call_robust(&1, &2);
    assert_eq!(out.called, 41);
    assert_eq!(
        count.load(Ordering::Relaxed),
        0,
        "every success rolled back"
    );
}

#[test]
fn unregister_returns_only_when_no_call_runs_the_callback() {
    let chain = NotifierChain::new();
    let inside = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let reg = {
        let (inside, release) = (inside.clone(), release.clone());
        chain.subscribe(
            move |_: &u32| {
                inside.store(true, Ordering::SeqCst);
                wait_until("released", || release.load(Ordering::SeqCst));
                Verdict::Continue
            },
            0,
        )
    };
    let unregistered = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| chain.call(&0));
        wait_until("the callback runs", || inside.load(Ordering::SeqCst));
        s.spawn(|| {
            reg.unregister();
            unregistered.store(true, Ordering::SeqCst);
        });
        thread::sleep(Duration::from_millis(30));
        assert!(
            !unregistered.load(Ordering::SeqCst),
            "unregister returned while the callback ran"
        );
        release.store(true, Ordering::SeqCst);
    });
    assert!(unregistered.load(Ordering::SeqCst));
    assert_eq!(chain.call(&0).called, 0);
}

#[test]
fn atomic_unregister_waits_for_the_call_in_flight() {
    let chain = AtomicNotifierChain::new();
    let inside = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let reg = {
        let (inside, release) = (inside.clone(), release.clone());
        chain.subscribe(
            move |_: &u32| {
                inside.store(true, Ordering::SeqCst);
                // Spin (no sleeping in an atomic chain).
                let end = Instant::now() + Duration::from_secs(10);
                while !release.load(Ordering::SeqCst) && Instant::now() < end {
                    std::hint::spin_loop();
                }
                Verdict::Continue
            },
            0,
        )
    };
    let unregistered = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| chain.call(&0));
        wait_until("the callback runs", || inside.load(Ordering::SeqCst));
        s.spawn(|| {
            reg.unregister();
            unregistered.store(true, Ordering::SeqCst);
        });
        thread::sleep(Duration::from_millis(30));
        assert!(!unregistered.load(Ordering::SeqCst));
        release.store(true, Ordering::SeqCst);
    });
    assert!(unregistered.load(Ordering::SeqCst));
    assert!(chain.is_empty());
}

/// A registration a callback can take out of its slot and drop.
type Slot<R> = Arc<StdMutex<Option<R>>>;

#[test]
fn a_callback_unregisters_itself_and_another() {
    let chain: &'static NotifierChain<u32> = Box::leak(Box::new(NotifierChain::new()));
    let me: Slot<Registration<'static, u32>> = Slot::default();
    let other: Slot<Registration<'static, u32>> = Slot::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let reg = {
        let (me, other, calls) = (me.clone(), other.clone(), calls.clone());
        chain.subscribe(
            move |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                drop(me.lock().unwrap().take()); // itself
                drop(other.lock().unwrap().take()); // a later one
                Verdict::Continue
            },
            10,
        )
    };
    *me.lock().unwrap() = Some(reg);
    let later_ran = Arc::new(AtomicBool::new(false));
    *other.lock().unwrap() = Some({
        let later_ran = later_ran.clone();
        chain.subscribe(
            move |_| {
                later_ran.store(true, Ordering::SeqCst);
                Verdict::Continue
            },
            0,
        )
    });
    let out = chain.call(&0);
    // The later callback was unregistered before the walk reached it.
    assert_eq!(out.called, 1);
    assert!(!later_ran.load(Ordering::SeqCst));
    assert_eq!(chain.call(&0).called, 0, "not called again");
    assert!(chain.is_empty());
    // The next writer unlinks and frees them.
    drop(chain.subscribe(|_| Verdict::Continue, 0));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn two_threads_whose_callbacks_unregister_each_other_do_not_hang() {
    let chain: &'static AtomicNotifierChain<u32> = Box::leak(Box::new(AtomicNotifierChain::new()));
    let blocking: &'static NotifierChain<u32> = Box::leak(Box::new(NotifierChain::new()));
    for round in 0..50 {
        let slots: [Slot<AtomicRegistration<'static, u32>>; 2] = Default::default();
        let bslots: [Slot<Registration<'static, u32>>; 2] = Default::default();
        for i in 0..2 {
            // Callback i unregisters registration 1 - i.
            let theirs = slots[1 - i].clone();
            *slots[i].lock().unwrap() = Some(chain.subscribe(
                move |_| {
                    drop(theirs.lock().unwrap().take());
                    Verdict::Continue
                },
                0,
            ));
            let theirs = bslots[1 - i].clone();
            *bslots[i].lock().unwrap() = Some(blocking.subscribe(
                move |_| {
                    drop(theirs.lock().unwrap().take());
                    Verdict::Continue
                },
                0,
            ));
        }
        thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    chain.call(&round);
                    blocking.call(&round);
                });
            }
        });
        // Whichever callback ran first removed the other; the survivors are
        // removed from outside any call.
        for s in &slots {
            drop(s.lock().unwrap().take());
        }
        for s in &bslots {
            drop(s.lock().unwrap().take());
        }
        assert!(chain.is_empty() && blocking.is_empty(), "round {round}");
    }
}

#[test]
fn register_from_inside_a_call_of_the_same_chain_is_refused_clearly() {
    let chain: &'static NotifierChain<u32> = Box::leak(Box::new(NotifierChain::new()));
    let kept: Slot<Prepared<u32>> = Slot::default();
    let msg: Arc<StdMutex<String>> = Arc::default();
    let _reg = {
        let (kept, msg) = (kept.clone(), msg.clone());
        chain.subscribe(
            move |_| {
                // Preparing inside a call is fine...
                let p = chain.prepare(|_| Verdict::Continue, 0);
                // ...registering would wait for this very call.
                let r = capture(|| {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        std::mem::forget(chain.register(Prepared::new(|_| Verdict::Continue, 0)))
                    }))
                });
                if let (Err(e), _) = r {
                    *msg.lock().unwrap() = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                }
                *kept.lock().unwrap() = Some(p);
                Verdict::Continue
            },
            0,
        )
    };
    assert_eq!(chain.call(&0).called, 1);
    let msg = msg.lock().unwrap().clone();
    assert!(msg.contains("would deadlock"), "{msg:?}");
    // Registering the prepared node after the call works.
    let p = kept.lock().unwrap().take().unwrap();
    let _late = chain.register(p);
    assert_eq!(chain.call(&0).called, 2);
}

#[test]
fn a_panicking_callback_propagates_and_leaves_the_chain_usable() {
    let chain = NotifierChain::new();
    let atomic = AtomicNotifierChain::new();
    let boom = |_: &u32| -> Verdict { panic!("callback failed") };
    let r1 = chain.subscribe(boom, 0);
    let r2 = atomic.subscribe(boom, 0);
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| chain.call(&0))).is_err());
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| atomic.call(&0))).is_err());
    // The read sides were released: writers get in.
    drop(r1);
    drop(r2);
    assert_eq!(chain.call(&0).called, 0);
    assert_eq!(atomic.call(&0).called, 0);
    assert!(kernsync_lockdep::held_locks().is_empty());
}

#[test]
fn an_atomic_chain_reports_sleeping_in_its_callbacks() {
    if !kernsync_lockdep::is_enabled() {
        return;
    }
    let atomic = AtomicNotifierChain::new();
    let _r = atomic.subscribe(
        |_: &u32| {
            might_sleep();
            Verdict::Continue
        },
        0,
    );
    let (_, reports) = capture(|| atomic.call(&0));
    assert!(
        reports
            .iter()
            .any(|r| r.kind() == ReportKind::SleepInAtomic),
        "{reports:?}"
    );
    // A blocking chain's callbacks may sleep.
    let blocking = NotifierChain::new();
    let _b = blocking.subscribe(
        |_: &u32| {
            might_sleep();
            Verdict::Continue
        },
        0,
    );
    let (_, reports) = capture(|| blocking.call(&0));
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn prepared_nodes_move_between_threads_and_may_be_dropped_unused() {
    let chain = NotifierChain::new();
    let p = Prepared::new(|e: &u32| Verdict::Fail(*e as i32), 5);
    assert_eq!(p.priority(), 5);
    let p = thread::spawn(move || p).join().unwrap();
    drop(Prepared::<u32>::new(|_| Verdict::Continue, 0));
    let _r = chain.register(p);
    assert_eq!(chain.call(&7).error(), Some(7));
    assert_eq!(chain.len(), 1);
    assert_eq!(format!("{chain:?}"), "NotifierChain { callbacks: 1 }");
}

/// An atomic chain made with named classes reports under those names (its
/// calls' `Srcu` here: a sleeping lock taken inside a callback).
#[test]
fn atomic_chain_with_classes_names_them_in_reports() {
    use kernsync_lockdep::{is_enabled, LockClass};
    static CALLS: LockClass = LockClass::new("reboot_notifier_calls");
    static WRITERS: LockClass = LockClass::new("reboot_notifier_writers");
    let chain: AtomicNotifierChain<u32> = AtomicNotifierChain::with_classes(&CALLS, &WRITERS);
    let sleeping = kernsync_rwsem::Mutex::new(0u32);
    let _r = chain.subscribe(
        move |e: &u32| {
            *sleeping.lock() += *e;
            Verdict::Continue
        },
        0,
    );
    let (outcome, reports) = capture(|| chain.call(&1));
    assert_eq!(outcome.called, 1);
    if is_enabled() {
        assert_eq!(reports.len(), 1, "{reports:#?}");
        assert_eq!(reports[0].kind(), ReportKind::SleepInAtomic);
        assert!(
            reports[0]
                .held_locks()
                .iter()
                .any(|h| h.class == "reboot_notifier_calls"),
            "{}",
            reports[0]
        );
    } else {
        assert!(reports.is_empty());
    }
}
