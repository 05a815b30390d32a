//! When a registration's node is freed (the docs say: at once, at the next
//! writer outside a call, at the chain's drop) and that nothing leaks:
//! freeing a callback that owns another registration of the same chain,
//! dropping a chain with forgotten and deferred nodes, a bare `register`
//! that reaps, and `Prepared` moved, dropped unused and registered on
//! another chain.
#![cfg(not(loom))]

mod common;

use common::*;
use kernsync_notifier::{
    AtomicNotifierChain, AtomicRegistration, NotifierChain, Prepared, Registration, Verdict,
};
use std::sync::Arc;
use std::thread;

both!(freeing_a_callback_that_owns_another_registration_of_the_same_chain,);

/// A callback's captures own another registration of the same chain: when
/// its node is freed (by an outside unregister, or by the writer that reaps
/// it after a deferred removal) that registration is dropped from inside
/// the chain's own freeing, a re-entrant writer. No hang, nothing left.
fn freeing_a_callback_that_owns_another_registration_of_the_same_chain<C: Chain>() {
    let _wd = watchdog("re-entrant unregister while freeing a node");
    let chain = C::leaked();
    let token = Arc::new(());
    // Outside unregister of the owner.
    let y = chain.sub(step("y", Verdict::Continue, &token), 0);
    let x = {
        let token = token.clone();
        chain.sub(
            move |e: &u32| {
                let (_held, _owned) = (&token, &y);
                log(format!("x:{e}"));
                Verdict::Continue
            },
            10,
        )
    };
    assert_eq!(chain.call(&PLAIN).called, 2);
    drop(x);
    assert_eq!(chain.len(), 0, "y went with x");
    assert_eq!(Arc::strong_count(&token), 1);
    take_log();

    // Deferred removal of the owner; the reaping writer frees it.
    let me: Slot<C::Reg> = slot();
    let y = chain.sub(step("y", Verdict::Continue, &token), 0);
    let x = {
        let (token, me) = (token.clone(), me.clone());
        chain.sub(
            move |e: &u32| {
                let (_held, _owned) = (&token, &y);
                log(format!("x:{e}"));
                take_and_drop(&me);
                Verdict::Continue
            },
            10,
        )
    };
    *lock(&me) = Some(x);
    assert_eq!(chain.call(&PLAIN).called, 2);
    assert_eq!(
        chain.len(),
        1,
        "y still registered: x's node is not freed yet"
    );
    chain.reap();
    assert_eq!(chain.len(), 0);
    assert_eq!(Arc::strong_count(&token), 1);
    take_log();
}

// ---------------------------------------------------------------------------
// Chain-specific: drop, Prepared, nesting, the validator
// ---------------------------------------------------------------------------

/// Dropping a (non-static) chain frees what is left: forgotten
/// registrations, and nodes unregistered from inside a call and not reaped
/// yet (the atomic chain reaps them "only in an outside unregister or its
/// drop"). No double free, no leak.
#[test]
fn dropping_a_chain_frees_forgotten_and_deferred_nodes() {
    let token = Arc::new(());
    {
        let chain = NotifierChain::<u32>::new();
        std::mem::forget(chain.subscribe(step("f", Verdict::Continue, &token), 0));
        let me: Slot<Registration<'static, u32>> = slot();
        let reg = {
            let (me, token) = (me.clone(), token.clone());
            chain.subscribe(
                move |_| {
                    let _held = &token;
                    take_and_drop(&me);
                    Verdict::Continue
                },
                1,
            )
        };
        // SAFETY: only the lifetime changes; the registration is dropped by
        // the call below (asserted), before `chain`, which does not move.
        let reg = unsafe {
            std::mem::transmute::<Registration<'_, u32>, Registration<'static, u32>>(reg)
        };
        *lock(&me) = Some(reg);
        assert_eq!(chain.call(&PLAIN).called, 2);
        assert!(lock(&me).is_none(), "dropped inside the call: deferred");
        assert_eq!(chain.len(), 1);
        drop(chain);
    }
    take_log();
    assert_eq!(
        Arc::strong_count(&token),
        1,
        "blocking chain's drop freed all"
    );
    {
        let chain = AtomicNotifierChain::<u32>::new();
        std::mem::forget(chain.subscribe(step("f", Verdict::Continue, &token), 0));
        let me: Slot<AtomicRegistration<'static, u32>> = slot();
        let reg = {
            let (me, token) = (me.clone(), token.clone());
            chain.subscribe(
                move |_| {
                    let _held = &token;
                    take_and_drop(&me);
                    Verdict::Continue
                },
                1,
            )
        };
        // SAFETY: as above.
        let reg = unsafe {
            std::mem::transmute::<AtomicRegistration<'_, u32>, AtomicRegistration<'static, u32>>(
                reg,
            )
        };
        *lock(&me) = Some(reg);
        assert_eq!(chain.call(&PLAIN).called, 2);
        assert!(lock(&me).is_none());
        // A register is not a reaping writer on the atomic chain, and must
        // not disturb the deferred node either.
        let late = chain.subscribe(step("late", Verdict::Continue, &token), -1);
        assert_eq!(chain.call(&PLAIN).called, 2);
        std::mem::forget(late);
        drop(chain);
    }
    take_log();
    assert_eq!(
        Arc::strong_count(&token),
        1,
        "atomic chain's drop freed all"
    );
    // Dropping a chain after every registration was dropped.
    {
        let chain = NotifierChain::<u32>::new();
        let atomic = AtomicNotifierChain::<u32>::new();
        let regs = (
            chain.subscribe(step("a", Verdict::Continue, &token), 0),
            atomic.subscribe(step("b", Verdict::Continue, &token), 0),
        );
        drop(regs);
        assert!(chain.is_empty() && atomic.is_empty());
        assert_eq!(Arc::strong_count(&token), 1);
    }
}

/// The blocking chain's `register` is a documented reaping writer (the
/// atomic chain's is not): the deferred node is freed by a bare register.
#[test]
fn a_bare_register_reaps_deferred_removals_of_the_blocking_chain() {
    let chain = <NotifierChain<u32> as Chain>::leaked();
    let token = Arc::new(());
    let me: Slot<Registration<'static, u32>> = slot();
    let reg = {
        let (me, token) = (me.clone(), token.clone());
        chain.subscribe(
            move |_| {
                let _held = &token;
                take_and_drop(&me);
                Verdict::Continue
            },
            0,
        )
    };
    *lock(&me) = Some(reg);
    assert_eq!(chain.call(&PLAIN).called, 1);
    let other = Arc::new(());
    let r = chain.subscribe(step("r", Verdict::Continue, &other), 0);
    assert_eq!(Arc::strong_count(&token), 1, "freed by the next register");
    drop(r);
    take_log();
}

#[test]
fn prepared_moved_dropped_unused_and_registered_on_another_chain_leaks_nothing() {
    let token = Arc::new(());
    // Dropped unused.
    let p = Prepared::new(step("unused", Verdict::Continue, &token), 3);
    assert_eq!(Arc::strong_count(&token), 2);
    drop(p);
    assert_eq!(Arc::strong_count(&token), 1);

    // Prepared on one thread (through one chain's `prepare`), registered on
    // another thread on a chain of the other kind, called here.
    let blocking = NotifierChain::<u32>::new();
    let atomic = AtomicNotifierChain::<u32>::new();
    let p = blocking.prepare(step("moved", Verdict::Fail(-3), &token), 7);
    assert_eq!(p.priority(), 7);
    thread::scope(|s| {
        let reg = s.spawn(|| atomic.register(p)).join().unwrap();
        assert_eq!(atomic.call(&UP).error(), Some(-3));
        assert_eq!(take_log(), ["moved:1"]);
        // Dropped (unregistered) on yet another thread.
        s.spawn(move || drop(reg)).join().unwrap();
    });
    assert!(atomic.is_empty());
    assert_eq!(Arc::strong_count(&token), 1);

    // Sent unused to a thread that drops it.
    let p = atomic.prepare(step("x", Verdict::Continue, &token), 0);
    thread::spawn(move || drop(p)).join().unwrap();
    assert_eq!(Arc::strong_count(&token), 1);
    assert!(blocking.is_empty());
}
