//! An adversarial user against the documented semantics of both chains:
//! `call_robust` failing first and last, across the 32-successes boundary,
//! with rollback verdicts ignored, a panic in the rollback walk, and callbacks
//! unregistered during the walk or the rollback; unregistering a callback not
//! yet called and one already called from inside a walk; a callback that
//! drops its own registration (never called again, on any thread) while
//! another thread is still inside it; a call from a thread-local destructor;
//! nested calls (blocking through another chain, atomic of itself); atomic
//! calls and registers that do not wait behind a waiting unregister; equal
//! and extreme priorities; unsized events; `len` with deferred removals;
//! leaks (every node freed when the docs say: at once, at the next writer
//! outside a call, at the chain's drop); freeing a callback that owns another
//! registration of the same chain; `Prepared` moved, dropped and registered
//! on another chain; the refusal of `register` inside a call (message and
//! location); the validator's reports; and two bounded stresses (registrars
//! against callers: order, counts, rollback snapshots, no call after
//! unregister; concurrent deferred removals against a reaping writer).
#![cfg(not(loom))]

use kernsync_lockdep::{capture, held_locks, is_enabled, might_sleep, ReportKind};
use kernsync_notifier::{
    AtomicNotifierChain, AtomicRegistration, Ended, NotifierChain, Outcome, Prepared, Registration,
    Verdict,
};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};
use std::thread;
use std::time::Duration;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// An event called forward.
const PLAIN: u32 = 0;
/// The event of a robust call.
const UP: u32 = 1;
/// Its rollback.
const DOWN: u32 = 2;

type Slot<T> = Arc<Mutex<Option<T>>>;

fn slot<T>() -> Slot<T> {
    Arc::new(Mutex::new(None))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Takes what `s` holds and drops it after the slot's guard is gone (so an
/// unregistration that waits does not wait under the slot's mutex).
fn take_and_drop<T>(s: &Mutex<Option<T>>) -> bool {
    let taken = lock(s).take();
    let had = taken.is_some();
    drop(taken);
    had
}

thread_local! {
    /// What the callbacks run on this thread logged, `name:event`.
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// The stress test's trace: (event, priority, id) of each callback run.
    static TRACE: RefCell<Vec<(u32, i32, usize)>> = const { RefCell::new(Vec::new()) };
    /// Where this thread last panicked.
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Whether an expected panic is being provoked (keeps the hook quiet).
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

fn log(entry: String) {
    LOG.with(|l| l.borrow_mut().push(entry));
}

fn take_log() -> Vec<String> {
    LOG.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// The payload of the panics this file throws on purpose.
struct Boom;

/// A panic hook that records where each thread panicked and stays quiet for
/// `Boom` and for panics provoked under `expect_panic`.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()));
            let _ = PANIC_AT.try_with(|p| *p.borrow_mut() = at);
            let quiet = QUIET.try_with(Cell::get).unwrap_or(false);
            if !quiet && !info.payload().is::<Boom>() {
                previous(info);
            }
        }));
    });
}

fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Runs `f`, which must panic; returns the panic's message and location.
fn expect_panic<R>(f: impl FnOnce() -> R) -> (String, String) {
    install_hook();
    QUIET.with(|q| q.set(true));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    let payload = match r {
        Ok(_) => panic!("expected a panic"),
        Err(p) => p,
    };
    let at = PANIC_AT.with(|p| p.borrow_mut().take()).unwrap_or_default();
    (message(&*payload), at)
}

/// Aborts the process with a message if not dropped within 20 s: a test
/// that hangs fails loudly instead of hanging CI.
struct Watchdog(#[allow(dead_code)] mpsc::Sender<()>);

fn watchdog(what: &'static str) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(20)) {
            eprintln!("adversarial: `{what}` hung for 20 s; aborting");
            std::process::abort();
        }
    });
    Watchdog(tx)
}

/// A callback that logs `name:event`, answers `on_up` to `UP` (and
/// `Continue` to anything else), and holds a clone of `token` (so the
/// token's strong count tells whether the node is freed).
fn step(
    name: &'static str,
    on_up: Verdict,
    token: &Arc<()>,
) -> impl Fn(&u32) -> Verdict + Send + Sync + 'static {
    let token = token.clone();
    move |e: &u32| {
        let _held = &token;
        log(format!("{name}:{e}"));
        if *e == UP {
            on_up
        } else {
            Verdict::Continue
        }
    }
}

/// Both kinds of chain, for tests written once.
trait Chain: Sync + 'static {
    type Reg: Send + Sync + 'static;
    /// The blocking chain's docs promise more for a callback unregistered
    /// from inside a walk that has not reached it yet: "marked dead
    /// (skipped by every walk from then on)". The atomic chain's promise
    /// only "not called again once the calls now running end".
    const SKIPS_IN_WALK: bool;
    /// Whether `len` may be called from inside a callback (an `Srcu`
    /// section nests; a second read of the blocking chain's `PercpuRwSem`
    /// is recursive locking).
    const LEN_INSIDE_CALL: bool;
    fn leaked() -> &'static Self;
    fn reg(&'static self, p: Prepared<u32>) -> Self::Reg;
    fn sub(
        &'static self,
        f: impl Fn(&u32) -> Verdict + Send + Sync + 'static,
        priority: i32,
    ) -> Self::Reg {
        self.reg(Prepared::new(f, priority))
    }
    fn call(&self, e: &u32) -> Outcome;
    fn call_robust(&self, e: &u32, back: &u32) -> Outcome;
    fn len(&self) -> usize;
    fn is_empty_(&self) -> bool;
    /// A registration and an unregistration made outside any call: on both
    /// kinds the documented writer that unlinks and frees deferred removals.
    fn reap(&'static self) {
        drop(self.sub(|_| Verdict::Continue, i32::MIN));
    }
}

impl Chain for NotifierChain<u32> {
    type Reg = Registration<'static, u32>;
    const SKIPS_IN_WALK: bool = true;
    const LEN_INSIDE_CALL: bool = false;
    fn leaked() -> &'static Self {
        Box::leak(Box::new(NotifierChain::new()))
    }
    fn reg(&'static self, p: Prepared<u32>) -> Self::Reg {
        self.register(p)
    }
    fn call(&self, e: &u32) -> Outcome {
        NotifierChain::call(self, e)
    }
    fn call_robust(&self, e: &u32, back: &u32) -> Outcome {
        NotifierChain::call_robust(self, e, back)
    }
    fn len(&self) -> usize {
        NotifierChain::len(self)
    }
    fn is_empty_(&self) -> bool {
        NotifierChain::is_empty(self)
    }
}

impl Chain for AtomicNotifierChain<u32> {
    type Reg = AtomicRegistration<'static, u32>;
    const SKIPS_IN_WALK: bool = false;
    const LEN_INSIDE_CALL: bool = true;
    fn leaked() -> &'static Self {
        Box::leak(Box::new(AtomicNotifierChain::new()))
    }
    fn reg(&'static self, p: Prepared<u32>) -> Self::Reg {
        self.register(p)
    }
    fn call(&self, e: &u32) -> Outcome {
        AtomicNotifierChain::call(self, e)
    }
    fn call_robust(&self, e: &u32, back: &u32) -> Outcome {
        AtomicNotifierChain::call_robust(self, e, back)
    }
    fn len(&self) -> usize {
        AtomicNotifierChain::len(self)
    }
    fn is_empty_(&self) -> bool {
        AtomicNotifierChain::is_empty(self)
    }
}

/// Two tests, `name::blocking` and `name::atomic`, for a generic `fn name<C: Chain>()`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn blocking() {
                super::$name::<kernsync_notifier::NotifierChain<u32>>();
            }
            #[test]
            fn atomic() {
                super::$name::<kernsync_notifier::AtomicNotifierChain<u32>>();
            }
        }
    )*};
}

both!(
    robust_failure_at_the_first_callback_rolls_back_nothing,
    robust_failure_at_the_last_callback_rolls_back_all_in_reverse,
    robust_rollback_across_the_32_on_stack_boundary,
    a_panic_in_the_rollback_walk_propagates_and_leaves_the_chain_usable,
    a_rollback_callback_that_unregisters_itself,
    rollback_reaches_exactly_the_callbacks_that_saw_the_event,
    unregistering_a_callback_not_yet_called_in_this_walk,
    unregistering_a_callback_already_called_in_this_walk,
    a_callback_that_drops_its_own_registration_is_never_called_again_on_any_thread,
    deferred_removal_while_another_thread_is_inside_the_same_callback,
    equal_priorities_keep_registration_order_across_unregister_and_reregister,
    len_does_not_count_deferred_removals,
    freeing_a_callback_that_owns_another_registration_of_the_same_chain,
    bounded_stress_order_counts_snapshots_and_no_call_after_unregister,
    bounded_stress_concurrent_deferred_removals_and_reaping,
    the_verdicts_of_rollback_calls_are_ignored,
    a_self_unregistering_call_from_a_thread_local_destructor,
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

// ---------------------------------------------------------------------------
// Order, len, leaks
// ---------------------------------------------------------------------------

fn equal_priorities_keep_registration_order_across_unregister_and_reregister<C: Chain>() {
    let chain = C::leaked();
    let token = Arc::new(());
    let c_slot: Slot<C::Reg> = slot();
    let h = {
        let (c_slot, token) = (c_slot.clone(), token.clone());
        chain.sub(
            move |e: &u32| {
                let _held = &token;
                log(format!("h:{e}"));
                if *e == 9 {
                    take_and_drop(&c_slot);
                }
                Verdict::Continue
            },
            5,
        )
    };
    let a = chain.sub(step("a", Verdict::Continue, &token), 0);
    let b = chain.sub(step("b", Verdict::Continue, &token), 0);
    *lock(&c_slot) = Some(chain.sub(step("c", Verdict::Continue, &token), 0));
    let l = chain.sub(step("l", Verdict::Continue, &token), -5);
    chain.call(&PLAIN);
    assert_eq!(take_log(), ["h:0", "a:0", "b:0", "c:0", "l:0"]);

    drop(b);
    let d = chain.sub(step("d", Verdict::Continue, &token), 0);
    let b2 = chain.sub(step("b", Verdict::Continue, &token), 0);
    chain.call(&PLAIN);
    assert_eq!(take_log(), ["h:0", "a:0", "c:0", "d:0", "b:0", "l:0"]);

    // `c` removed from inside a call (deferred, maybe still linked), then a
    // new equal-priority registration: it goes last among the zeros.
    chain.call(&9);
    take_log();
    let e = chain.sub(step("e", Verdict::Continue, &token), 0);
    let first = chain.sub(step("first", Verdict::Continue, &token), 0);
    chain.call(&PLAIN);
    assert_eq!(
        take_log(),
        ["h:0", "a:0", "d:0", "b:0", "e:0", "first:0", "l:0"]
    );
    drop((h, a, d, b2, l, e, first));
    chain.reap();
    assert_eq!(Arc::strong_count(&token), 1);
}

fn len_does_not_count_deferred_removals<C: Chain>() {
    let chain = C::leaked();
    let token = Arc::new(());
    let slots: [Slot<C::Reg>; 3] = [slot(), slot(), slot()];
    let len_inside = Arc::new(Mutex::new(Vec::new()));
    for (i, s) in slots.iter().enumerate() {
        let (all, token, len_inside) = (slots.clone(), token.clone(), len_inside.clone());
        *lock(s) = Some(chain.sub(
            move |e: &u32| {
                let _held = &token;
                // On event 5 the first callback removes itself and the last.
                if *e == 5 && i == 0 {
                    take_and_drop(&all[0]);
                    if C::LEN_INSIDE_CALL {
                        lock(&len_inside).push(chain.len());
                    }
                    take_and_drop(&all[2]);
                    if C::LEN_INSIDE_CALL {
                        lock(&len_inside).push(chain.len());
                    }
                }
                Verdict::Continue
            },
            10 - i as i32,
        ));
    }
    assert_eq!(chain.len(), 3);
    chain.call(&5);
    if C::LEN_INSIDE_CALL {
        assert_eq!(*lock(&len_inside), [2, 1], "exact inside the call too");
    }
    assert_eq!(chain.len(), 1, "deferred removals are not counted");
    assert!(!chain.is_empty_());
    assert_eq!(chain.call(&PLAIN).called, 1);
    chain.reap();
    assert_eq!(chain.len(), 1);
    take_and_drop(&slots[1]);
    assert_eq!(chain.len(), 0);
    assert!(chain.is_empty_());
    assert_eq!(Arc::strong_count(&token), 1);
}

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

#[test]
fn unsized_events_and_extreme_priorities() {
    let chain = NotifierChain::<str>::new();
    let atomic = AtomicNotifierChain::<[u8]>::new();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let rec = |name: &'static str| {
        let seen = seen.clone();
        move |e: &str| {
            lock(&seen).push(format!("{name}:{e}"));
            if e == "up" && name == "min" {
                Verdict::Fail(-2)
            } else {
                Verdict::Continue
            }
        }
    };
    let _r = [
        chain.subscribe(rec("zero"), 0),
        chain.subscribe(rec("min"), i32::MIN),
        chain.subscribe(rec("max"), i32::MAX),
        chain.subscribe(rec("max2"), i32::MAX),
    ];
    let out = chain.call_robust("up", "down");
    assert_eq!(out.error(), Some(-2));
    assert_eq!(
        *lock(&seen),
        [
            "max:up",
            "max2:up",
            "zero:up",
            "min:up",
            "zero:down",
            "max2:down",
            "max:down"
        ]
    );
    let _a = atomic.subscribe(
        |e: &[u8]| {
            if e.is_empty() {
                Verdict::Stop
            } else {
                Verdict::Continue
            }
        },
        0,
    );
    let _b = atomic.subscribe(|_: &[u8]| Verdict::Fail(-1), i32::MIN);
    assert_eq!(atomic.call(&[][..]).ended, Ended::Stopped);
    assert_eq!(atomic.call_robust(&[1u8, 2][..], &[][..]).error(), Some(-1));
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
            at.contains("adversarial.rs"),
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
