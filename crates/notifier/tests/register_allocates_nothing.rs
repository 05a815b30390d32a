//! `register` allocates nothing (counted by a global allocator, on the
//! registering thread), on both kinds of chain; `prepare` is where the
//! allocation happens. Measured after one warm-up registration, which lets
//! the validator record the dependency and parking_lot_core make its thread
//! data (neither is the chain's linking).
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
