//! Two bounded stresses on both chains: registrars against callers (walk
//! order, counts, rollback snapshots, no call after unregister), and
//! concurrent deferred removals against a reaping writer.
#![cfg(not(loom))]

mod common;

use common::*;
use kernsync_notifier::{Ended, Prepared, Verdict};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

both!(
    bounded_stress_order_counts_snapshots_and_no_call_after_unregister,
    bounded_stress_concurrent_deferred_removals_and_reaping,
);

// ---------------------------------------------------------------------------
// Bounded stress
// ---------------------------------------------------------------------------

/// A traced callback for the stress test: fails `UP` if `fails`, and counts
/// a violation if it runs after its unregistration returned (`gone`).
fn traced(
    id: usize,
    priority: i32,
    fails: bool,
    gone: Arc<AtomicBool>,
    violations: Arc<AtomicUsize>,
) -> impl Fn(&u32) -> Verdict + Send + Sync + 'static {
    move |e: &u32| {
        if gone.load(SeqCst) {
            violations.fetch_add(1, SeqCst);
        }
        TRACE.with(|t| t.borrow_mut().push((*e, priority, id)));
        if fails && *e == UP {
            Verdict::Fail(-5)
        } else {
            Verdict::Continue
        }
    }
}

/// Two registrars register and unregister nodes prepared by each other
/// (Prepared sent across threads) while two callers call and call_robust in
/// a loop; bounded in rounds and calls. Every observed walk: priorities
/// non-increasing, no node twice, the permanent nodes present, `called`
/// equal to the callbacks that ran, and a rollback that is the exact
/// reverse of the walk. No callback runs after its unregister returned, and
/// each node is freed when its outside unregister returns.
fn bounded_stress_order_counts_snapshots_and_no_call_after_unregister<C: Chain>() {
    const REGISTRARS: usize = 2;
    const ROUNDS: usize = 400;
    const MAX_CALLS: usize = 50_000;
    let _wd = watchdog("bounded stress");
    let chain = C::leaked();
    let violations = Arc::new(AtomicUsize::new(0));
    let never = Arc::new(AtomicBool::new(false));
    let _permanent = [
        chain.sub(
            traced(0, 100, false, never.clone(), violations.clone()),
            100,
        ),
        chain.sub(traced(1, 0, false, never.clone(), violations.clone()), 0),
        chain.sub(
            traced(2, -100, true, never.clone(), violations.clone()),
            -100,
        ),
    ];
    let next_id = AtomicUsize::new(3);
    let finished = AtomicUsize::new(0);
    let walks = AtomicUsize::new(0);
    type Parcel = (Prepared<u32>, Arc<AtomicBool>);
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..REGISTRARS).map(|_| mpsc::channel::<Parcel>()).unzip();

    thread::scope(|s| {
        for (r, rx) in rxs.into_iter().enumerate() {
            let tx = txs[(r + 1) % REGISTRARS].clone();
            let (next_id, finished, violations) = (&next_id, &finished, &violations);
            s.spawn(move || {
                let mut held: VecDeque<(C::Reg, Arc<AtomicBool>)> = VecDeque::new();
                for i in 0..ROUNDS {
                    let priority = ((r * 7 + i * 5) % 13) as i32 - 6;
                    let id = next_id.fetch_add(1, SeqCst);
                    let gone = Arc::new(AtomicBool::new(false));
                    let p = Prepared::new(
                        traced(id, priority, false, gone.clone(), violations.clone()),
                        priority,
                    );
                    tx.send((p, gone)).unwrap();
                    let (p, gone) = rx.recv().unwrap();
                    held.push_back((chain.reg(p), gone));
                    if held.len() > 1 + i % 3 {
                        let (reg, gone) = held.pop_front().unwrap();
                        drop(reg);
                        gone.store(true, SeqCst);
                        assert_eq!(Arc::strong_count(&gone), 1, "node not freed at unregister");
                    }
                }
                for (reg, gone) in held {
                    drop(reg);
                    gone.store(true, SeqCst);
                    assert_eq!(Arc::strong_count(&gone), 1, "node not freed at unregister");
                }
                finished.fetch_add(1, SeqCst);
            });
        }
        drop(txs);
        for c in 0..2 {
            let (finished, walks) = (&finished, &walks);
            s.spawn(move || {
                TRACE.with(|t| t.borrow_mut().reserve(64));
                let mut n = 0;
                loop {
                    n += 1;
                    TRACE.with(|t| t.borrow_mut().clear());
                    let robust = (n + c) % 2 == 0;
                    let out = if robust {
                        chain.call_robust(&UP, &DOWN)
                    } else {
                        chain.call(&PLAIN)
                    };
                    let trace = TRACE.with(|t| t.borrow().clone());
                    let (fwd, back): (Vec<&(u32, i32, usize)>, Vec<_>) =
                        trace.iter().partition(|&&(e, _, _)| e != DOWN);
                    assert_eq!(out.called, fwd.len(), "{trace:?}");
                    for w in fwd.windows(2) {
                        assert!(w[0].1 >= w[1].1, "priority order broken: {trace:?}");
                    }
                    let mut ids: Vec<usize> = fwd.iter().map(|t| t.2).collect();
                    for permanent in 0..3 {
                        assert!(
                            ids.contains(&permanent),
                            "a permanent node was missed: {trace:?}"
                        );
                    }
                    ids.sort_unstable();
                    ids.dedup();
                    assert_eq!(ids.len(), fwd.len(), "a node called twice: {trace:?}");
                    if robust {
                        assert_eq!(out.ended, Ended::Failed(-5));
                        assert_eq!(fwd.last().unwrap().2, 2, "{trace:?}");
                        let want: Vec<usize> =
                            fwd[..fwd.len() - 1].iter().rev().map(|t| t.2).collect();
                        let got: Vec<usize> = back.iter().map(|t| t.2).collect();
                        assert_eq!(got, want, "rollback is not the reversed snapshot");
                    } else {
                        assert_eq!(out.ended, Ended::Completed);
                        assert!(back.is_empty());
                    }
                    walks.fetch_add(1, SeqCst);
                    if finished.load(SeqCst) == REGISTRARS || n >= MAX_CALLS {
                        break;
                    }
                }
            });
        }
    });
    assert_eq!(
        violations.load(SeqCst),
        0,
        "a callback ran after its unregister returned"
    );
    assert!(walks.load(SeqCst) >= 2);
    assert_eq!(chain.len(), 3);
}

/// Many callbacks remove themselves from inside concurrent calls on two
/// threads (the deferred-removal stack pushed from both) while a third
/// thread reaps as the chain's writer; bounded in rounds. Every callback runs
/// at least once and is freed exactly once; none runs afterwards.
fn bounded_stress_concurrent_deferred_removals_and_reaping<C: Chain>() {
    const NODES: usize = 48;
    const ROUNDS: usize = 30;
    let _wd = watchdog("concurrent deferred removals");
    let chain = C::leaked();
    for round in 0..ROUNDS {
        let token = Arc::new(());
        let ran: Arc<Vec<AtomicUsize>> =
            Arc::new((0..NODES).map(|_| AtomicUsize::new(0)).collect());
        let slots: Vec<Slot<C::Reg>> = (0..NODES).map(|_| slot()).collect();
        for (i, s) in slots.iter().enumerate() {
            let (me, ran, token) = (s.clone(), ran.clone(), token.clone());
            *lock(s) = Some(chain.sub(
                move |_: &u32| {
                    let _held = &token;
                    ran[i].fetch_add(1, SeqCst);
                    take_and_drop(&me);
                    Verdict::Continue
                },
                (i % 5) as i32,
            ));
        }
        let go = std::sync::Barrier::new(3);
        thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    go.wait();
                    for _ in 0..3 {
                        chain.call(&PLAIN);
                        chain.call_robust(&UP, &DOWN);
                    }
                });
            }
            s.spawn(|| {
                go.wait();
                for _ in 0..3 {
                    chain.reap();
                }
            });
        });
        for (i, s) in slots.iter().enumerate() {
            assert!(lock(s).is_none(), "round {round}: node {i} never removed");
            assert!(
                ran[i].load(SeqCst) >= 1,
                "round {round}: node {i} never ran"
            );
        }
        let runs: Vec<usize> = ran.iter().map(|r| r.load(SeqCst)).collect();
        assert_eq!(chain.call(&PLAIN).called, 0, "round {round}");
        assert_eq!(chain.len(), 0);
        chain.reap();
        assert_eq!(Arc::strong_count(&token), 1, "round {round}: a node leaked");
        let again: Vec<usize> = ran.iter().map(|r| r.load(SeqCst)).collect();
        assert_eq!(runs, again, "round {round}: a callback ran after the storm");
    }
}
