//! kernsync's read-mostly `PercpuRwSem` against the reader/writer locks a user
//! would pick instead, on the same workloads in one run: std's `RwLock`,
//! parking_lot's `RwLock`, crossbeam's `ShardedLock` (per-thread shards, the
//! closest peer in intent), and kernsync's own `RwSem` for reference.
//!
//! - `percpu_read_pair/*`: one thread, a read lock + unlock pair, uncontended.
//! - `percpu_read_scaling/<lock>/<N>`: N threads (1, 2, and
//!   `available_parallelism` if larger) share one lock, each doing read pairs
//!   in a loop; the time is from the start signal to the last thread's end,
//!   divided by the read pairs of all threads together (so perfect scaling
//!   halves it from 1 to 2 threads; the throughput column is pairs/s). The
//!   threads live across samples (the thread criterion runs on is one of
//!   them), so no thread start or join is inside a measurement.
//!   `unlocked` is the control: the shared value read with no lock, what the
//!   machine itself gives N threads (on a busy machine, less than N times one).
//! - `percpu_write/<lock>/<K>`: one writer's lock + unlock pair while K threads
//!   that have read the lock once stay alive, idle (for `PercpuRwSem`, K
//!   registered reader slots the writer sums; K = 0, 2, 8).
//!
//! Criterion reports typical (mean) times. The tail matters for a lock whose
//! writers are slow by design, so the bench then prints, outside criterion,
//! two latency tables for every lock: each write timed on its own with K idle
//! readers (median, p99, max), and the stall readers see while a writer runs
//! (one reader thread timing every read pair while another thread writes
//! every 100 µs; quantiles of the read pairs, beside a row where the writer
//! thread does not write, the machine's own tail). Last, a paired scaling
//! table (`percpu_scaling_paired`): bursts of one thread then two, the
//! 2-vs-1 ratio taken within each pair, because on a VM whose speed drifts
//! over seconds the ratio of criterion's separate 1- and 2-thread estimates
//! measures the drift as much as the lock.
//!
//! `cargo bench --bench percpu` measures the locks as users ship them (checks
//! compiled out); `cargo bench --bench percpu -- --test` is the CI smoke (each
//! benchmark once, the latency tables on a handful of operations).

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use crossbeam_utils::sync::ShardedLock;
use kernsync::percpu::PercpuRwSem;
use kernsync::rwsem::RwSem;

/// One reader/writer lock around a `u64`, behind the same operations for
/// every contender (monomorphised: no indirect call in the measured loops).
trait Rw: Sync + Sized {
    /// The name in benchmark ids and tables.
    const NAME: &'static str;
    fn new() -> Self;
    /// A read lock + unlock pair.
    fn read(&self) -> u64;
    /// A write lock + unlock pair.
    fn write(&self);
}

impl Rw for PercpuRwSem<u64> {
    const NAME: &'static str = "kernsync_percpu";
    fn new() -> Self {
        PercpuRwSem::new(0)
    }
    #[inline]
    fn read(&self) -> u64 {
        *PercpuRwSem::read(self)
    }
    #[inline]
    fn write(&self) {
        *PercpuRwSem::write(self) += 1;
    }
}

impl Rw for RwSem<u64> {
    const NAME: &'static str = "kernsync_rwsem";
    fn new() -> Self {
        RwSem::new(0)
    }
    #[inline]
    fn read(&self) -> u64 {
        *RwSem::read(self)
    }
    #[inline]
    fn write(&self) {
        *RwSem::write(self) += 1;
    }
}

impl Rw for parking_lot::RwLock<u64> {
    const NAME: &'static str = "parking_lot";
    fn new() -> Self {
        parking_lot::RwLock::new(0)
    }
    #[inline]
    fn read(&self) -> u64 {
        *parking_lot::RwLock::read(self)
    }
    #[inline]
    fn write(&self) {
        *parking_lot::RwLock::write(self) += 1;
    }
}

impl Rw for std::sync::RwLock<u64> {
    const NAME: &'static str = "std";
    fn new() -> Self {
        std::sync::RwLock::new(0)
    }
    #[inline]
    fn read(&self) -> u64 {
        *std::sync::RwLock::read(self).unwrap()
    }
    #[inline]
    fn write(&self) {
        *std::sync::RwLock::write(self).unwrap() += 1;
    }
}

impl Rw for ShardedLock<u64> {
    const NAME: &'static str = "sharded_lock";
    fn new() -> Self {
        ShardedLock::new(0)
    }
    #[inline]
    fn read(&self) -> u64 {
        *ShardedLock::read(self).unwrap()
    }
    #[inline]
    fn write(&self) {
        *ShardedLock::write(self).unwrap() += 1;
    }
}

/// The control of the scaling group: the shared `u64` read with no lock at
/// all (a relaxed load), what the machine gives N threads reading one line.
struct Unlocked(AtomicU64);

impl Rw for Unlocked {
    const NAME: &'static str = "unlocked";
    fn new() -> Self {
        Unlocked(AtomicU64::new(0))
    }
    #[inline]
    fn read(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    #[inline]
    fn write(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Calls `$f::<L>($args)` for every contender, kernsync's first.
macro_rules! each_lock {
    ($f:ident($($arg:expr),* $(,)?)) => {{
        $f::<PercpuRwSem<u64>>($($arg),*);
        $f::<RwSem<u64>>($($arg),*);
        $f::<parking_lot::RwLock<u64>>($($arg),*);
        $f::<std::sync::RwLock<u64>>($($arg),*);
        $f::<ShardedLock<u64>>($($arg),*);
    }};
}

// ---- percpu_read_pair ----------------------------------------------------

fn read_pair_of<L: Rw>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let lock = L::new();
    g.bench_function(L::NAME, |b| b.iter(|| black_box(black_box(&lock).read())));
}

fn read_pair(c: &mut Criterion) {
    let mut g = c.benchmark_group("percpu_read_pair");
    each_lock!(read_pair_of(&mut g));
    g.finish();
}

// ---- percpu_read_scaling -------------------------------------------------

/// Thread counts for the scaling group: 1, 2, and the machine's parallelism
/// if larger.
fn thread_counts() -> Vec<usize> {
    let cores = thread::available_parallelism().map_or(2, |n| n.get());
    let mut counts = vec![1, 2];
    if cores > 2 {
        counts.push(cores);
    }
    counts
}

/// The readers of one scaling benchmark, kept alive across criterion's
/// samples: `threads - 1` helper threads plus the thread criterion runs on.
/// Spawning threads for every sample would put a thread start, a join and
/// the scheduler's placement of fresh threads inside each measurement; a
/// team pays them once, and every sample is just a start signal, the read
/// pairs, and a count of finished helpers.
struct Team {
    threads: usize,
    /// Bumped once per sample; helpers start when it changes.
    round: AtomicU64,
    /// Read pairs each helper does this round.
    quota: AtomicU64,
    /// Helpers done with this round.
    done: AtomicUsize,
    stop: AtomicBool,
}

impl Team {
    fn new(threads: usize) -> Self {
        Team {
            threads,
            round: AtomicU64::new(0),
            quota: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        }
    }

    /// A helper's life: read once (a `PercpuRwSem` reader claims its slot
    /// then, outside any measurement), then one quota of read pairs per
    /// round until told to stop. Between rounds it spins (a futex wake-up
    /// would put the scheduler's latency into the sample), yielding now and
    /// then so a machine with fewer cores than threads still progresses.
    fn helper<L: Rw>(&self, lock: &L) {
        black_box(lock.read());
        let mut seen = 0;
        loop {
            let mut spins = 0u32;
            let round = loop {
                let r = self.round.load(Ordering::Acquire);
                if r != seen {
                    break r;
                }
                if self.stop.load(Ordering::Acquire) {
                    return;
                }
                spins += 1;
                if spins.is_multiple_of(1024) {
                    thread::yield_now();
                }
                std::hint::spin_loop();
            };
            seen = round;
            for _ in 0..self.quota.load(Ordering::Relaxed) {
                black_box(black_box(lock).read());
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }

    /// One sample: `iters` read pairs shared among the team; the time from
    /// the start signal until the last reader is done.
    fn run<L: Rw>(&self, lock: &L, iters: u64) -> Duration {
        let helpers = self.threads as u64 - 1;
        let each = iters / self.threads as u64;
        let own = iters - each * helpers;
        self.quota.store(each, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        let t0 = Instant::now();
        self.round.fetch_add(1, Ordering::Release);
        for _ in 0..own {
            black_box(black_box(lock).read());
        }
        while self.done.load(Ordering::Acquire) < helpers as usize {
            std::hint::spin_loop();
        }
        t0.elapsed()
    }
}

fn read_scaling_of<L: Rw>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let lock = L::new();
    black_box(lock.read());
    for n in thread_counts() {
        let team = Team::new(n);
        thread::scope(|s| {
            for _ in 1..n {
                s.spawn(|| team.helper(&lock));
            }
            g.bench_with_input(BenchmarkId::new(L::NAME, n), &n, |b, _| {
                b.iter_custom(|iters| team.run(&lock, iters))
            });
            team.stop.store(true, Ordering::Release);
        });
    }
}

fn read_scaling(c: &mut Criterion) {
    let mut g = c.benchmark_group("percpu_read_scaling");
    g.throughput(Throughput::Elements(1));
    each_lock!(read_scaling_of(&mut g));
    read_scaling_of::<Unlocked>(&mut g);
    g.finish();
}

// ---- percpu_write --------------------------------------------------------

/// Idle reader counts for the write benchmarks.
const IDLE_READERS: [usize; 3] = [0, 2, 8];

/// Runs `f` while `k` threads that have each read `lock` once stay alive,
/// blocked (a `PercpuRwSem` keeps their slots; writers sum them).
fn with_idle_readers<L: Rw, R>(lock: &L, k: usize, f: impl FnOnce() -> R) -> R {
    let registered = Barrier::new(k + 1);
    thread::scope(|s| {
        // Each reader waits on its own channel; dropping the senders (also on
        // a panic in `f`) lets them exit.
        let _release: Vec<mpsc::Sender<()>> = (0..k)
            .map(|_| {
                let (tx, rx) = mpsc::channel::<()>();
                let registered = &registered;
                s.spawn(move || {
                    black_box(lock.read());
                    registered.wait();
                    let _ = rx.recv();
                });
                tx
            })
            .collect();
        registered.wait();
        f()
    })
}

fn write_of<L: Rw>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let lock = L::new();
    for k in IDLE_READERS {
        with_idle_readers(&lock, k, || {
            g.bench_with_input(BenchmarkId::new(L::NAME, k), &k, |b, _| {
                b.iter_custom(|iters| {
                    let t0 = Instant::now();
                    for _ in 0..iters {
                        black_box(&lock).write();
                    }
                    t0.elapsed()
                })
            });
        });
    }
}

fn write(c: &mut Criterion) {
    let mut g = c.benchmark_group("percpu_write");
    each_lock!(write_of(&mut g));
    g.finish();
}

// ---- latency tables (outside criterion) ----------------------------------

/// How the bench binary was invoked, for the tables criterion does not run.
struct Mode {
    /// `--test`: a handful of operations, to prove the code runs.
    smoke: bool,
    /// Whether the tables run at all: not under `--list`, and not when a
    /// name filter excludes them (`name`, or any filter contained in it).
    run: bool,
}

/// How the tables named `name` should run, from the bench's arguments.
fn mode(name: &str) -> Mode {
    Mode {
        smoke: common::smoke(),
        run: common::selected(name),
    }
}

/// Nanoseconds, sorted, summarised as `median p99 max` in microseconds.
fn summary(ns: &mut [u64]) -> String {
    if ns.is_empty() {
        return "— | — | —".into();
    }
    ns.sort_unstable();
    let at = |q: f64| quantile(ns, q) as f64 / 1000.0;
    format!("{:.2} | {:.2} | {:.2}", at(0.5), at(0.99), at(1.0))
}

/// Each write timed on its own, `writes` of them, with `k` idle readers.
fn writer_latency_of<L: Rw>(writes: usize) {
    let lock = L::new();
    for k in IDLE_READERS {
        let mut ns = with_idle_readers(&lock, k, || {
            for _ in 0..writes / 10 + 1 {
                lock.write(); // warm-up
            }
            (0..writes)
                .map(|_| {
                    let t0 = Instant::now();
                    black_box(&lock).write();
                    t0.elapsed().as_nanos() as u64
                })
                .collect::<Vec<u64>>()
        });
        println!("| {} | {k} | {} |", L::NAME, summary(&mut ns));
    }
}

/// Read pairs slower than this are counted apart (stalled).
const STALL_NS: u64 = 1_000;

/// The value at quantile `q` of sorted `v`.
fn quantile(v: &[u64], q: f64) -> u64 {
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// One reader thread times every read pair while a writer thread writes
/// `writes` times, one write every `gap` (spinning, so the writer stays on
/// its core), with 2 idle readers registered. With `write` false the writer
/// thread only spins for as long: the reader's tail from the machine alone
/// (timer, interrupts, preemption), the floor the other rows stand on.
fn reader_stall_of<L: Rw>(writes: usize, gap: Duration, label: &str, write: bool) {
    let lock = L::new();
    let done = AtomicBool::new(false);
    let started = AtomicBool::new(false);
    let (mut read_ns, mut write_ns) = with_idle_readers(&lock, 2, || {
        thread::scope(|s| {
            let reader = s.spawn(|| {
                black_box(lock.read());
                let mut read_ns = Vec::with_capacity(1 << 20);
                while !done.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    black_box(black_box(&lock).read());
                    read_ns.push(t0.elapsed().as_nanos() as u64);
                    if read_ns.len() == 1 {
                        // The writer starts once the reader is running.
                        started.store(true, Ordering::Release);
                    }
                }
                read_ns
            });
            while !started.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            let spin = |d: Duration| {
                let t = Instant::now();
                while t.elapsed() < d {
                    std::hint::spin_loop();
                }
            };
            spin(gap);
            let mut write_ns = Vec::with_capacity(writes);
            for _ in 0..writes {
                if write {
                    let t0 = Instant::now();
                    black_box(&lock).write();
                    write_ns.push(t0.elapsed().as_nanos() as u64);
                }
                spin(gap);
            }
            done.store(true, Ordering::Relaxed);
            let read_ns = reader.join().expect("reader thread");
            (read_ns, write_ns)
        })
    });
    read_ns.sort_unstable();
    let stalled = read_ns.len() - read_ns.partition_point(|&ns| ns <= STALL_NS);
    println!(
        "| {label} | {} | {} | {} | {} | {} | {} | {:.1} | {stalled} | {} |",
        write_ns.len(),
        read_ns.len(),
        quantile(&read_ns, 0.5),
        quantile(&read_ns, 0.999),
        quantile(&read_ns, 0.9999),
        quantile(&read_ns, 0.99999),
        quantile(&read_ns, 1.0) as f64 / 1000.0,
        summary(&mut write_ns)
    );
}

fn stall_row<L: Rw>(writes: usize, gap: Duration) {
    reader_stall_of::<L>(writes, gap, L::NAME, true);
}

fn latency_tables(_: &mut Criterion) {
    let mode = mode("percpu_write_latency");
    if !mode.run {
        return;
    }
    let (writes, stall_writes) = if mode.smoke { (20, 5) } else { (20_000, 2_000) };
    let gap = Duration::from_micros(100);
    println!(
        "\npercpu barrier: {:?}\n\nwrite lock+unlock, each timed alone ({writes} writes; \
         the clock adds ~25 ns), µs:\n\n\
         | lock | idle readers | median | p99 | max |\n|---|---:|---:|---:|---:|",
        kernsync::percpu::barrier()
    );
    each_lock!(writer_latency_of(writes));
    println!(
        "\nreader stall: one reader times every read pair (the clock included) while a writer \
         writes every {gap:?}, 2 idle readers registered; read quantiles in ns, max in µs, \
         stalled = reads over {STALL_NS} ns; writes in µs:\n\n\
         | lock | writes | reads | read p50 | p99.9 | p99.99 | p99.999 | read max µs \
         | stalled | write median | write p99 | write max |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    reader_stall_of::<PercpuRwSem<u64>>(stall_writes, gap, "no writer (kernsync_percpu)", false);
    each_lock!(stall_row(stall_writes, gap));
    println!();
}

// ---- percpu_scaling_paired -----------------------------------------------

/// `threads` threads each do `each` read pairs on `lock`, started together
/// off a spinning barrier after each has read once; the time from the first
/// one's start to the last one's end.
fn burst<L: Rw>(lock: &L, threads: usize, each: u64) -> Duration {
    let arrived = AtomicUsize::new(0);
    let spans: Vec<(Instant, Instant)> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let arrived = &arrived;
                s.spawn(move || {
                    black_box(lock.read());
                    arrived.fetch_add(1, Ordering::AcqRel);
                    while arrived.load(Ordering::Acquire) < threads {
                        std::hint::spin_loop();
                    }
                    let t0 = Instant::now();
                    for _ in 0..each {
                        black_box(black_box(lock).read());
                    }
                    (t0, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("reader thread"))
            .collect()
    });
    let first = spans.iter().map(|s| s.0).min().expect("a reader");
    let last = spans.iter().map(|s| s.1).max().expect("a reader");
    last - first
}

/// One row of the paired scaling table: `reps` pairs of bursts, one thread
/// then two (the order alternating), each thread doing about `target`'s
/// worth of read pairs; the 2-vs-1 throughput ratio of each pair, so the
/// machine's drift over seconds (which moves criterion's separate 1- and
/// 2-thread estimates apart) cancels within a pair.
fn paired_scaling_of<L: Rw>(reps: usize, target: Duration) {
    let lock = L::new();
    let probe = 200_000;
    let per = burst(&lock, 1, probe).as_secs_f64() / probe as f64;
    let each = ((target.as_secs_f64() / per.max(1e-10)) as u64).max(1_000);
    let (mut one, mut two, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..reps {
        let (t1, t2) = if rep.is_multiple_of(2) {
            let t1 = burst(&lock, 1, each);
            (t1, burst(&lock, 2, each))
        } else {
            let t2 = burst(&lock, 2, each);
            (burst(&lock, 1, each), t2)
        };
        one.push(t1.as_secs_f64() * 1e9 / each as f64);
        two.push(t2.as_secs_f64() * 1e9 / (2 * each) as f64);
        ratio.push(2.0 * t1.as_secs_f64() / t2.as_secs_f64());
    }
    let med = |v: &mut Vec<f64>, q: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * q).round() as usize]
    };
    println!(
        "| {} | {:.2} | {:.2} | **{:.2}x** | {:.2}x | {:.2}x | {:.2}x |",
        L::NAME,
        med(&mut one, 0.5),
        med(&mut two, 0.5),
        med(&mut ratio, 0.5),
        med(&mut ratio, 0.25),
        med(&mut ratio, 0.75),
        med(&mut ratio, 0.0),
    );
}

fn paired_scaling(_: &mut Criterion) {
    let mode = mode("percpu_scaling_paired");
    if !mode.run {
        return;
    }
    let (reps, target) = if mode.smoke {
        (2, Duration::from_micros(200))
    } else {
        (40, Duration::from_millis(20))
    };
    println!(
        "\nread scaling, paired: {reps} pairs of bursts (1 thread, then 2; ~{target:?} of read \
         pairs per thread each); ns per read pair over all threads, and the 2-vs-1 throughput \
         ratio of each pair:\n\n\
         | lock | 1 thread ns | 2 threads ns | 2 vs 1 median | p25 | p75 | min |\n\
         |---|---:|---:|---:|---:|---:|---:|"
    );
    each_lock!(paired_scaling_of(reps, target));
    paired_scaling_of::<Unlocked>(reps, target);
    println!();
}

criterion_group!(
    benches,
    read_pair,
    read_scaling,
    write,
    latency_tables,
    paired_scaling
);
criterion_main!(benches);
