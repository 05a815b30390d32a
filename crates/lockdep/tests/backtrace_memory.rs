//! What an edge's backtrace costs in memory (`KERNSYNC_LOCKDEP_BACKTRACE=1`),
//! measured by a counting allocator: the figure in `Limits`' docs.
//!
//! Edges born at the same stack share one stored trace; the cost that grows
//! with the edges is a distinct trace per edge. Here N edges are born at one
//! stack (phase A), then N edges each at a stack of its own (phase B, every
//! trace a full 16 frames): the difference per edge is the cost of one
//! distinct stored trace. The frames themselves are stored once each (the
//! program has few call sites), so they cancel out, as they would in a
//! program whose graph reaches the edge bound.
//!
//! The variable is read once, at the validator's first use, so the only
//! test sets it first thing.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{capture, is_enabled, LockClass, LockMap, Mode};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the bytes live (requested sizes, not the allocator's overhead).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counter is
// only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc`, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Edges per phase.
const N: usize = 2048;
/// Levels of `left`/`right` calls: 2^DEPTH >= N distinct stacks.
const DEPTH: u32 = 11;

#[inline(never)]
fn take(outer: &LockMap, inner: &LockMap) {
    let ho = outer.acquire(Mode::Write);
    let hi = inner.acquire(Mode::Write);
    inner.release(hi);
    outer.release(ho);
}

/// Calls `f` through `depth` frames of `left` and `right`, chosen by the
/// bits of `path`: each path is a stack of its own.
#[inline(never)]
fn left(path: usize, depth: u32, f: &dyn Fn()) {
    if depth == 0 {
        f()
    } else if path & 1 == 0 {
        left(path >> 1, depth - 1, f)
    } else {
        right(path >> 1, depth - 1, f)
    }
}

#[inline(never)]
fn right(path: usize, depth: u32, f: &dyn Fn()) {
    if depth == 0 {
        f()
    } else if path & 1 == 0 {
        left(path >> 1, depth - 1, f)
    } else {
        right(path >> 1, depth - 1, f)
    }
}

/// Bytes live after each edge of `inners` is born under `outer`, each
/// through `path(i)`, per edge.
fn per_edge(outer: &LockMap, inners: &[LockMap], path: impl Fn(usize) -> usize) -> usize {
    let before = LIVE.load(Ordering::Relaxed);
    for (i, inner) in inners.iter().enumerate() {
        left(path(i), DEPTH, &|| take(outer, inner));
    }
    (LIVE.load(Ordering::Relaxed) - before) / inners.len()
}

fn locks(tag: &str, n: usize) -> Vec<LockMap> {
    (0..n)
        .map(|i| LockMap::new(LockClass::leak(&format!("{tag}{i}"))))
        .collect()
}

#[test]
fn a_distinct_edge_backtrace_costs_little() {
    std::env::set_var("KERNSYNC_LOCKDEP_BACKTRACE", "1");
    std::env::remove_var("KERNSYNC_LOCKDEP");
    assert!(is_enabled());
    let outer = LockMap::new(LockClass::leak("mem_outer"));
    let (warm, same, distinct) = (locks("mem_w", 64), locks("mem_s", N), locks("mem_d", N));
    // Loads the symbolizer's caches and stores every frame text once.
    per_edge(&outer, &warm, |i| i);
    let shared = per_edge(&outer, &same, |_| 0);
    let own = per_edge(&outer, &distinct, |i| i);
    let trace = own.saturating_sub(shared);
    // What storing each trace as its text would cost instead: a cycle
    // through one of phase B's edges shows that edge's trace.
    let ((), reports) = capture(|| take(&distinct[N - 1], &outer));
    let bt = reports[0].edges()[0].backtrace().expect("a backtrace");
    let text = bt.len();
    let frames = bt.lines().filter(|l| l.contains(": ")).count();
    if frames < 16 || !bt.contains(" at ") {
        // Release: no line info, and the calls are inlined or turned into
        // jumps, so the stacks are neither full nor distinct.
        eprintln!("stacks of {frames} frames without lines (release?): no figure\n{bt}");
        assert!(trace < 400);
        return;
    }
    eprintln!(
        "per edge: {shared} B with a shared backtrace, {own} B with its own: {trace} B per distinct \
         trace (x 65536 edges = {:.1} MiB); as text it would be {text} B (x 65536 = {:.0} MiB)",
        (trace * 65536) as f64 / (1 << 20) as f64,
        (text * 65536) as f64 / (1 << 20) as f64,
    );
    assert!(trace < 400, "a distinct trace costs {trace} bytes");
}
