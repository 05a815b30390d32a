//! `register` allocates nothing (counted by a global allocator, on the
//! registering thread), on both kinds of chain; `prepare` is where the
//! allocation happens. From a thread's first use: `prepare` readies the
//! thread (the parking lot's data, the thread's reader slot of the chain),
//! so its `register` and its first `call` allocate nothing with checks
//! compiled out (CI runs this file in its release step). With checks on, the
//! validator's own bookkeeping (a class or dependency seen for the first
//! time) may allocate there; the other tests measure after a warm-up
//! registration, which lets the validator record the dependency.
#![cfg(not(loom))]

use kernsync_notifier::{AtomicNotifierChain, NotifierChain, Prepared, Verdict};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct CountThisThread;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is a const-initialised
// thread-local without a destructor, so touching it never allocates.
unsafe impl GlobalAlloc for CountThisThread {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
        // SAFETY: the caller's layout, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountThisThread = CountThisThread;

fn allocations_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCS.with(Cell::get);
    let r = f();
    (r, ALLOCS.with(Cell::get) - before)
}

fn callback(_: &u32) -> Verdict {
    Verdict::Continue
}

/// Allocations of `prepare`, `register` and the first `call` on a fresh
/// thread, which has never touched a chain or parked.
macro_rules! first_use_on_a_fresh_thread {
    ($chain:expr) => {{
        let chain = $chain;
        std::thread::spawn(move || {
            let (p, prepared) = allocations_during(|| chain.prepare(callback, 0));
            let (reg, registered) = allocations_during(|| chain.register(p));
            let (outcome, first_call) = allocations_during(|| chain.call(&0));
            assert_eq!(outcome.called, 1);
            drop(reg);
            [prepared, registered, first_call]
        })
        .join()
        .unwrap()
    }};
}

/// With checks compiled out: nothing at all. With checks on, the validator
/// may record a class or dependency it sees the first time: not asserted.
fn expect_none(what: &str, n: usize) {
    if !kernsync_lockdep::is_enabled() {
        assert_eq!(n, 0, "{what} allocated on a fresh thread");
    }
}

#[test]
fn a_fresh_threads_first_register_and_call_allocate_nothing_on_a_blocking_chain() {
    let chain: &'static NotifierChain<u32> = Box::leak(Box::new(NotifierChain::new()));
    let [prepared, registered, first_call] = first_use_on_a_fresh_thread!(chain);
    assert!(prepared >= 1, "prepare allocates the node");
    expect_none("register", registered);
    expect_none("the first call", first_call);
}

#[test]
fn a_fresh_threads_first_register_and_call_allocate_nothing_on_an_atomic_chain() {
    let chain: &'static AtomicNotifierChain<u32> = Box::leak(Box::new(AtomicNotifierChain::new()));
    let [prepared, registered, first_call] = first_use_on_a_fresh_thread!(chain);
    assert!(prepared >= 1, "prepare allocates the node");
    expect_none("register", registered);
    expect_none("the first call", first_call);
}

#[test]
fn registering_on_a_blocking_chain_allocates_nothing() {
    let chain = NotifierChain::new();
    drop(chain.register(Prepared::new(callback, 0)));
    let _others: Vec<_> = (0..3).map(|i| chain.subscribe(callback, i)).collect();
    let (p, n) = allocations_during(|| chain.prepare(callback, 1));
    assert!(n >= 1, "prepare allocates the node");
    let (reg, n) = allocations_during(|| chain.register(p));
    assert_eq!(n, 0, "register allocated");
    assert_eq!(chain.call(&0).called, 4);
    drop(reg);
}

#[test]
fn registering_on_an_atomic_chain_allocates_nothing() {
    let chain = AtomicNotifierChain::new();
    drop(chain.register(Prepared::new(callback, 0)));
    let _others: Vec<_> = (0..3).map(|i| chain.subscribe(callback, i)).collect();
    let p = chain.prepare(callback, 1);
    let (reg, n) = allocations_during(|| chain.register(p));
    assert_eq!(n, 0, "register allocated");
    assert_eq!(chain.call(&0).called, 4);
    drop(reg);
}

#[test]
fn calling_allocates_nothing_after_the_first_call() {
    let blocking = NotifierChain::new();
    let atomic = AtomicNotifierChain::new();
    let _a = blocking.subscribe(callback, 0);
    let _b = atomic.subscribe(callback, 0);
    blocking.call(&0);
    atomic.call(&0);
    let ((), n) = allocations_during(|| {
        for i in 0..100 {
            blocking.call(&i);
            atomic.call(&i);
        }
    });
    assert_eq!(n, 0, "a call allocated");
}
