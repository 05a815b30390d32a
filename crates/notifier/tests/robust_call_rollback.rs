//! `call_robust` against an adversarial user, on both chains: failing at the
//! first and at the last callback, across the 32-on-stack boundary of the
//! rollback, a panic in the rollback walk, a rollback callback that
//! unregisters itself, rollback reaching exactly the callbacks that saw the
//! event, and rollback verdicts ignored.
#![cfg(not(loom))]

mod common;

use common::*;
use kernsync_lockdep::{capture, held_locks, might_sleep};
use kernsync_notifier::{Ended, Outcome, Verdict};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

both!(
    robust_failure_at_the_first_callback_rolls_back_nothing,
    robust_failure_at_the_last_callback_rolls_back_all_in_reverse,
    robust_rollback_across_the_32_on_stack_boundary,
    a_panic_in_the_rollback_walk_propagates_and_leaves_the_chain_usable,
    a_rollback_callback_that_unregisters_itself,
    rollback_reaches_exactly_the_callbacks_that_saw_the_event,
    the_verdicts_of_rollback_calls_are_ignored,
);

// ---------------------------------------------------------------------------
// call_robust
// ---------------------------------------------------------------------------

fn robust_failure_at_the_first_callback_rolls_back_nothing<C: Chain>() {
    let chain = C::leaked();
    let token = Arc::new(());
    let a = chain.sub(step("a", Verdict::Fail(-1), &token), 2);
    let b = chain.sub(step("b", Verdict::Continue, &token), 1);
    let out = chain.call_robust(&UP, &DOWN);
    assert_eq!(
        out,
        Outcome {
            called: 1,
            ended: Ended::Failed(-1)
        }
    );
    assert_eq!(out.error(), Some(-1));
    // The failing callback is not rolled back, and nothing before it ran.
    assert_eq!(take_log(), ["a:1"]);
    drop((a, b));
    assert_eq!(Arc::strong_count(&token), 1, "nodes freed on unregister");
}

fn robust_failure_at_the_last_callback_rolls_back_all_in_reverse<C: Chain>() {
    let chain = C::leaked();
    let token = Arc::new(());
    let regs = [
        chain.sub(step("a", Verdict::Continue, &token), 3),
        chain.sub(step("c", Verdict::Continue, &token), 1),
        chain.sub(step("d", Verdict::Fail(-16), &token), 0),
        chain.sub(step("b", Verdict::Continue, &token), 2),
    ];
    let out = chain.call_robust(&UP, &DOWN);
    assert_eq!(
        out,
        Outcome {
            called: 4,
            ended: Ended::Failed(-16)
        }
    );
    assert_eq!(
        take_log(),
        ["a:1", "b:1", "c:1", "d:1", "c:2", "b:2", "a:2"]
    );
    // Stop is not a failure: nothing rolled back.
    let stop = chain.sub(step("s", Verdict::Stop, &token), 2);
    let out = chain.call_robust(&UP, &DOWN);
    assert_eq!(out.ended, Ended::Stopped);
    assert_eq!(out.called, 3);
    assert_eq!(take_log(), ["a:1", "b:1", "s:1"]);
    drop(stop);
    drop(regs);
    assert_eq!(Arc::strong_count(&token), 1);
}

/// 31..=34 successes before the failure: the first 32 are kept on the stack
/// and the rest in a Vec; the rollback must still be the exact reverse.
fn robust_rollback_across_the_32_on_stack_boundary<C: Chain>() {
    for n in [31usize, 32, 33, 34, 65] {
        let chain = C::leaked();
        let token = Arc::new(());
        let mut regs = Vec::new();
        for i in 0..n {
            let token = token.clone();
            regs.push(chain.sub(
                move |e: &u32| {
                    let _held = &token;
                    log(format!("{i}:{e}"));
                    Verdict::Continue
                },
                1000 - i as i32,
            ));
        }
        regs.push(chain.sub(step("fail", Verdict::Fail(-5), &token), -1));
        let out = chain.call_robust(&UP, &DOWN);
        assert_eq!(out.called, n + 1, "n = {n}");
        assert_eq!(out.ended, Ended::Failed(-5));
        let mut want: Vec<String> = (0..n).map(|i| format!("{i}:1")).collect();
        want.push("fail:1".into());
        want.extend((0..n).rev().map(|i| format!("{i}:2")));
        assert_eq!(take_log(), want, "n = {n}");
        drop(regs);
        assert_eq!(Arc::strong_count(&token), 1);
    }
}

fn a_panic_in_the_rollback_walk_propagates_and_leaves_the_chain_usable<C: Chain>() {
    install_hook();
    let chain = C::leaked();
    let token = Arc::new(());
    let a = chain.sub(step("a", Verdict::Continue, &token), 30);
    let b = {
        let token = token.clone();
        chain.sub(
            move |e: &u32| {
                let _held = &token;
                log(format!("b:{e}"));
                if *e == DOWN {
                    panic::panic_any(Boom);
                }
                Verdict::Continue
            },
            20,
        )
    };
    let c = chain.sub(step("c", Verdict::Continue, &token), 10);
    let d = chain.sub(step("d", Verdict::Fail(-1), &token), 0);

    let r = panic::catch_unwind(AssertUnwindSafe(|| chain.call_robust(&UP, &DOWN)));
    assert!(r.expect_err("the rollback panicked").is::<Boom>());
    // The panic ended the rollback: `a` was not rolled back.
    assert_eq!(take_log(), ["a:1", "b:1", "c:1", "d:1", "c:2", "b:2"]);

    // The read side / section was released on the way.
    assert!(held_locks().is_empty(), "{:?}", held_locks());
    // ... and the atomic section ended: might_sleep here is not reported.
    let ((), reports) = capture(might_sleep);
    assert!(reports.is_empty(), "{reports:?}");
    // An unregistration now is not deferred: it frees the node at once (a
    // deferred one would keep it until the next writer).
    let before = Arc::strong_count(&token);
    drop(c);
    assert_eq!(Arc::strong_count(&token), before - 1, "freed at once");
    // A register now is not refused as "from inside a call".
    let e = chain.sub(step("e", Verdict::Continue, &token), -10);
    assert_eq!(chain.len(), 4);
    let out = chain.call(&PLAIN);
    assert_eq!(out.called, 4);
    assert_eq!(take_log(), ["a:0", "b:0", "d:0", "e:0"]);
    drop((a, b, d, e));
    assert_eq!(Arc::strong_count(&token), 1);
}

fn a_rollback_callback_that_unregisters_itself<C: Chain>() {
    let chain = C::leaked();
    let token = Arc::new(());
    let b_token = Arc::new(());
    let me: Slot<C::Reg> = slot();
    let a = chain.sub(step("a", Verdict::Continue, &token), 30);
    let b = {
        let (me, b_token) = (me.clone(), b_token.clone());
        chain.sub(
            move |e: &u32| {
                let _held = &b_token;
                log(format!("b:{e}"));
                if *e == DOWN {
                    assert!(take_and_drop(&me), "b rolled back twice");
                }
                Verdict::Continue
            },
            20,
        )
    };
    *lock(&me) = Some(b);
    let c = chain.sub(step("c", Verdict::Fail(-7), &token), 10);

    let out = chain.call_robust(&UP, &DOWN);
    assert_eq!(out.ended, Ended::Failed(-7));
    assert_eq!(out.called, 3);
    // The rollback went on past the self-unregistration.
    assert_eq!(take_log(), ["a:1", "b:1", "c:1", "b:2", "a:2"]);
    assert_eq!(chain.len(), 2, "len does not count the deferred removal");
    // Not called again, forward or in a rollback.
    let out = chain.call_robust(&UP, &DOWN);
    assert_eq!(out.called, 2);
    assert_eq!(take_log(), ["a:1", "c:1", "a:2"]);
    // The next writer outside a call frees it.
    chain.reap();
    assert_eq!(
        Arc::strong_count(&b_token),
        1,
        "deferred node freed by the next writer"
    );
    drop((a, c));
    assert_eq!(Arc::strong_count(&token), 1);
}

/// The guide: "every callback that had continued before it is called again
/// with `rollback`, in reverse order, from the same snapshot of the chain
/// (... the rollback reaches exactly the callbacks that saw the event)" —
/// also when callbacks are unregistered (deferred) during the walk or during
/// the rollback itself. Checked against the log: the rollback is the reverse
/// of the callbacks that saw `UP`, the failing one excepted.
fn rollback_reaches_exactly_the_callbacks_that_saw_the_event<C: Chain>() {
    fn check_snapshot(log: &[String]) {
        let up: Vec<&str> = log.iter().filter_map(|s| s.strip_suffix(":1")).collect();
        let down: Vec<&str> = log.iter().filter_map(|s| s.strip_suffix(":2")).collect();
        let mut want: Vec<&str> = up[..up.len() - 1].to_vec();
        want.reverse();
        assert_eq!(down, want, "{log:?}");
    }

    /// `victim`'s slot is emptied by `killer` on event `when`.
    fn killer<C: Chain>(
        name: &'static str,
        when: u32,
        victim: &Slot<C::Reg>,
        token: &Arc<()>,
    ) -> impl Fn(&u32) -> Verdict + Send + Sync + 'static {
        let (victim, token) = (victim.clone(), token.clone());
        move |e: &u32| {
            let _held = &token;
            log(format!("{name}:{e}"));
            if *e == when {
                take_and_drop(&victim);
            }
            Verdict::Continue
        }
    }

    let token = Arc::new(());
    // (1) `a` unregisters itself during the forward walk; `b` fails.
    {
        let chain = C::leaked();
        let a_slot: Slot<C::Reg> = slot();
        *lock(&a_slot) = Some(chain.sub(killer::<C>("a", UP, &a_slot, &token), 30));
        let b = chain.sub(step("b", Verdict::Fail(-1), &token), 20);
        assert_eq!(chain.call_robust(&UP, &DOWN).called, 2);
        let l = take_log();
        assert_eq!(l, ["a:1", "b:1", "a:2"]);
        check_snapshot(&l);
        assert_eq!(chain.call_robust(&UP, &DOWN).called, 1);
        assert_eq!(take_log(), ["b:1"]);
        drop(b);
    }
    // (2) `b` unregisters `a` (already called); `c` fails: `a` saw the event.
    {
        let chain = C::leaked();
        let a_slot: Slot<C::Reg> = slot();
        *lock(&a_slot) = Some(chain.sub(step("a", Verdict::Continue, &token), 30));
        let b = chain.sub(killer::<C>("b", UP, &a_slot, &token), 20);
        let c = chain.sub(step("c", Verdict::Fail(-1), &token), 10);
        assert_eq!(chain.call_robust(&UP, &DOWN).called, 3);
        let l = take_log();
        assert_eq!(l, ["a:1", "b:1", "c:1", "b:2", "a:2"]);
        check_snapshot(&l);
        assert_eq!(chain.call_robust(&UP, &DOWN).called, 2);
        assert_eq!(take_log(), ["b:1", "c:1", "b:2"]);
        drop((b, c));
    }
    // (3) During the rollback, `b` unregisters `a`, not rolled back yet.
    {
        let chain = C::leaked();
        let a_slot: Slot<C::Reg> = slot();
        *lock(&a_slot) = Some(chain.sub(step("a", Verdict::Continue, &token), 30));
        let b = chain.sub(killer::<C>("b", DOWN, &a_slot, &token), 20);
        let c = chain.sub(step("c", Verdict::Fail(-1), &token), 10);
        assert_eq!(chain.call_robust(&UP, &DOWN).called, 3);
        let l = take_log();
        check_snapshot(&l);
        assert_eq!(l, ["a:1", "b:1", "c:1", "b:2", "a:2"]);
        assert!(lock(&a_slot).is_none());
        assert_eq!(chain.call_robust(&UP, &DOWN).called, 2);
        assert_eq!(take_log(), ["b:1", "c:1", "b:2"]);
        drop((b, c));
    }
    // (4) `a` unregisters `b`, not reached yet; `c` fails. `b` is rolled
    // back only if this walk called it (the blocking chain promises it is
    // skipped).
    {
        let chain = C::leaked();
        let b_slot: Slot<C::Reg> = slot();
        let a = chain.sub(killer::<C>("a", UP, &b_slot, &token), 30);
        *lock(&b_slot) = Some(chain.sub(step("b", Verdict::Continue, &token), 20));
        let c = chain.sub(step("c", Verdict::Fail(-1), &token), 10);
        let out = chain.call_robust(&UP, &DOWN);
        let l = take_log();
        check_snapshot(&l);
        assert_eq!(out.called, l.iter().filter(|s| s.ends_with(":1")).count());
        if C::SKIPS_IN_WALK {
            assert_eq!(l, ["a:1", "c:1", "a:2"]);
        }
        assert_eq!(chain.call_robust(&UP, &DOWN).called, 2);
        assert_eq!(take_log(), ["a:1", "c:1", "a:2"]);
        drop((a, c));
    }
    // Every node of the four leaked chains: the outside unregistrations
    // above reaped the deferred ones.
    assert_eq!(Arc::strong_count(&token), 1);
}

/// "The verdicts of rollback calls are ignored": a rollback callback that
/// answers `Fail` or `Stop` does not end the rollback.
fn the_verdicts_of_rollback_calls_are_ignored<C: Chain>() {
    let chain = C::leaked();
    let token = Arc::new(());
    let answering = |name: &'static str, on_down: Verdict| {
        let token = token.clone();
        move |e: &u32| {
            let _held = &token;
            log(format!("{name}:{e}"));
            if *e == DOWN {
                on_down
            } else {
                Verdict::Continue
            }
        }
    };
    let regs = [
        chain.sub(answering("a", Verdict::Continue), 40),
        chain.sub(answering("b", Verdict::Fail(-9)), 30),
        chain.sub(answering("c", Verdict::Stop), 20),
        chain.sub(step("d", Verdict::Fail(-1), &token), 10),
    ];
    let out = chain.call_robust(&UP, &DOWN);
    assert_eq!(
        out,
        Outcome {
            called: 4,
            ended: Ended::Failed(-1)
        }
    );
    assert_eq!(
        take_log(),
        ["a:1", "b:1", "c:1", "d:1", "c:2", "b:2", "a:2"]
    );
    drop(regs);
    assert_eq!(Arc::strong_count(&token), 1);
}
