//! Shared bodies of the bounded stress tests of `PercpuRwSem`: the data a
//! torn update shows in, an independent count of who is inside, a watchdog
//! that fails a hung run, and the two workloads run under both barriers
//! (readers and writers excluding each other; a writer among hammering
//! readers).
//!
//! No thread panics while it holds the lock (a panic there would leave the
//! others waiting for it): a broken invariant is recorded in [`Checker`] and
//! asserted after every thread has been joined.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kernsync_percpu::PercpuRwSem;

/// How long a timed acquisition may take before the run counts as failed:
/// generous, so a loaded 2-core CI machine never trips it, yet bounded.
pub const BOUND: Duration = Duration::from_secs(10);

/// Per-test limit after which the watchdog aborts the process.
pub const WATCHDOG: Duration = Duration::from_secs(90);

/// Reader threads: one per core, at least two.
pub fn cores() -> usize {
    thread::available_parallelism().map_or(2, |n| n.get().max(2))
}

/// Aborts the process if it is not dropped within its limit: the last line
/// of defence against an untimed `read()`/`write()` that never returns (a
/// lost wake-up), which would otherwise hang CI instead of failing.
pub struct Watchdog {
    _done: mpsc::Sender<()>,
}

impl Watchdog {
    /// Starts watching `what` for `limit`.
    pub fn new(what: &'static str, limit: Duration) -> Watchdog {
        let (done, rx) = mpsc::channel::<()>();
        thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!("{what}: still running after {limit:?}: a thread hangs in the lock");
                std::process::abort();
            }
        });
        Watchdog { _done: done }
    }
}

/// Data whose update is spread over several fields and a `Vec` whose length
/// changes, so a reader overlapping a writer sees a mix of two generations.
#[derive(Debug)]
pub struct Shared {
    /// The number of updates so far; every other field is derived from it.
    pub generation: u64,
    head: u64,
    items: Vec<u64>,
    tail: u64,
}

impl Shared {
    /// Generation 0.
    pub fn new() -> Shared {
        Shared {
            generation: 0,
            head: 0,
            items: vec![0; Shared::len_for(0)],
            tail: !0,
        }
    }

    fn len_for(generation: u64) -> usize {
        1 + (generation % 13) as usize
    }

    /// The next generation, written field by field (head, items, tail, then
    /// the generation), with a pause in the middle to widen the window in
    /// which a reader let in too early would see it half done.
    pub fn update(&mut self) {
        let next = self.generation + 1;
        self.head = next;
        for x in &mut self.items {
            *x = next;
        }
        for _ in 0..32 {
            std::hint::spin_loop();
        }
        self.items.resize(Shared::len_for(next), next);
        self.tail = !next;
        self.generation = next;
    }

    /// The generation, if every field agrees with it.
    pub fn check(&self) -> Result<u64, String> {
        let g = self.generation;
        let whole = self.head == g
            && self.tail == !g
            && self.items.len() == Shared::len_for(g)
            && self.items.iter().all(|&x| x == g);
        if whole {
            Ok(g)
        } else {
            Err(format!("torn view at generation {g}: {self:?}"))
        }
    }
}

impl Default for Shared {
    fn default() -> Shared {
        Shared::new()
    }
}

/// Who is inside, counted independently of the lock, and the first broken
/// invariant any thread saw.
#[derive(Default)]
pub struct Checker {
    readers: AtomicUsize,
    writers: AtomicUsize,
    failed: AtomicBool,
    first: Mutex<Option<String>>,
}

impl Checker {
    /// Records a failure (the first one is kept); never panics.
    pub fn fail(&self, what: impl Into<String>) {
        if !self.failed.swap(true, Ordering::SeqCst) {
            if let Ok(mut first) = self.first.lock() {
                *first = Some(what.into());
            }
        }
    }

    /// Whether any thread recorded a failure (loops stop early on one).
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Panics with the first failure, if any. Call after joining.
    pub fn assert_ok(&self) {
        if self.failed.load(Ordering::SeqCst) {
            let first = self.first.lock().map(|f| f.clone()).ok().flatten();
            panic!("{}", first.unwrap_or_else(|| "failure lost".into()));
        }
    }

    /// A reader's critical section over `data`: counts itself in, checks
    /// that no writer is inside and that the view is whole, and returns the
    /// generation it saw.
    pub fn read_section(&self, data: &Shared) -> Option<u64> {
        self.readers.fetch_add(1, Ordering::SeqCst);
        if self.writers.load(Ordering::SeqCst) != 0 {
            self.fail("a reader inside with a writer");
        }
        let seen = data.check();
        // Check the view again after a second look at the writers: a writer
        // let in meanwhile is caught either here or by its own check.
        if self.writers.load(Ordering::SeqCst) != 0 {
            self.fail("a writer came in during a read");
        }
        self.readers.fetch_sub(1, Ordering::SeqCst);
        match seen {
            Ok(g) => Some(g),
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    /// A writer's critical section: counts itself in, checks that it is
    /// alone and that the previous writer's update is whole, updates.
    pub fn write_section(&self, data: &mut Shared) {
        if self.writers.fetch_add(1, Ordering::SeqCst) != 0 {
            self.fail("two writers inside");
        }
        if self.readers.load(Ordering::SeqCst) != 0 {
            self.fail("a writer inside with readers");
        }
        if let Err(e) = data.check() {
            self.fail(format!("writer found: {e}"));
        }
        data.update();
        if self.readers.load(Ordering::SeqCst) != 0 {
            self.fail("a reader came in during a write");
        }
        self.writers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A reader's one read of `lock`, by the method `i` picks (blocking, try,
/// timed for, timed until). Returns the generation seen, or `None` if an
/// immediate try was refused or the read failed (recorded).
fn read_once(lock: &PercpuRwSem<Shared>, checker: &Checker, i: usize) -> Option<u64> {
    match i % 8 {
        0 => lock.try_read().and_then(|g| checker.read_section(&g)),
        1 => match lock.try_read_for(BOUND) {
            Some(g) => checker.read_section(&g),
            None => {
                checker.fail(format!("try_read_for timed out after {BOUND:?}"));
                None
            }
        },
        2 => match lock.try_read_until(Instant::now() + BOUND) {
            Some(g) => checker.read_section(&g),
            None => {
                checker.fail(format!("try_read_until timed out after {BOUND:?}"));
                None
            }
        },
        _ => checker.read_section(&lock.read()),
    }
}

/// A writer's one write, by the method `j` picks (timed for, try falling
/// back to blocking, timed until, blocking). Returns how long it waited for
/// the lock, or `None` if it timed out (recorded).
fn write_once(lock: &PercpuRwSem<Shared>, checker: &Checker, j: usize) -> Option<Duration> {
    let start = Instant::now();
    let guard = match j % 4 {
        0 => lock.try_write_for(BOUND),
        1 => lock.try_write().or_else(|| Some(lock.write())),
        2 => lock.try_write_until(start + BOUND),
        _ => Some(lock.write()),
    };
    let waited = start.elapsed();
    match guard {
        Some(mut g) => {
            checker.write_section(&mut g);
            Some(waited)
        }
        None => {
            checker.fail(format!("a write timed out after {BOUND:?}"));
            None
        }
    }
}

/// What [`exclusion`] saw.
#[derive(Debug)]
pub struct ExclusionStats {
    /// Read sections entered, over all readers.
    pub reads: usize,
    /// Writes made, over all writers.
    pub writes: u64,
    /// Reads that saw a generation neither 0 nor the last one: made while
    /// the writers were running, so the two sides did interleave.
    pub interleaved_reads: usize,
}

/// `readers` threads read `lock` by every method for as long as the writers
/// run (at least `min_reads` each, at most `max_reads`), while `writers`
/// threads make `writes_each` updates each by every method. Checks that no
/// writer overlaps a reader or a writer, that every view is whole, that each
/// reader sees generations in order, and that no update is lost.
pub fn exclusion(
    lock: &PercpuRwSem<Shared>,
    readers: usize,
    writers: usize,
    writes_each: usize,
    min_reads: usize,
    max_reads: usize,
) -> ExclusionStats {
    let checker = Checker::default();
    let writers_left = AtomicUsize::new(writers);
    let start = Barrier::new(readers + writers);
    let total = (writers * writes_each) as u64;
    let (reads, interleaved) = thread::scope(|s| {
        for _ in 0..writers {
            s.spawn(|| {
                start.wait();
                for j in 0..writes_each {
                    if checker.failed() || write_once(lock, &checker, j).is_none() {
                        break;
                    }
                    if j % 8 == 0 {
                        // Let the readers back onto the fast path now and then.
                        thread::yield_now();
                    }
                }
                writers_left.fetch_sub(1, Ordering::SeqCst);
            });
        }
        let readers: Vec<_> = (0..readers)
            .map(|r| {
                let (checker, start, writers_left) = (&checker, &start, &writers_left);
                s.spawn(move || {
                    start.wait();
                    let (mut reads, mut interleaved, mut last) = (0, 0, 0);
                    for i in 0..max_reads {
                        if checker.failed()
                            || (i >= min_reads && writers_left.load(Ordering::Relaxed) == 0)
                        {
                            break;
                        }
                        let Some(g) = read_once(lock, checker, i + r) else {
                            continue;
                        };
                        reads += 1;
                        if g < last {
                            checker.fail(format!("generation went back from {last} to {g}"));
                        }
                        last = g;
                        if g != 0 && g != total {
                            interleaved += 1;
                        }
                    }
                    (reads, interleaved)
                })
            })
            .collect();
        readers
            .into_iter()
            .map(|h| h.join().expect("reader panicked"))
            .fold((0, 0), |(a, b), (r, i)| (a + r, b + i))
    });
    checker.assert_ok();
    assert!(!lock.is_locked(), "lock still held after every thread left");
    let last = lock.read().check().expect("final state torn");
    assert_eq!(last, total, "an update was lost");
    ExclusionStats {
        reads,
        writes: last,
        interleaved_reads: interleaved,
    }
}

/// What [`hammer`] measured.
#[derive(Debug)]
pub struct HammerStats {
    /// Reads made while the writer ran, over all readers.
    pub reads: usize,
    /// The slowest write, from asking for the lock to holding it.
    pub max_latency: Duration,
    /// The mean write latency.
    pub mean_latency: Duration,
}

/// One reader's count of reads, alone on its cache line (so the count the
/// writer polls does not slow the other readers down).
#[derive(Default)]
#[repr(align(128))]
struct Progress(AtomicUsize);

/// Reads each reader makes after a write before the next write starts: the
/// readers are back on the fast path, hammering, when the writer comes.
const READS_BETWEEN_WRITES: usize = 64;

/// `readers` threads re-read `lock` in a tight loop (each read holding the
/// lock through a whole-view check) while one writer makes `writes` updates,
/// each of which must get the lock within [`BOUND`]. Before each write the
/// writer waits until every reader has read again a few times, so each
/// write meets readers in full flow. Readers stop when the writer is done,
/// or after `max_reads` (a bound never reached in practice).
pub fn hammer(
    lock: &PercpuRwSem<Shared>,
    readers: usize,
    writes: usize,
    max_reads: usize,
) -> HammerStats {
    let checker = Checker::default();
    let stop = AtomicBool::new(false);
    let progress: Vec<Progress> = (0..readers).map(|_| Progress::default()).collect();
    let base = lock.read().check().expect("initial state torn");
    let (reads, latencies) = thread::scope(|s| {
        let handles: Vec<_> = progress
            .iter()
            .map(|mine| {
                let (checker, stop) = (&checker, &stop);
                s.spawn(move || {
                    let mut reads = 0;
                    let mut last = 0;
                    while reads < max_reads && !stop.load(Ordering::Relaxed) && !checker.failed() {
                        // Mostly the blocking read; a timed one now and then
                        // so a lost wake-up shows as a failure, not a hang.
                        let g = if reads % 16 == 15 {
                            match lock.try_read_for(BOUND) {
                                Some(g) => checker.read_section(&g),
                                None => {
                                    checker.fail(format!("a read timed out after {BOUND:?}"));
                                    break;
                                }
                            }
                        } else {
                            checker.read_section(&lock.read())
                        };
                        reads += 1;
                        mine.0.store(reads, Ordering::Relaxed);
                        if let Some(g) = g {
                            if g < last {
                                checker.fail(format!("generation went back from {last} to {g}"));
                            }
                            last = g;
                        }
                    }
                    // Done (or failed): the writer no longer waits for us.
                    mine.0.store(usize::MAX, Ordering::Relaxed);
                    reads
                })
            })
            .collect();
        let mut latencies = Vec::with_capacity(writes);
        let mut seen = vec![0usize; readers];
        for j in 0..writes {
            // Wait (holding nothing) until every reader has read again.
            let begin = Instant::now();
            for (p, seen) in progress.iter().zip(&mut seen) {
                while p.0.load(Ordering::Relaxed) < seen.saturating_add(READS_BETWEEN_WRITES) {
                    if begin.elapsed() > BOUND {
                        checker.fail(format!("readers made no progress after write {j}"));
                        break;
                    }
                    // Sleep, not spin: the readers keep both cores.
                    thread::sleep(Duration::from_micros(50));
                }
                *seen = p.0.load(Ordering::Relaxed);
            }
            if checker.failed() {
                break;
            }
            let start = Instant::now();
            let guard = if j % 2 == 0 {
                lock.try_write_for(BOUND)
            } else {
                lock.try_write_until(start + BOUND)
            };
            let waited = start.elapsed();
            match guard {
                Some(mut g) => {
                    checker.write_section(&mut g);
                    latencies.push(waited);
                }
                None => checker.fail(format!(
                    "write {j} of {writes} not done within {BOUND:?} under hammering readers"
                )),
            }
        }
        stop.store(true, Ordering::SeqCst);
        let reads: usize = handles
            .into_iter()
            .map(|h| h.join().expect("reader panicked"))
            .sum();
        (reads, latencies)
    });
    checker.assert_ok();
    assert_eq!(latencies.len(), writes);
    assert_eq!(
        lock.read().check().expect("final state torn"),
        base + writes as u64,
        "an update was lost"
    );
    let max_latency = latencies.iter().copied().max().unwrap_or_default();
    let mean_latency = latencies.iter().sum::<Duration>() / writes.max(1) as u32;
    HammerStats {
        reads,
        max_latency,
        mean_latency,
    }
}
