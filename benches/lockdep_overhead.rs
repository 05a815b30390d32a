//! What the lock-order validator costs a lock that reports to it.
//!
//! The subject is one lock driven two ways in the same run: `bare` is
//! parking_lot's raw mutex alone; `checked` is the same raw mutex with the
//! validator's public hooks around it (`LockMap::acquire` before locking,
//! `LockMap::release` after unlocking), which is exactly what a kernsync lock
//! adds. parking_lot's `Mutex` and std's `Mutex` run beside them as peers.
//!
//! Checks on and off are a compile-time switch (release builds compile them
//! out), so the figures come from two invocations:
//!
//! - `cargo bench --bench lockdep_overhead --features lockdep`: checks on;
//!   `checked` vs `bare` is the validator's cost on a cached chain.
//! - `cargo bench --bench lockdep_overhead`: checks compiled out; `checked`
//!   must equal `bare` (the hooks are empty inline functions).
//!
//! Groups:
//! - `lockdep_acquire_release`: one lock, taken and released.
//! - `lockdep_nested_pair`: A then B, released in reverse (a chain of two).
//! - `lockdep_classes_in_graph/N`: the nested pair while the graph holds N other
//!   classes with an edge each; the cached path must not grow with N.
//! - `lockdep_chain_miss` (a table printed outside criterion, checks on
//!   only): a nested pair whose chain the validator has never seen (a new
//!   class, edge and chain, and a cycle search), timed one by one beside the
//!   same pair cached.
//! - `lockdep_threads/N`: N threads (1 or 2), each taking its own cached nested pair;
//!   the time for every thread to finish its iterations. With no shared write
//!   on the hit path, 2 threads on this 2-core machine take about as long as 1.
//!   `checked_pair` and `bare_pair` are the hooks harness (each thread with
//!   classes of its own); `mutex_nested` is the type users call,
//!   `kernsync::rwsem::Mutex`, both threads' mutexes of the same two classes
//!   (one cached chain, read by both).

mod common;

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use kernsync::lockdep::{Held, LockClass, LockMap, Mode};
use parking_lot::lock_api::RawMutex as _;

/// parking_lot's raw mutex with the validator's hooks: the shape of every
/// kernsync lock's fast path.
struct Checked {
    raw: parking_lot::RawMutex,
    map: LockMap,
}

/// Proof that a [`Checked`] is locked: the raw lock's guard state and the
/// validator's token.
struct CheckedGuard<'a> {
    lock: &'a Checked,
    raw: Option<<parking_lot::RawMutex as parking_lot::lock_api::RawMutex>::Guard>,
    held: Option<Held>,
}

impl Checked {
    fn new(class: &'static LockClass) -> Checked {
        Checked {
            raw: parking_lot::RawMutex::INIT,
            map: LockMap::new(class),
        }
    }

    #[inline]
    #[track_caller]
    fn lock(&self) -> CheckedGuard<'_> {
        // Validate before blocking, as the real locks do.
        let held = self.map.acquire(Mode::Write);
        let raw = self.raw.lock();
        CheckedGuard {
            lock: self,
            raw: Some(raw),
            held: Some(held),
        }
    }
}

impl Drop for CheckedGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(raw) = self.raw.take() {
            // SAFETY: `raw` is the guard state this guard's own `lock()`
            // returned, and it is given back exactly once.
            unsafe { self.lock.raw.unlock(raw) };
        }
        if let Some(held) = self.held.take() {
            self.lock.map.release(held);
        }
    }
}

/// The raw lock alone.
struct Bare {
    raw: parking_lot::RawMutex,
}

impl Bare {
    fn new() -> Bare {
        Bare {
            raw: parking_lot::RawMutex::INIT,
        }
    }

    #[inline]
    fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        let g = self.raw.lock();
        let r = f();
        // SAFETY: `g` came from the `lock()` just above and is returned once.
        unsafe { self.raw.unlock(g) };
        r
    }
}

fn class(name: &str) -> &'static LockClass {
    LockClass::leak(name)
}

fn acquire_release(c: &mut Criterion) {
    let mut g = c.benchmark_group("lockdep_acquire_release");
    let bare = Bare::new();
    g.bench_function("bare", |b| b.iter(|| bare.with(|| black_box(1))));
    let checked = Checked::new(class("bench_single"));
    g.bench_function("checked", |b| {
        b.iter(|| {
            let _g = checked.lock();
            black_box(1)
        })
    });
    // kernsync's own types over one raw lock: `Mutex` (checked) and
    // `lock_api::Mutex<RawMutex, _>` (the same raw lock, never checked).
    let ks = kernsync::rwsem::Mutex::new(0u64);
    g.bench_function("kernsync_mutex", |b| b.iter(|| *black_box(&ks).lock() += 1));
    let raw = lock_api::Mutex::<kernsync::rwsem::RawMutex, u64>::new(0);
    g.bench_function("kernsync_raw_mutex", |b| {
        b.iter(|| *black_box(&raw).lock() += 1)
    });
    let pl = parking_lot::Mutex::new(0u64);
    g.bench_function("parking_lot", |b| b.iter(|| *black_box(&pl).lock() += 1));
    let std = std::sync::Mutex::new(0u64);
    g.bench_function("std", |b| b.iter(|| *black_box(&std).lock().unwrap() += 1));
    g.finish();
}

/// One nested A→B pair of checked locks.
fn checked_pair(a: &Checked, b: &Checked) {
    let ga = a.lock();
    let gb = b.lock();
    black_box((&ga, &gb));
}

fn nested_pair(c: &mut Criterion) {
    let mut g = c.benchmark_group("lockdep_nested_pair");
    let (ba, bb) = (Bare::new(), Bare::new());
    g.bench_function("bare", |b| b.iter(|| ba.with(|| bb.with(|| black_box(1)))));
    let (ca, cb) = (
        Checked::new(class("bench_pair_a")),
        Checked::new(class("bench_pair_b")),
    );
    g.bench_function("checked", |b| b.iter(|| checked_pair(&ca, &cb)));
    let (pa, pb) = (parking_lot::Mutex::new(0u64), parking_lot::Mutex::new(0u64));
    g.bench_function("parking_lot", |b| {
        b.iter(|| {
            let mut x = black_box(&pa).lock();
            let mut y = black_box(&pb).lock();
            *x += 1;
            *y += 1;
        })
    });
    let (sa, sb) = (std::sync::Mutex::new(0u64), std::sync::Mutex::new(0u64));
    g.bench_function("std", |b| {
        b.iter(|| {
            let mut x = black_box(&sa).lock().unwrap();
            let mut y = black_box(&sb).lock().unwrap();
            *x += 1;
            *y += 1;
        })
    });
    g.finish();
}

/// Grows the graph to `n` extra classes, each with one edge (a validated
/// chain of two) from its predecessor.
fn grow_graph(maps: &mut Vec<LockMap>, n: usize) {
    while maps.len() < n {
        maps.push(LockMap::new(class(&format!("bench_graph_{}", maps.len()))));
        if let [.., prev, last] = &maps[..] {
            let h1 = prev.acquire(Mode::Write);
            let h2 = last.acquire(Mode::Write);
            last.release(h2);
            prev.release(h1);
        }
    }
}

fn classes_in_graph(c: &mut Criterion) {
    let mut g = c.benchmark_group("lockdep_classes_in_graph");
    let (a, b) = (
        Checked::new(class("bench_scale_a")),
        Checked::new(class("bench_scale_b")),
    );
    let mut maps = Vec::new();
    for n in [10usize, 100, 1_000, 10_000] {
        grow_graph(&mut maps, n);
        g.bench_with_input(BenchmarkId::new("checked_pair", n), &n, |bch, _| {
            bch.iter(|| checked_pair(&a, &b))
        });
    }
    g.finish();
    // The graph's classes live for the process; keep their handles too.
    std::mem::forget(maps);
}

/// Runs `iters` nested pairs on each of `threads` threads, each with its own
/// locks (and its own classes), and returns the time until all are done.
fn run_threads(
    classes: &[(&'static LockClass, &'static LockClass)],
    iters: u64,
    checked: bool,
) -> Duration {
    let start = Arc::new(Barrier::new(classes.len() + 1));
    let handles: Vec<_> = classes
        .iter()
        .map(|&(ca, cb)| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                if checked {
                    let (a, b) = (Checked::new(ca), Checked::new(cb));
                    // Validated on the first run, a cache hit ever after.
                    checked_pair(&a, &b);
                    start.wait();
                    let t0 = Instant::now();
                    for _ in 0..iters {
                        checked_pair(&a, &b);
                    }
                    t0.elapsed()
                } else {
                    let (a, b) = (Bare::new(), Bare::new());
                    start.wait();
                    let t0 = Instant::now();
                    for _ in 0..iters {
                        a.with(|| b.with(|| black_box(1)));
                    }
                    t0.elapsed()
                }
            })
        })
        .collect();
    start.wait();
    handles
        .into_iter()
        .map(|h| h.join().expect("bench thread panicked"))
        .max()
        .unwrap_or_default()
}

/// Runs `iters` nested A→B pairs of `kernsync::rwsem::Mutex` on each of
/// `threads` threads, each with its own two mutexes, made at the same two
/// lines (so of the same two classes: one cached chain, read by both), and
/// returns the time until all are done: the type users call.
fn run_mutex_threads(threads: usize, iters: u64) -> Duration {
    let start = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let a = kernsync::rwsem::Mutex::new(0u64);
                let b = kernsync::rwsem::Mutex::new(0u64);
                let pair = || {
                    let mut x = black_box(&a).lock();
                    let mut y = black_box(&b).lock();
                    *x += 1;
                    *y += 1;
                };
                pair(); // validated once, a cache hit ever after
                start.wait();
                let t0 = Instant::now();
                for _ in 0..iters {
                    pair();
                }
                t0.elapsed()
            })
        })
        .collect();
    start.wait();
    handles
        .into_iter()
        .map(|h| h.join().expect("bench thread panicked"))
        .max()
        .unwrap_or_default()
}

fn threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("lockdep_threads");
    let classes: Vec<_> = (0..2)
        .map(|t| {
            (
                class(&format!("bench_thread_{t}_a")),
                class(&format!("bench_thread_{t}_b")),
            )
        })
        .collect();
    for n in [1usize, 2] {
        let classes = &classes[..n];
        g.bench_with_input(BenchmarkId::new("checked_pair", n), &n, |b, _| {
            b.iter_custom(|iters| run_threads(classes, iters, true))
        });
        g.bench_with_input(BenchmarkId::new("bare_pair", n), &n, |b, _| {
            b.iter_custom(|iters| run_threads(classes, iters, false))
        });
        g.bench_with_input(BenchmarkId::new("mutex_nested", n), &n, |b, &n| {
            b.iter_custom(|iters| run_mutex_threads(n, iters))
        });
    }
    g.finish();
}

// ---- lockdep_chain_miss --------------------------------------------------

/// The cost of a chain the validator has not seen: the first A→B with a
/// fresh B adds a class, an edge and a chain, and runs the cycle search
/// (none found). A miss cannot be repeated (the second time it is a hit), so
/// this is a table of single timings outside criterion: `count` nested
/// pairs, each with a class never taken before, beside the same pair taken
/// again (now cached), µs. The graph grows by one class and one edge per
/// miss; the default bounds (16,384 classes) allow a few thousand.
fn chain_miss(_: &mut Criterion) {
    if !common::selected("lockdep_chain_miss") {
        return;
    }
    if !kernsync::lockdep::COMPILED_IN {
        println!(
            "\nlockdep_chain_miss: validation is compiled out (run with --features lockdep)\n"
        );
        return;
    }
    let smoke = common::smoke();
    let count = if smoke { 20 } else { 4000 };
    let outer = Checked::new(class("bench_miss_outer"));
    let inner: Vec<Checked> = (0..count)
        .map(|i| Checked::new(class(&format!("bench_miss_{i}"))))
        .collect();
    let (mut miss, mut hit) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for b in &inner {
        let t = Instant::now();
        checked_pair(&outer, b);
        miss.push(t.elapsed().as_nanos() as u64);
        let t = Instant::now();
        checked_pair(&outer, b);
        hit.push(t.elapsed().as_nanos() as u64);
    }
    let row = |name: &str, v: &mut Vec<u64>| {
        v.sort_unstable();
        let q = |f: f64| v[((v.len() - 1) as f64 * f) as usize] as f64 / 1000.0;
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} |",
            q(0.5),
            q(0.9),
            q(0.99),
            q(1.0)
        );
    };
    println!(
        "\nlockdep_chain_miss: {count} nested pairs outer→fresh class, each timed alone \
         (the clock adds ~25 ns), µs:\n\n| pair | median | p90 | p99 | max |\n|---|---:|---:|---:|---:|"
    );
    row(
        "first time (chain miss: new class, edge, cycle search)",
        &mut miss,
    );
    row("second time (chain hit)", &mut hit);
    println!();
}

criterion_group!(
    benches,
    acquire_release,
    nested_pair,
    classes_in_graph,
    threads,
    chain_miss
);
criterion_main!(benches);
