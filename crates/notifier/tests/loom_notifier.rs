//! Loom models of `AtomicNotifierChain`'s handshakes: calls walk the list
//! inside an `Srcu` section while writers register (one Release store of
//! the link, under the writers' mutex) and unregister (unlink,
//! `synchronize`, free; deferred when made from inside a call):
//!
//! - call vs unregister: once `unregister` returns no call runs the
//!   callback any more, and the node (with the callback's captured state)
//!   is not freed while a call may run it; with two callers in flight, a
//!   call standing on the unlinked node still reaches the rest of the chain;
//! - call vs register: a callback registered during a call is either
//!   called whole (its node, and what its callback captured, seen fully
//!   initialised, the rest of the chain still reached) or not at all, at
//!   the head of the list and after another node;
//! - unregister from inside a callback (deferred: marked dead and queued)
//!   racing an outside unregister of another registration: both end, the
//!   outside one reaps the deferred node or leaves it to the chain's drop,
//!   and every node is freed exactly once.
//!
//! What a callback captures is a `Probe`: a `loom::cell::UnsafeCell` the
//! callback reads (and asserts is still live), which the probe's drop (the
//! node freed) overwrites, and which the test overwrites again as its
//! "free" once `unregister` has returned. Loom reports any of those writes
//! not ordered after every read.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p
//! kernsync-notifier --release --test loom_notifier`. Release, as CI runs
//! it: in a debug build the lock-order validator is compiled in, and it is
//! not meant to run inside a model.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::sync::{Arc as StdArc, Mutex as StdMutex};

use kernsync_notifier::{AtomicNotifierChain, AtomicRegistration, Verdict};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// A probe's cell while its callback may run.
const LIVE: usize = 1;
/// Written by the probe's drop: its node was freed.
const DROPPED: usize = 2;
/// Written by the test once `unregister` returned: the state is freed.
const FREED: usize = 3;

/// What a callback's captured state holds, shared with the test.
struct State {
    cell: UnsafeCell<usize>,
    /// Times the callback ran (Relaxed: read after the joins).
    calls: AtomicUsize,
    /// Probes dropped, shared by every probe of a model.
    drops: Arc<AtomicUsize>,
}

// SAFETY: `cell` is read by the callback and written by the probe's drop
// and the test; whether those accesses are ordered is what the models check
// (loom reports any that are not).
unsafe impl Sync for State {}

impl State {
    fn new(drops: &Arc<AtomicUsize>) -> Arc<State> {
        Arc::new(State {
            cell: UnsafeCell::new(LIVE),
            calls: AtomicUsize::new(0),
            drops: drops.clone(),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// The test's "free", once no call may run the callback any more.
    fn free(&self) {
        // SAFETY: a loom cell: loom reports the write if a callback's read
        // is not ordered before it (what the models check).
        self.cell.with_mut(|p| unsafe { *p = FREED });
    }
}

/// A callback's captured state: the callback reads its cell; its drop (the
/// node freed) writes it.
struct Probe(Arc<State>);

impl Probe {
    /// What the callback does: its state must still be live; counted.
    fn touch(&self) {
        self.check();
        self.0.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Its state must still be live.
    fn check(&self) {
        // SAFETY: a loom cell, written only by `Probe::drop` and
        // `State::free`, which the chain must order after this read.
        let v = self.0.cell.with(|p| unsafe { *p });
        assert_eq!(v, LIVE, "a call ran a callback whose state was freed");
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        // SAFETY: as in `touch`: loom checks the write against every read.
        self.0.cell.with_mut(|p| unsafe { *p = DROPPED });
        self.0.drops.fetch_add(1, Ordering::Relaxed);
    }
}

/// A callback that touches `state` and continues.
fn probe(state: &Arc<State>) -> impl Fn(&u32) -> Verdict + Send + Sync + 'static {
    let probe = Probe(state.clone());
    move |_: &u32| {
        probe.touch();
        Verdict::Continue
    }
}

/// A caller calls (twice: its first call claims its slot, the second takes
/// the fast path) while the callback is unregistered; the test frees the
/// callback's state as soon as `unregister` returns.
#[test]
fn unregister_returns_only_when_no_call_can_run_the_callback() {
    loom::model(|| {
        let chain = Arc::new(AtomicNotifierChain::<u32>::new());
        let drops = Arc::new(AtomicUsize::new(0));
        let state = State::new(&drops);
        let reg = chain.subscribe(probe(&state), 0);
        let caller = {
            let chain = chain.clone();
            thread::spawn(move || {
                let first = chain.call(&1).called;
                let second = chain.call(&2).called;
                assert!(first <= 1 && second <= first);
            })
        };
        reg.unregister();
        // The node was freed (its probe dropped) before `unregister`
        // returned.
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        state.free();
        caller.join().unwrap();
        assert!(state.calls() <= 2);
    });
}

/// Two callers, one call each, and a second callback (which stays) after
/// the one unregistered: a call standing on the unlinked node still reaches
/// the rest of the chain through the node's own `next`.
#[test]
fn unregister_with_two_callers_in_flight() {
    loom::model(|| {
        let chain = Arc::new(AtomicNotifierChain::<u32>::new());
        let drops = Arc::new(AtomicUsize::new(0));
        let gone = State::new(&drops);
        let stays = State::new(&drops);
        let reg = chain.subscribe(probe(&gone), 1);
        let _stays = chain.subscribe(probe(&stays), 0);
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let chain = chain.clone();
                thread::spawn(move || chain.call(&1).called)
            })
            .collect();
        reg.unregister();
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        gone.free();
        let called: usize = callers.into_iter().map(|c| c.join().unwrap()).sum();
        assert_eq!(stays.calls(), 2, "a call lost the rest of the chain");
        assert_eq!(called, 2 + gone.calls());
    });
}

/// A callback registered while a call walks the chain, at `priority`,
/// next to one registered before (priority 0). Its state is written just
/// before `register`: a call that runs it must see that write, and must
/// still reach the other callback through the new node's `next`.
fn register_during_a_call(priority: i32) {
    loom::model(move || {
        let chain = Arc::new(AtomicNotifierChain::<u32>::new());
        let drops = Arc::new(AtomicUsize::new(0));
        let old = State::new(&drops);
        let _old = chain.subscribe(probe(&old), 0);
        let caller = {
            let chain = chain.clone();
            thread::spawn(move || chain.call(&1).called)
        };
        let new = State::new(&drops);
        let prepared = chain.prepare(probe(&new), priority);
        // SAFETY: a loom cell, not yet reachable by any call: the write
        // that `register`'s Release store must publish with the node.
        new.cell.with_mut(|p| unsafe { *p = LIVE });
        let reg = chain.register(prepared);
        let called = caller.join().unwrap();
        assert_eq!(old.calls(), 1, "the walk lost the rest of the chain");
        assert!(new.calls() <= 1);
        assert_eq!(called, 1 + new.calls());
        drop(reg);
    });
}

#[test]
fn a_callback_registered_at_the_head_during_a_call_is_called_whole_or_not_at_all() {
    register_during_a_call(10);
}

#[test]
fn a_callback_registered_after_another_during_a_call_is_called_whole_or_not_at_all() {
    register_during_a_call(-10);
}

/// Executions in which the outside unregister reaped the deferred node
/// (freed before the chain's drop), and in which it left it to the drop.
static REAPED: StdAtomicUsize = StdAtomicUsize::new(0);
static LEFT: StdAtomicUsize = StdAtomicUsize::new(0);

/// A call runs `x`, whose callback unregisters `x` itself (deferred: it
/// cannot wait for its own call), while another thread unregisters `y` from
/// outside. Both end; the outside unregister unlinks and frees `x` too if it
/// finds it queued, else the chain's drop frees it. Every node is freed once.
#[test]
fn unregister_inside_a_call_races_an_outside_unregister() {
    type Slot = StdArc<StdMutex<Option<AtomicRegistration<'static, u32>>>>;
    loom::model(|| {
        // A `'static` chain, as a registration kept in its own callback
        // needs; freed at the end of the model.
        let raw = Box::into_raw(Box::new(AtomicNotifierChain::<u32>::new()));
        // SAFETY: from `Box::into_raw`; not freed until every thread using
        // it is joined and every registration on it dropped (below).
        let chain: &'static AtomicNotifierChain<u32> = unsafe { &*raw };
        let drops = Arc::new(AtomicUsize::new(0));

        let x_state = State::new(&drops);
        let x_slot: Slot = Default::default();
        let x = chain.subscribe(
            {
                let probe = Probe(x_state.clone());
                let x_slot = x_slot.clone();
                move |_: &u32| {
                    probe.touch();
                    let me = x_slot.lock().unwrap().take();
                    // Unregisters from inside the call: deferred.
                    drop(me);
                    // Still ours until this call ends, even if the outside
                    // unregister has already found the node queued.
                    probe.check();
                    Verdict::Continue
                }
            },
            0,
        );
        *x_slot.lock().unwrap() = Some(x);
        let y_state = State::new(&drops);
        let y = chain.subscribe(probe(&y_state), 0);

        let caller = thread::spawn(move || chain.call(&1).called);
        let remover = thread::spawn(move || y.unregister());
        let called = caller.join().unwrap();
        remover.join().unwrap();

        // `x` ran once and unregistered itself; `y` may have run.
        assert_eq!(x_state.calls(), 1);
        assert!(x_slot.lock().unwrap().is_none());
        assert_eq!(called, 1 + y_state.calls());
        y_state.free();
        match drops.load(Ordering::Relaxed) {
            1 => LEFT.fetch_add(1, StdOrdering::Relaxed),
            2 => REAPED.fetch_add(1, StdOrdering::Relaxed),
            n => panic!("{n} nodes freed before the chain's drop"),
        };
        // SAFETY: both threads are joined and both registrations are gone;
        // `chain` is not used after this.
        drop(unsafe { Box::from_raw(raw) });
        assert_eq!(drops.load(Ordering::Relaxed), 2, "a node was not freed");
        x_state.free();
    });
    assert!(
        REAPED.load(StdOrdering::Relaxed) > 0,
        "never reaped by the writer"
    );
    assert!(
        LEFT.load(StdOrdering::Relaxed) > 0,
        "never left to the drop"
    );
}
