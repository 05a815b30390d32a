//! With validation compiled out (a release build without the `lockdep`
//! feature), the handles are zero-sized, every hook is callable and does
//! nothing, and `CheckedAlloc` is its inner allocator. Runs in
//! `cargo test --release`.
//!
//! (These docs come before the `cfg`: a crate-level `cfg` that is false
//! strips everything after it, docs included, and `missing_docs` would fire.)
#![cfg(not(any(debug_assertions, feature = "lockdep")))]

use core::mem::size_of;
use kernsync_lockdep::{
    action, allocation_path, allow_order, assert_no_locks_held, atomic_section, capture, dump,
    graph, held_locks, is_enabled, lock_internals, might_alloc, might_lock, might_sleep, no_alloc,
    set_action, set_handler, unused_suppressions, Action, CheckedAlloc, Held, LockClass, LockMap,
    Mode, Report, COMPILED_IN,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

#[global_allocator]
static ALLOC: CheckedAlloc = CheckedAlloc::new(System);

static A: LockClass = LockClass::new("out.a");
static B: LockClass = LockClass::new("out.b");
static SPIN: LockClass = LockClass::new("out.spin").atomic().no_alloc();

fn handler(_: &Report) {
    panic!("no report can be raised with validation compiled out");
}

#[test]
fn handles_are_zero_sized() {
    assert_eq!(size_of::<LockMap>(), 0);
    assert_eq!(size_of::<Held>(), 0);
    assert_eq!(size_of::<CheckedAlloc<System>>(), 0);
    assert_eq!(size_of::<CheckedAlloc>(), 0);
    const { assert!(!COMPILED_IN) };
    assert!(!is_enabled());
    assert_eq!(action(), Action::Off);
}

#[test]
fn hooks_are_callable_and_report_nothing() {
    set_handler(Some(handler));
    set_action(Action::Panic);
    assert!(!is_enabled());
    let (a, b, spin) = (LockMap::new(&A), LockMap::new(&B), LockMap::new(&SPIN));
    let ((), reports) = capture(|| {
        // ABBA.
        let ha = a.acquire(Mode::Write);
        let hb = b.acquire(Mode::Write);
        b.release(hb);
        a.release(ha);
        let hb = b.acquire(Mode::Write);
        let ha = a.acquire(Mode::Write);
        assert!(!ha.is_tracked() && !a.is_held());
        assert!(held_locks().is_empty());
        a.release(ha);
        b.release(hb);
        // The same lock twice, a bad unlock, assertions that would fail.
        let h1 = a.acquire(Mode::Write);
        let h2 = a.acquire(Mode::Write);
        a.release(h2);
        a.release(h1);
        a.release_unpaired();
        a.assert_held();
        let h = b.acquire_nested(Mode::Read, 1);
        assert_no_locks_held();
        b.assert_not_held();
        b.release(h);
        // Annotations.
        let h = spin.acquire(Mode::Write);
        might_sleep();
        might_alloc();
        black_box(Box::new(1u8));
        might_lock(&A, Mode::Read);
        spin.release(h);
        atomic_section(might_sleep);
        no_alloc(|| black_box(vec![0u8; 64]));
        lock_internals(might_alloc);
        allocation_path(|| {
            let h = a.acquire(Mode::Write);
            a.release(h);
        });
        let flush = LockMap::named("out.flush");
        flush.with(Mode::Write, || {
            let h = b.acquire(Mode::Write);
            b.release(h);
        });
        flush.acquire_release(Mode::Write);
        let mut h = a.try_acquired(Mode::Read);
        a.upgrade(&mut h);
        a.downgrade(&mut h);
        assert_eq!(h.mode(), Mode::Write);
        a.release(h);
        let _leaked = LockMap::anonymous().acquire(Mode::Write);
        allow_order(&A, &B, "compiled out");
    });
    assert!(reports.is_empty());
    assert!(unused_suppressions().is_empty());
    dump().expect("nothing to write");
}

#[test]
fn graph_is_empty() {
    let (a, b) = (LockMap::new(&A), LockMap::new(&B));
    let ha = a.acquire(Mode::Write);
    let hb = b.acquire(Mode::Write);
    b.release(hb);
    a.release(ha);
    let g = graph();
    assert!(g.classes.is_empty());
    assert!(g.edges.is_empty());
    assert!(g.suppressions.is_empty());
    assert!(g.cycles().expect("an empty graph").is_empty());
}

#[test]
fn checked_alloc_passes_through() {
    let alloc = CheckedAlloc::new(System);
    let layout = Layout::from_size_align(256, 64).expect("a layout");
    // SAFETY: `layout` has a non-zero size; the block is written within its
    // bounds, reallocated and freed with the layouts it was allocated with.
    unsafe {
        let p = alloc.alloc(layout);
        assert!(!p.is_null());
        assert_eq!(p as usize % 64, 0);
        p.write_bytes(0xA5, 256);
        let q = alloc.realloc(p, layout, 512);
        assert!(!q.is_null());
        assert_eq!(*q.add(255), 0xA5);
        alloc.dealloc(q, Layout::from_size_align(512, 64).expect("a layout"));
        let z = alloc.alloc_zeroed(layout);
        assert!(!z.is_null());
        assert!((0..256).all(|i| *z.add(i) == 0));
        alloc.dealloc(z, layout);
    }
    // And as this binary's global allocator, under a no-alloc class.
    let spin = LockMap::new(&SPIN);
    let ((), reports) = capture(|| {
        let h = spin.acquire(Mode::Write);
        black_box(vec![1u64; 1000]);
        spin.release(h);
    });
    assert!(reports.is_empty());
}

/// A tracked task is its future: same size, polled straight through, and
/// never "inside a tracked task" (nothing is tracked).
#[test]
fn tracked_tasks_are_their_futures() {
    use kernsync_lockdep::{in_tracked_task, tracked, tracked_named, Tracked};
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};
    let fut = async { in_tracked_task() };
    assert_eq!(size_of::<Tracked<[u64; 3]>>(), size_of::<[u64; 3]>());
    let mut cx = Context::from_waker(Waker::noop());
    let mut t = pin!(tracked(fut));
    assert_eq!(t.as_mut().poll(&mut cx), Poll::Ready(false));
    let mut t = pin!(tracked_named("named", async { 5 }));
    assert_eq!(t.name(), None);
    assert_eq!(t.as_mut().poll(&mut cx), Poll::Ready(5));
    static L: LockMap = LockMap::new(&A).awaitable();
    let h = L.acquire(Mode::Write);
    L.release(h);
}

/// The poll hooks are callable and do nothing: no task is ever current.
#[test]
fn poll_hooks_do_nothing() {
    use kernsync_lockdep::{in_tracked_task, task_end, task_name, task_poll_begin, task_poll_end};
    task_name(1, "named");
    task_poll_begin(1);
    assert!(!in_tracked_task());
    task_poll_end(1);
    task_poll_end(2); // unbalanced: nothing to report in this build
    task_end(1);
}
