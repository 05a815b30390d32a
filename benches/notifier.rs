//! kernsync's notifier chains against the registries a user would write
//! instead, calling the same trivial callbacks in one run:
//!
//! - `notifier_call/<registry>/<callbacks>x<threads>`: N threads (1 and 2)
//!   each calling a chain of 1, 8 or 64 callbacks in a loop; the time per
//!   call (all threads' calls together: perfect scaling halves it from 1 to
//!   2 threads). Registries: `NotifierChain` and `AtomicNotifierChain`;
//!   `std::sync::RwLock<Vec<Box<dyn Fn>>>`, `parking_lot::RwLock<Vec<..>>`,
//!   `arc_swap::ArcSwap<Vec<Arc<dyn Fn>>>`; and `plain_vec`, the callbacks
//!   in a `Vec` with no lock at all (what calling them costs by itself).
//! - `notifier_register/<chain>`: a prepare + register + unregister round
//!   trip on a chain of 8, one thread, the writer's wait included (for the
//!   atomic chain, its `synchronize`).
//!
//! - `notifier_call_paired` (a table printed outside criterion): the 8-callback
//!   registries called in rounds of short bursts, 1 and 2 threads, every
//!   registry once per round in rotating order, and each ratio (against
//!   parking_lot, against the plain `Vec`) taken within its round. On a VM
//!   whose speed drifts over seconds, criterion's estimates of two registries
//!   are taken at different speeds; within a round they share one.
//!
//! `cargo bench --bench notifier`; `-- --test` is the CI smoke.

mod common;

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kernsync::notifier::{
    AtomicNotifierChain, AtomicRegistration, NotifierChain, Registration, Verdict,
};

/// The callback every registry calls: it looks at the event and continues.
fn callback(e: &u64) -> Verdict {
    black_box(e);
    Verdict::Continue
}

type BoxedFn = Box<dyn Fn(&u64) -> Verdict + Send + Sync>;
type ArcFn = Arc<dyn Fn(&u64) -> Verdict + Send + Sync>;

/// One registry holding `n` callbacks, called the same way by every thread.
trait Registry: Sync {
    /// Calls every callback once; returns how many ran.
    fn call(&self, event: &u64) -> usize;
}

/// kernsync's blocking chain (and its registrations, kept alive).
struct Blocking {
    chain: &'static NotifierChain<u64>,
    _regs: Vec<Registration<'static, u64>>,
}

impl Registry for Blocking {
    #[inline]
    fn call(&self, event: &u64) -> usize {
        self.chain.call(event).called
    }
}

/// kernsync's atomic chain.
struct Atomic {
    chain: &'static AtomicNotifierChain<u64>,
    _regs: Vec<AtomicRegistration<'static, u64>>,
}

impl Registry for Atomic {
    #[inline]
    fn call(&self, event: &u64) -> usize {
        self.chain.call(event).called
    }
}

/// Walks a slice of callbacks until one does not continue.
#[inline]
fn walk<F: std::ops::Deref<Target = dyn Fn(&u64) -> Verdict + Send + Sync>>(
    fs: &[F],
    event: &u64,
) -> usize {
    let mut n = 0;
    for f in fs {
        n += 1;
        if f(event) != Verdict::Continue {
            break;
        }
    }
    n
}

impl Registry for std::sync::RwLock<Vec<BoxedFn>> {
    #[inline]
    fn call(&self, event: &u64) -> usize {
        walk(&self.read().unwrap(), event)
    }
}

impl Registry for parking_lot::RwLock<Vec<BoxedFn>> {
    #[inline]
    fn call(&self, event: &u64) -> usize {
        walk(&self.read(), event)
    }
}

impl Registry for ArcSwap<Vec<ArcFn>> {
    #[inline]
    fn call(&self, event: &u64) -> usize {
        walk(&self.load(), event)
    }
}

/// No lock: the floor.
struct PlainVec(Vec<BoxedFn>);

impl Registry for PlainVec {
    #[inline]
    fn call(&self, event: &u64) -> usize {
        walk(&self.0, event)
    }
}

fn boxed(n: usize) -> Vec<BoxedFn> {
    (0..n).map(|_| Box::new(callback) as BoxedFn).collect()
}

/// Every registry with `n` callbacks.
fn registries(n: usize) -> Vec<(&'static str, Box<dyn Registry>)> {
    let blocking: &'static NotifierChain<u64> = Box::leak(Box::new(NotifierChain::new()));
    let atomic: &'static AtomicNotifierChain<u64> = Box::leak(Box::new(AtomicNotifierChain::new()));
    vec![
        (
            "kernsync_notifier",
            Box::new(Blocking {
                chain: blocking,
                _regs: (0..n).map(|_| blocking.subscribe(callback, 0)).collect(),
            }),
        ),
        (
            "kernsync_atomic_notifier",
            Box::new(Atomic {
                chain: atomic,
                _regs: (0..n).map(|_| atomic.subscribe(callback, 0)).collect(),
            }),
        ),
        ("std_rwlock_vec", Box::new(std::sync::RwLock::new(boxed(n)))),
        (
            "parking_lot_rwlock_vec",
            Box::new(parking_lot::RwLock::new(boxed(n))),
        ),
        (
            "arc_swap_vec",
            Box::new(ArcSwap::from_pointee(
                (0..n)
                    .map(|_| Arc::new(callback) as ArcFn)
                    .collect::<Vec<_>>(),
            )),
        ),
        ("plain_vec", Box::new(PlainVec(boxed(n)))),
    ]
}

/// `threads` threads sharing `iters` calls; the longest thread's time, so
/// `iter_custom`'s per-iteration time is per call of all threads together.
fn timed_calls(reg: &dyn Registry, threads: usize, iters: u64) -> Duration {
    let per_thread = iters.div_ceil(threads as u64);
    let start = Barrier::new(threads + 1);
    thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    let t = Instant::now();
                    let mut ran = 0;
                    for i in 0..per_thread {
                        ran += reg.call(black_box(&i));
                    }
                    black_box(ran);
                    t.elapsed()
                })
            })
            .collect();
        start.wait();
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .max()
            .unwrap()
    })
}

fn call(c: &mut Criterion) {
    let mut g = c.benchmark_group("notifier_call");
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(1));
    for n in [1usize, 8, 64] {
        for (name, reg) in registries(n) {
            for threads in [1usize, 2] {
                g.bench_with_input(
                    BenchmarkId::new(name, format!("{n}x{threads}")),
                    &threads,
                    |b, &threads| b.iter_custom(|iters| timed_calls(&*reg, threads, iters)),
                );
            }
        }
    }
    g.finish();
}

fn register(c: &mut Criterion) {
    let mut g = c.benchmark_group("notifier_register");
    let blocking: &'static NotifierChain<u64> = Box::leak(Box::new(NotifierChain::new()));
    let _b: Vec<_> = (0..8).map(|_| blocking.subscribe(callback, 0)).collect();
    g.bench_function("kernsync_notifier", |b| {
        b.iter(|| {
            let p = blocking.prepare(callback, 1);
            blocking.register(p).unregister();
        })
    });
    let atomic: &'static AtomicNotifierChain<u64> = Box::leak(Box::new(AtomicNotifierChain::new()));
    let _a: Vec<_> = (0..8).map(|_| atomic.subscribe(callback, 0)).collect();
    g.bench_function("kernsync_atomic_notifier", |b| {
        b.iter(|| {
            let p = atomic.prepare(callback, 1);
            atomic.register(p).unregister();
        })
    });
    let pl = parking_lot::RwLock::new(boxed(8));
    g.bench_function("parking_lot_rwlock_vec", |b| {
        b.iter(|| {
            pl.write().push(Box::new(callback));
            pl.write().pop();
        })
    });
    let swap = ArcSwap::from_pointee(
        (0..8)
            .map(|_| Arc::new(callback) as ArcFn)
            .collect::<Vec<_>>(),
    );
    g.bench_function("arc_swap_vec", |b| {
        b.iter(|| {
            swap.rcu(|v| {
                let mut v = Vec::clone(v);
                v.push(Arc::new(callback));
                v
            });
            swap.rcu(|v| {
                let mut v = Vec::clone(v);
                v.pop();
                v
            });
        })
    });
    g.finish();
}

/// Median and quartiles of `v`, sorted in place.
fn quartiles(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let q = |f: f64| v[((v.len() - 1) as f64 * f).round() as usize];
    (q(0.5), q(0.25), q(0.75))
}

fn paired(_: &mut Criterion) {
    if !common::selected("notifier_call_paired") {
        return;
    }
    let (rounds, target) = if common::smoke() {
        (2, Duration::from_micros(200))
    } else {
        (30, Duration::from_millis(20))
    };
    let regs = registries(8);
    let index = |name: &str| regs.iter().position(|r| r.0 == name).expect("a registry");
    let (pl, plain) = (index("parking_lot_rwlock_vec"), index("plain_vec"));
    for threads in [1usize, 2] {
        // Calls per burst, sized on the plain `Vec` so a burst takes about
        // `target`; the same count for every registry of a round.
        let probe = 100_000;
        let per = timed_calls(&*regs[plain].1, threads, probe).as_secs_f64() / probe as f64;
        let calls = ((target.as_secs_f64() / per.max(1e-10)) as u64).max(1_000);
        let mut ns: Vec<Vec<f64>> = vec![Vec::new(); regs.len()];
        let mut vs_pl: Vec<Vec<f64>> = vec![Vec::new(); regs.len()];
        let mut vs_plain: Vec<Vec<f64>> = vec![Vec::new(); regs.len()];
        for round in 0..rounds {
            let mut t = vec![0.0; regs.len()];
            for k in 0..regs.len() {
                let i = (k + round) % regs.len();
                t[i] = timed_calls(&*regs[i].1, threads, calls).as_secs_f64();
            }
            for i in 0..regs.len() {
                ns[i].push(t[i] * 1e9 / calls as f64);
                vs_pl[i].push(t[pl] / t[i]);
                vs_plain[i].push(t[i] / t[plain]);
            }
        }
        println!(
            "\nnotifier_call_paired: 8 callbacks, {threads} thread(s), {rounds} rounds of \
             {calls} calls per registry (rotating order); ns per call (all threads together), \
             throughput against parking_lot and time against the plain Vec, each taken within \
             its round (median, p25-p75):\n\n\
             | registry | ns per call | throughput vs parking_lot | time vs plain Vec |\n\
             |---|---:|---:|---:|"
        );
        for i in 0..regs.len() {
            let (n, _, _) = quartiles(&mut ns[i]);
            let (p, p25, p75) = quartiles(&mut vs_pl[i]);
            let (v, v25, v75) = quartiles(&mut vs_plain[i]);
            println!(
                "| {} | {n:.2} | {p:.2}x ({p25:.2}-{p75:.2}) | {v:.2}x ({v25:.2}-{v75:.2}) |",
                regs[i].0
            );
        }
    }
    println!();
}

criterion_group!(benches, call, register, paired);
criterion_main!(benches);
