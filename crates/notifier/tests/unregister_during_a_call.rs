//! Unregistering while calls run, on both chains: a callback not yet called
//! in this walk and one already called, a callback that drops its own
//! registration (never called again, on any thread) while another thread is
//! still inside it, a self-unregistering call from a thread-local
//! destructor; and the atomic chain's calls and registers, which do not
//! wait behind an unregister that waits for a call.
#![cfg(not(loom))]

mod common;

use common::*;
use kernsync_notifier::{AtomicNotifierChain, Ended, Verdict};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

both!(
    unregistering_a_callback_not_yet_called_in_this_walk,
    unregistering_a_callback_already_called_in_this_walk,
    a_callback_that_drops_its_own_registration_is_never_called_again_on_any_thread,
    deferred_removal_while_another_thread_is_inside_the_same_callback,
    a_self_unregistering_call_from_a_thread_local_destructor,
);

// ---------------------------------------------------------------------------
// Unregistering from inside a walk
// ---------------------------------------------------------------------------

fn unregistering_a_callback_not_yet_called_in_this_walk<C: Chain>() {
    let chain = C::leaked();
    let token = Arc::new(());
    let b_token = Arc::new(());
    let b_slot: Slot<C::Reg> = slot();
    let a = {
        let (b_slot, token) = (b_slot.clone(), token.clone());
        chain.sub(
            move |e: &u32| {
                let _held = &token;
                log(format!("a:{e}"));
                take_and_drop(&b_slot);
                Verdict::Continue
            },
            30,
        )
    };
    *lock(&b_slot) = Some(chain.sub(step("b", Verdict::Continue, &b_token), 20));
    let c = chain.sub(step("c", Verdict::Continue, &token), 10);

    let out = chain.call(&PLAIN);
    let l = take_log();
    // Whatever ran, the outcome counts exactly it.
    assert_eq!(out.called, l.len(), "{l:?}");
    assert_eq!(out.ended, Ended::Completed);
    if C::SKIPS_IN_WALK {
        // "marked dead (skipped by every walk from then on)"
        assert_eq!(l, ["a:0", "c:0"]);
    }
    // Not called again once the calls now running ended.
    assert_eq!(chain.call(&PLAIN).called, 2);
    assert_eq!(take_log(), ["a:0", "c:0"]);
    assert_eq!(chain.len(), 2);
    chain.reap();
    assert_eq!(Arc::strong_count(&b_token), 1);
    drop((a, c));
    assert_eq!(Arc::strong_count(&token), 1);
}

fn unregistering_a_callback_already_called_in_this_walk<C: Chain>() {
    let chain = C::leaked();
    let token = Arc::new(());
    let a_token = Arc::new(());
    let a_slot: Slot<C::Reg> = slot();
    *lock(&a_slot) = Some(chain.sub(step("a", Verdict::Continue, &a_token), 30));
    let b = {
        let (a_slot, token) = (a_slot.clone(), token.clone());
        chain.sub(
            move |e: &u32| {
                let _held = &token;
                log(format!("b:{e}"));
                take_and_drop(&a_slot);
                Verdict::Continue
            },
            20,
        )
    };
    let c = chain.sub(step("c", Verdict::Continue, &token), 10);
    assert_eq!(chain.call(&PLAIN).called, 3);
    assert_eq!(take_log(), ["a:0", "b:0", "c:0"]);
    assert_eq!(chain.call(&PLAIN).called, 2);
    assert_eq!(take_log(), ["b:0", "c:0"]);
    assert_eq!(chain.len(), 2);
    drop(b); // an outside unregister: also reaps `a`
    assert_eq!(Arc::strong_count(&a_token), 1);
    drop(c);
    assert_eq!(Arc::strong_count(&token), 1);
    assert_eq!(chain.len(), 0);
}

fn a_callback_that_drops_its_own_registration_is_never_called_again_on_any_thread<C: Chain>() {
    let _wd = watchdog("self-drop, other threads");
    let chain = C::leaked();
    let token = Arc::new(());
    let me_token = Arc::new(());
    let ran = Arc::new(AtomicUsize::new(0));
    let me: Slot<C::Reg> = slot();
    let reg = {
        let (me, ran, me_token) = (me.clone(), ran.clone(), me_token.clone());
        chain.sub(
            move |_: &u32| {
                let _held = &me_token;
                ran.fetch_add(1, SeqCst);
                take_and_drop(&me);
                Verdict::Continue
            },
            10,
        )
    };
    *lock(&me) = Some(reg);
    let other = chain.sub(step("other", Verdict::Continue, &token), 0);

    let out = chain.call(&PLAIN);
    assert_eq!(out.called, 2);
    assert_eq!(ran.load(SeqCst), 1);
    for _ in 0..3 {
        assert_eq!(chain.call(&PLAIN).called, 1);
    }
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..50 {
                    assert_eq!(chain.call(&PLAIN).called, 1);
                    assert_eq!(chain.call_robust(&UP, &DOWN).called, 1);
                }
            });
        }
    });
    assert_eq!(chain.call(&PLAIN).called, 1);
    assert_eq!(ran.load(SeqCst), 1, "called again after its own unregister");
    take_log();
    chain.reap();
    assert_eq!(Arc::strong_count(&me_token), 1);
    drop(other);
    assert_eq!(Arc::strong_count(&token), 1);
}

/// Thread T2 is inside callback `x` (blocked on a channel) when the main
/// thread's call of `x` drops `x`'s registration (deferred). New calls do
/// not call `x`; T2's call may finish it (the documented weaker guarantee);
/// the writer that reaps `x` must wait for T2's call: the node is not freed
/// under T2's feet.
fn deferred_removal_while_another_thread_is_inside_the_same_callback<C: Chain>() {
    let _wd = watchdog("deferred removal while another thread is inside");
    let chain = C::leaked();
    let token = Arc::new(());
    let me: Slot<C::Reg> = slot();
    let (inside_tx, inside_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let writer_done = Arc::new(AtomicBool::new(false));
    let writer_started = AtomicBool::new(false);
    let freed_under_a_call = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let reg = {
        let (me, token, calls) = (me.clone(), token.clone(), calls.clone());
        let (writer_done, freed_under_a_call) = (writer_done.clone(), freed_under_a_call.clone());
        chain.sub(
            move |e: &u32| {
                let _held = &token;
                calls.fetch_add(1, SeqCst);
                match *e {
                    1 => {
                        inside_tx.send(()).unwrap();
                        lock(&release_rx).recv().unwrap();
                        if writer_done.load(SeqCst) {
                            freed_under_a_call.store(true, SeqCst);
                        }
                    }
                    2 => {
                        assert!(take_and_drop(&me));
                    }
                    _ => {}
                }
                Verdict::Continue
            },
            0,
        )
    };
    *lock(&me) = Some(reg);
    thread::scope(|s| {
        let t2 = s.spawn(|| chain.call(&1));
        inside_rx.recv().unwrap();
        assert_eq!(chain.call(&2).called, 1, "drops itself: deferred");
        assert!(lock(&me).is_none());
        assert_eq!(chain.call(&3).called, 0, "not called again");
        assert_eq!(chain.len(), 0);
        let t3 = s.spawn(|| {
            writer_started.store(true, SeqCst);
            chain.reap();
            writer_done.store(true, SeqCst);
        });
        while !writer_started.load(SeqCst) {
            thread::yield_now();
        }
        for _ in 0..200 {
            thread::yield_now();
        }
        release_tx.send(()).unwrap();
        assert_eq!(t2.join().unwrap().called, 1);
        t3.join().unwrap();
    });
    assert!(
        !freed_under_a_call.load(SeqCst),
        "the reaping writer returned while a call was still inside the callback"
    );
    assert_eq!(calls.load(SeqCst), 2);
    assert_eq!(Arc::strong_count(&token), 1, "freed by the writer");
    let out = thread::spawn(move || chain.call(&3)).join().unwrap();
    assert_eq!(out.called, 0);
}

/// The atomic chain's calls "never block, not even behind a writer": while
/// an unregistration waits in `synchronize` for a call stuck inside a
/// callback, other calls and a register (its mutex is not held across the
/// wait) complete; the unregistration returns only after the stuck call,
/// which, begun before the unlink, may still run the removed callback.
#[test]
fn atomic_calls_and_registers_do_not_wait_behind_an_unregister_waiting_for_a_call() {
    let _wd = watchdog("atomic calls behind a waiting writer");
    let chain: &'static AtomicNotifierChain<u32> = Box::leak(Box::new(AtomicNotifierChain::new()));
    let (inside_tx, inside_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let unregistered = Arc::new(AtomicBool::new(false));
    let late_call = Arc::new(AtomicBool::new(false));
    let _x = chain.subscribe(
        move |e: &u32| {
            if *e == 1 {
                inside_tx.send(()).unwrap();
                lock(&release_rx).recv().unwrap();
            }
            Verdict::Continue
        },
        10,
    );
    let y = {
        let (unregistered, late_call) = (unregistered.clone(), late_call.clone());
        chain.subscribe(
            move |_| {
                if unregistered.load(SeqCst) {
                    late_call.store(true, SeqCst);
                }
                Verdict::Continue
            },
            0,
        )
    };
    let writer_started = AtomicBool::new(false);
    thread::scope(|s| {
        let stuck = s.spawn(|| chain.call(&1));
        inside_rx.recv().unwrap();
        let writer = s.spawn(|| {
            writer_started.store(true, SeqCst);
            y.unregister();
            unregistered.store(true, SeqCst);
        });
        while !writer_started.load(SeqCst) {
            thread::yield_now();
        }
        for _ in 0..100 {
            let out = chain.call(&PLAIN);
            assert!(out.called == 1 || out.called == 2);
            thread::yield_now();
        }
        // A register from another thread completes while the writer waits.
        let reg = s
            .spawn(|| chain.subscribe(|_| Verdict::Continue, 5))
            .join()
            .unwrap();
        assert!(
            !unregistered.load(SeqCst),
            "unregister returned while a call that may run the callback was in flight"
        );
        release_tx.send(()).unwrap();
        let out = stuck.join().unwrap();
        assert!(out.called >= 2);
        writer.join().unwrap();
        assert_eq!(chain.call(&PLAIN).called, 2, "x and the new one");
        drop(reg);
    });
    assert!(
        !late_call.load(SeqCst),
        "y ran after its unregister returned"
    );
}

/// Runs its closure when the thread's thread-locals are destroyed.
struct AtExit(RefCell<Option<Box<dyn FnOnce()>>>);

impl Drop for AtExit {
    fn drop(&mut self) {
        if let Some(f) = self.0.get_mut().take() {
            f();
        }
    }
}

thread_local! {
    static AT_EXIT: AtExit = const { AtExit(RefCell::new(None)) };
}

/// A chain called from a thread-local destructor, registered before the
/// thread's first read of any kernsync lock (so, destructors running last
/// registered first, after the thread's slot table is gone): a callback that
/// unregisters itself there must still be deferred (not wait for its own
/// call, which would hang), and is never called again.
fn a_self_unregistering_call_from_a_thread_local_destructor<C: Chain>() {
    let _wd = watchdog("a call from a thread-local destructor");
    let chain = C::leaked();
    let token = Arc::new(());
    let me: Slot<C::Reg> = slot();
    let ran = Arc::new(AtomicUsize::new(0));
    let reg = {
        let (me, ran, token) = (me.clone(), ran.clone(), token.clone());
        chain.sub(
            move |e: &u32| {
                let _held = &token;
                ran.fetch_add(1, SeqCst);
                if *e == 7 {
                    assert!(take_and_drop(&me));
                }
                Verdict::Continue
            },
            0,
        )
    };
    *lock(&me) = Some(reg);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        AT_EXIT.with(|a| {
            *a.0.borrow_mut() = Some(Box::new(move || {
                let first = chain.call(&7);
                let second = chain.call(&8);
                let _ = tx.send((first.called, second.called, chain.len()));
            }))
        });
        // The thread reads the chain once while alive: it has a slot.
        assert_eq!(chain.call(&PLAIN).called, 1);
    })
    .join()
    .unwrap();
    let (first, second, len) = rx.recv().expect("the destructor ran");
    assert_eq!((first, second, len), (1, 0, 0));
    assert_eq!(ran.load(SeqCst), 2);
    assert_eq!(chain.call(&PLAIN).called, 0);
    chain.reap();
    assert_eq!(Arc::strong_count(&token), 1);
}
