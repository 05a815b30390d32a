//! Calls nested in calls and what the validator says of them: `register`
//! inside a call of the same blocking chain is refused (message and
//! location), a blocking call nested back into itself through another chain
//! is reported, atomic calls nest in themselves and through another atomic
//! chain, registrations dropped or made from atomic callbacks, and
//! `might_sleep` in an atomic callback and its rollback.
#![cfg(not(loom))]

mod common;

use common::*;
use kernsync_lockdep::{capture, held_locks, is_enabled, might_sleep, ReportKind};
use kernsync_notifier::{
    AtomicNotifierChain, AtomicRegistration, NotifierChain, Prepared, Registration, Verdict,
};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

/// `register` from inside a call of the same blocking chain, directly and
/// through a call of another chain nested in it: the documented panic, with
/// its message, at the caller's line; the prepared node is freed on the
/// way; both chains stay usable.
#[test]
fn register_inside_a_call_of_the_same_blocking_chain_is_refused_clearly_even_when_nested() {
    let _wd = watchdog("register refused");
    let a: &'static NotifierChain<u32> = Box::leak(Box::new(NotifierChain::new()));
    let b: &'static NotifierChain<u32> = Box::leak(Box::new(NotifierChain::new()));
    let token = Arc::new(());
    let _ra = a.subscribe(
        move |e: &u32| {
            if *e == 1 {
                b.call(&0);
            }
            Verdict::Continue
        },
        0,
    );
    let _rb = {
        let token = token.clone();
        b.subscribe(
            move |_| {
                let p = a.prepare(step("late", Verdict::Continue, &token), 0);
                std::mem::forget(a.register(p));
                Verdict::Continue
            },
            0,
        )
    };
    let _rself = {
        let token = token.clone();
        a.subscribe(
            move |e: &u32| {
                if *e == 2 {
                    let p = a.prepare(step("late", Verdict::Continue, &token), 0);
                    std::mem::forget(a.register(p));
                }
                Verdict::Continue
            },
            -1,
        )
    };
    // The callbacks of `b` and of `a`'s second registration hold a clone each.
    let baseline = Arc::strong_count(&token);
    for event in [1, 2] {
        let (msg, at) = expect_panic(|| a.call(&event));
        assert!(
            msg.contains("register() from inside a call of the same NotifierChain would deadlock")
                && msg.contains("prepare() here, register() after the call returns"),
            "{msg:?}"
        );
        assert!(
            at.contains("nested_calls_and_validator_reports.rs"),
            "the panic should point at the caller's register, not at {at}"
        );
        assert_eq!(
            Arc::strong_count(&token),
            baseline,
            "the refused node was freed"
        );
        assert!(held_locks().is_empty(), "{:?}", held_locks());
    }
    // Both chains still work, and register from outside works.
    assert_eq!(a.call(&0).called, 2);
    assert_eq!(b.len(), 1);
    let late = a.subscribe(step("late", Verdict::Continue, &token), 0);
    assert_eq!(a.len(), 3);
    drop(late);
    assert_eq!(Arc::strong_count(&token), baseline);
}

/// The guide: a callback must not call its own `NotifierChain`: the inner
/// call is a second read of the chain's `PercpuRwSem`, which "the validator
/// reports as possible recursive locking". Here the recursion goes through
/// a call of another chain. No writer is queued, so it does not hang.
#[test]
fn blocking_call_nested_through_another_chain_back_into_the_first_is_reported() {
    let _wd = watchdog("nested blocking calls");
    let a: &'static NotifierChain<u32> = Box::leak(Box::new(NotifierChain::new()));
    let b: &'static NotifierChain<u32> = Box::leak(Box::new(NotifierChain::new()));
    let inner = Arc::new(AtomicUsize::new(0));
    let _ra = {
        let inner = inner.clone();
        a.subscribe(
            move |e: &u32| {
                if *e == 0 {
                    assert_eq!(b.call(&0).called, 1);
                } else {
                    inner.fetch_add(1, SeqCst);
                }
                Verdict::Continue
            },
            0,
        )
    };
    let _rb = b.subscribe(
        move |_| {
            assert_eq!(a.call(&1).called, 1);
            Verdict::Continue
        },
        0,
    );
    let (out, reports) = capture(|| a.call(&0));
    assert_eq!(out.called, 1);
    assert_eq!(inner.load(SeqCst), 1);
    if is_enabled() {
        assert!(
            reports
                .iter()
                .any(|r| r.kind() == ReportKind::RecursiveLocking),
            "{reports:#?}"
        );
    } else {
        assert!(reports.is_empty());
    }
    assert!(held_locks().is_empty());
}

/// Srcu sections nest: an atomic chain may be called from its own callback,
/// directly and through another atomic chain, with no report; a deferred
/// removal made in the innermost call holds once every call has ended.
#[test]
fn atomic_calls_nest_in_themselves_and_through_another_atomic_chain() {
    let _wd = watchdog("nested atomic calls");
    let a: &'static AtomicNotifierChain<u32> = Box::leak(Box::new(AtomicNotifierChain::new()));
    let b: &'static AtomicNotifierChain<u32> = Box::leak(Box::new(AtomicNotifierChain::new()));
    let token = Arc::new(());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let me: Slot<AtomicRegistration<'static, u32>> = slot();
    let _ra = {
        let seen = seen.clone();
        a.subscribe(
            move |e: &u32| {
                lock(&seen).push(*e);
                if *e == 0 {
                    assert_eq!(a.call(&1).called, 2); // itself
                    assert_eq!(b.call(&0).called, 1); // b calls a(2)
                }
                Verdict::Continue
            },
            10,
        )
    };
    let mine = {
        let (me, token, seen) = (me.clone(), token.clone(), seen.clone());
        a.subscribe(
            move |e: &u32| {
                let _held = &token;
                lock(&seen).push(100 + *e);
                if *e == 2 {
                    assert!(take_and_drop(&me), "removes itself once");
                    assert_eq!(a.len(), 1, "len inside nested sections");
                }
                Verdict::Continue
            },
            0,
        )
    };
    *lock(&me) = Some(mine);
    let _rb = b.subscribe(
        move |_| {
            // a(2) runs a's first callback and `mine`, which removes itself.
            assert_eq!(a.call(&2).called, 2);
            Verdict::Continue
        },
        0,
    );
    let (out, reports) = capture(|| a.call(&0));
    assert!(reports.is_empty(), "{reports:#?}");
    // The outer walk: a's first callback, then `mine` is dead (this walk
    // may or may not call it: the docs promise only later calls).
    let seen_now = std::mem::take(&mut *lock(&seen));
    assert_eq!(&seen_now[..5], [0, 1, 101, 2, 102], "{seen_now:?}");
    assert_eq!(out.called, seen_now.len() - 4, "{seen_now:?}");
    assert_eq!(a.call(&3).called, 1, "not called again");
    assert_eq!(*lock(&seen), [3]);
    assert_eq!(a.len(), 1);
    let before = Arc::strong_count(&token);
    assert_eq!(before, 2, "not freed before an outside unregister");
    drop(a.subscribe(|_| Verdict::Continue, -1)); // an outside unregister reaps
    assert_eq!(Arc::strong_count(&token), 1);
}

/// A blocking chain's registration dropped from inside an atomic chain's
/// callback that runs inside a call of the blocking chain: deferred (this
/// thread holds the blocking chain's read side), so it takes no lock and
/// nothing is reported; skipped by the blocking walk from then on.
#[test]
fn a_blocking_registration_dropped_from_an_atomic_callback_nested_in_its_call() {
    let _wd = watchdog("blocking reg dropped from atomic callback");
    let a: &'static NotifierChain<u32> = Box::leak(Box::new(NotifierChain::new()));
    let b: &'static AtomicNotifierChain<u32> = Box::leak(Box::new(AtomicNotifierChain::new()));
    let token = Arc::new(());
    let x_slot: Slot<Registration<'static, u32>> = slot();
    let _ra = a.subscribe(
        move |_| {
            assert_eq!(b.call(&0).called, 1);
            Verdict::Continue
        },
        10,
    );
    *lock(&x_slot) = Some(a.subscribe(step("x", Verdict::Continue, &token), 0));
    let _rb = {
        let x_slot = x_slot.clone();
        b.subscribe(
            move |_| {
                assert!(take_and_drop(&x_slot));
                Verdict::Continue
            },
            0,
        )
    };
    let (out, reports) = capture(|| a.call(&PLAIN));
    assert!(reports.is_empty(), "{reports:#?}");
    assert_eq!(out.called, 1, "x skipped by the walk it was removed in");
    assert!(take_log().is_empty());
    assert_eq!(a.len(), 1);
    drop(a.subscribe(|_| Verdict::Continue, -1));
    assert_eq!(Arc::strong_count(&token), 1);
}

/// Unregistering an atomic chain's registration (outside that chain's
/// calls) from inside another atomic chain's callback takes the writers'
/// mutex and waits in `synchronize` inside an atomic section: reported as
/// sleeping in atomic context (Linux's `atomic_notifier_chain_unregister`
/// calls `synchronize_rcu`, which may sleep). It still completes.
#[test]
fn atomic_unregister_from_inside_another_atomic_chains_callback_is_reported() {
    let _wd = watchdog("atomic unregister in atomic section");
    let a: &'static AtomicNotifierChain<u32> = Box::leak(Box::new(AtomicNotifierChain::new()));
    let b: &'static AtomicNotifierChain<u32> = Box::leak(Box::new(AtomicNotifierChain::new()));
    let token = Arc::new(());
    let x_slot: Slot<AtomicRegistration<'static, u32>> = slot();
    *lock(&x_slot) = Some(a.subscribe(step("x", Verdict::Continue, &token), 0));
    let _rb = {
        let x_slot = x_slot.clone();
        b.subscribe(
            move |_| {
                assert!(take_and_drop(&x_slot));
                Verdict::Continue
            },
            0,
        )
    };
    let (out, reports) = capture(|| b.call(&0));
    assert_eq!(out.called, 1);
    assert_eq!(Arc::strong_count(&token), 1, "not deferred: freed at once");
    assert!(a.is_empty());
    if is_enabled() {
        assert!(
            reports
                .iter()
                .any(|r| r.kind() == ReportKind::SleepInAtomic),
            "{reports:#?}"
        );
    } else {
        assert!(reports.is_empty());
    }
}

/// Registering on an atomic chain from inside its own call works (it does
/// not wait for calls) but takes the writers' mutex inside the atomic
/// section: reported as sleeping in atomic context.
#[test]
fn atomic_register_inside_its_own_call_works_and_is_reported() {
    let _wd = watchdog("atomic register inside call");
    let chain: &'static AtomicNotifierChain<u32> = Box::leak(Box::new(AtomicNotifierChain::new()));
    let token = Arc::new(());
    let pending: Slot<Prepared<u32>> = slot();
    let made: Slot<AtomicRegistration<'static, u32>> = slot();
    *lock(&pending) = Some(chain.prepare(step("late", Verdict::Continue, &token), 0));
    let _r = {
        let (pending, made) = (pending.clone(), made.clone());
        chain.subscribe(
            move |_| {
                let p = lock(&pending).take();
                if let Some(p) = p {
                    let reg = chain.register(p);
                    *lock(&made) = Some(reg);
                }
                Verdict::Continue
            },
            10,
        )
    };
    let (out, reports) = capture(|| chain.call(&PLAIN));
    let l = take_log();
    assert_eq!(out.called, 1 + l.len(), "{l:?}");
    assert!(lock(&made).is_some());
    assert_eq!(chain.call(&PLAIN).called, 2);
    assert_eq!(take_log(), ["late:0"]);
    if is_enabled() {
        assert!(
            reports
                .iter()
                .any(|r| r.kind() == ReportKind::SleepInAtomic),
            "{reports:#?}"
        );
    } else {
        assert!(reports.is_empty());
    }
    take_and_drop(&made);
    assert_eq!(Arc::strong_count(&token), 1);
}

/// The guide, chapter 6: `register` inside an atomic call is a sleeping
/// lock in atomic context; `AtomicNotifierChain::new` gives the writers'
/// mutex a class of its own, so that is the only report (the calls' and the
/// writers' classes never mix into a false recursive locking).
#[test]
fn register_inside_an_atomic_call_of_a_new_chain_is_only_a_sleep_in_atomic() {
    if !is_enabled() {
        return;
    }
    let chain: &'static AtomicNotifierChain<u32> = Box::leak(Box::new(AtomicNotifierChain::new()));
    let made: Slot<AtomicRegistration<'static, u32>> = slot();
    let _r = {
        let made = made.clone();
        chain.subscribe(
            move |e: &u32| {
                if *e == 1 {
                    let reg = chain.register(Prepared::new(|_| Verdict::Continue, 0));
                    *lock(&made) = Some(reg);
                }
                Verdict::Continue
            },
            10,
        )
    };
    let (_, reports) = capture(|| chain.call(&1));
    take_and_drop(&made);
    let kinds: Vec<ReportKind> = reports.iter().map(|r| r.kind()).collect();
    assert!(kinds.contains(&ReportKind::SleepInAtomic), "{kinds:?}");
    assert!(!kinds.contains(&ReportKind::RecursiveLocking), "{kinds:?}");
}

/// An atomic chain's callbacks run in the validator's atomic section, the
/// rollback walk of `call_robust` included; the section ends with the call.
#[test]
fn might_sleep_in_an_atomic_callback_and_its_rollback_is_reported() {
    if !kernsync_lockdep::COMPILED_IN || !is_enabled() {
        return;
    }
    let chain: &'static AtomicNotifierChain<u32> = Box::leak(Box::new(AtomicNotifierChain::new()));
    let _a = chain.subscribe(
        |e: &u32| {
            if *e == DOWN {
                might_sleep();
            }
            Verdict::Continue
        },
        1,
    );
    let _b = chain.subscribe(
        |e: &u32| {
            if *e == UP {
                Verdict::Fail(-1)
            } else {
                Verdict::Continue
            }
        },
        0,
    );
    let (out, reports) = capture(|| chain.call_robust(&UP, &DOWN));
    assert_eq!(out.error(), Some(-1));
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].kind(), ReportKind::SleepInAtomic);
    // The call's end ends the section.
    let ((), reports) = capture(might_sleep);
    assert!(reports.is_empty(), "{reports:#?}");
    // A plain call whose callbacks do not sleep reports nothing.
    let (_, reports) = capture(|| chain.call(&PLAIN));
    assert!(reports.is_empty(), "{reports:#?}");
}
