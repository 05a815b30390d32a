//! The cached path allocates nothing: once a chain has been validated,
//! taking it again (acquire, nested acquire, release, in every mode) makes
//! no allocation at all. Counted with this binary's own global allocator, on
//! this thread only, so other tests' threads cannot disturb the count.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use kernsync_lockdep::{capture, LockClass, LockMap, Mode};

/// Counts the allocations of the threads that ask for it.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every method forwards to `System` unchanged; the bookkeeping uses
// const thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: the caller's layout meets `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    COUNT.with(Cell::get)
}

fn chain(a: &LockMap, b: &LockMap, c: &LockMap) {
    let ha = a.acquire(Mode::Write);
    let hb = b.acquire(Mode::Read);
    let hc = c.acquire(Mode::RecursiveRead);
    c.release(hc);
    // Out of order: the slow release path must not allocate either.
    a.release(ha);
    b.release(hb);
}

#[test]
fn a_cached_chain_allocates_nothing() {
    let (a, b, c) = (
        LockMap::new(LockClass::leak("cached_a")),
        LockMap::new(LockClass::leak("cached_b")),
        LockMap::new(LockClass::leak("cached_c")),
    );
    let ((), reports) = capture(|| {
        // The first run registers the classes and validates the chain.
        assert_ne!(
            allocations(|| chain(&a, &b, &c)),
            0,
            "the first run should allocate"
        );
        let n = allocations(|| {
            for _ in 0..1000 {
                chain(&a, &b, &c);
            }
        });
        assert_eq!(n, 0, "taking a cached chain allocated {n} times");
    });
    assert!(reports.is_empty(), "{reports:?}");
}
