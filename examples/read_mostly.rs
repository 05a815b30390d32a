//! A read-mostly table under `PercpuRwSem` and under `parking_lot::RwLock`:
//! reader threads look entries up as fast as they can while one writer
//! rewrites the whole table every few milliseconds. Prints the lookups per
//! second for 1 to n reader threads (n: the available parallelism, at least
//! 2) with both locks, and their ratio.
//!
//! Every lookup also checks the table's invariant (each entry carries the
//! table's version), so the run shows that readers see each update whole,
//! never half of one, and never an older table after a newer one; and each
//! reader goes on until it has seen the writer's last update.
//!
//! A rough demo, a few seconds long: `cargo bench -- percpu` is the
//! measurement. Run: `cargo run --release --example read_mostly` (a debug
//! build runs too, but its numbers mean nothing).
//!
//! The workload is a function that `tests/example_scenarios.rs` runs too.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use kernsync::percpu::PercpuRwSem;

/// Entries in the table.
pub(crate) const ENTRIES: usize = 256;

/// One entry: its value, and the table version that wrote it.
#[derive(Clone, Copy)]
struct Entry {
    version: u64,
    value: u64,
}

/// The table: every entry's `version` equals the table's `version`, and its
/// value is `value_of(key, version)`. A writer updates the entries one by
/// one, so a reader that saw a half-done update would break the invariant.
pub(crate) struct Table {
    version: u64,
    entries: [Entry; ENTRIES],
}

/// The value of `key` in version `version`.
fn value_of(key: usize, version: u64) -> u64 {
    (key as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ version
}

impl Table {
    fn new() -> Table {
        let mut table = Table {
            version: 0,
            entries: [Entry {
                version: 0,
                value: 0,
            }; ENTRIES],
        };
        table.rewrite(0);
        table
    }

    /// Rewrites every entry for `version`.
    fn rewrite(&mut self, version: u64) {
        self.version = version;
        for (key, e) in self.entries.iter_mut().enumerate() {
            *e = Entry {
                version,
                value: value_of(key, version),
            };
        }
    }

    /// The value of `key` and the table's version, or `None` if the entry
    /// does not match the table (an update seen half done).
    fn lookup(&self, key: usize) -> Option<(u64, u64)> {
        let e = self.entries[key % ENTRIES];
        (e.version == self.version && e.value == value_of(key % ENTRIES, e.version))
            .then_some((e.value, self.version))
    }
}

/// A reader/writer lock around a [`Table`], the two contenders.
pub(crate) trait TableLock: Sync + Sized {
    /// The name in the output.
    const NAME: &'static str;
    /// A lock holding `table`.
    fn new(table: Table) -> Self;
    /// `f` on the table, read-locked.
    fn read<R>(&self, f: impl FnOnce(&Table) -> R) -> R;
    /// `f` on the table, write-locked.
    fn write<R>(&self, f: impl FnOnce(&mut Table) -> R) -> R;
}

impl TableLock for PercpuRwSem<Table> {
    const NAME: &'static str = "PercpuRwSem";
    fn new(table: Table) -> Self {
        PercpuRwSem::new(table)
    }
    fn read<R>(&self, f: impl FnOnce(&Table) -> R) -> R {
        f(&PercpuRwSem::read(self))
    }
    fn write<R>(&self, f: impl FnOnce(&mut Table) -> R) -> R {
        f(&mut PercpuRwSem::write(self))
    }
}

impl TableLock for parking_lot::RwLock<Table> {
    const NAME: &'static str = "parking_lot::RwLock";
    fn new(table: Table) -> Self {
        parking_lot::RwLock::new(table)
    }
    fn read<R>(&self, f: impl FnOnce(&Table) -> R) -> R {
        f(&parking_lot::RwLock::read(self))
    }
    fn write<R>(&self, f: impl FnOnce(&mut Table) -> R) -> R {
        f(&mut parking_lot::RwLock::write(self))
    }
}

/// What one run saw.
#[derive(Debug)]
pub(crate) struct Run {
    /// Lookups, over all readers.
    pub(crate) lookups: u64,
    /// Lookups per second, summed over the readers.
    pub(crate) per_second: f64,
    /// Lookups that found an entry of another version than its table's.
    pub(crate) torn: u64,
    /// Lookups that saw an older table than the reader's previous lookup.
    pub(crate) went_back: u64,
    /// The writer's updates.
    pub(crate) writes: u64,
    /// The newest version every reader saw (the least of their newest).
    pub(crate) seen_by_all: u64,
    /// The table's version at the end.
    pub(crate) final_version: u64,
}

/// What one reader saw.
#[derive(Default)]
struct Seen {
    lookups: u64,
    elapsed: Duration,
    torn: u64,
    went_back: u64,
    newest: u64,
}

/// Lookups between two looks at the stop flag.
const BATCH: u64 = 256;

/// Looks up keys until `stop` is set and it has seen version `last`
/// (`u64::MAX` until the writer has made its last update).
fn reader<L: TableLock>(lock: &L, seed: u64, stop: &AtomicBool, last: &AtomicU64) -> Seen {
    let began = Instant::now();
    let mut seen = Seen::default();
    let mut key = seed;
    let mut sum = 0u64;
    // Acquire: pairs with the writer's Release store of `last`, made after
    // its last update.
    while !(stop.load(Ordering::Relaxed) && seen.newest >= last.load(Ordering::Acquire)) {
        for _ in 0..BATCH {
            // xorshift: a cheap, varying key.
            key ^= key << 13;
            key ^= key >> 7;
            key ^= key << 17;
            match lock.read(|t| t.lookup(key as usize)) {
                Some((value, version)) => {
                    sum = sum.wrapping_add(value);
                    if version < seen.newest {
                        seen.went_back += 1;
                    }
                    seen.newest = seen.newest.max(version);
                }
                None => seen.torn += 1,
            }
        }
        seen.lookups += BATCH;
    }
    black_box(sum);
    seen.elapsed = began.elapsed();
    seen
}

/// Runs `readers` reader threads for about `duration` on a table under `L`,
/// with one writer rewriting it every `write_every` (at least once).
pub(crate) fn run<L: TableLock>(readers: usize, duration: Duration, write_every: Duration) -> Run {
    let lock = L::new(Table::new());
    let stop = AtomicBool::new(false);
    let last = AtomicU64::new(u64::MAX);
    let start = Barrier::new(readers + 2);
    let (seen, writes) = thread::scope(|s| {
        let handles: Vec<_> = (0..readers)
            .map(|i| {
                let (lock, stop, last, start) = (&lock, &stop, &last, &start);
                s.spawn(move || {
                    start.wait();
                    reader(lock, 0x2545_f491_4f6c_dd1d ^ (i as u64 + 1), stop, last)
                })
            })
            .collect();
        let writer = s.spawn(|| {
            start.wait();
            let mut writes = 0;
            loop {
                let version = lock.write(|t| {
                    t.rewrite(t.version + 1);
                    t.version
                });
                writes += 1;
                thread::sleep(write_every);
                if stop.load(Ordering::Relaxed) {
                    // Release: pairs with the readers' Acquire load.
                    last.store(version, Ordering::Release);
                    return writes;
                }
            }
        });
        start.wait();
        thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        let seen: Vec<Seen> = handles
            .into_iter()
            .map(|h| h.join().expect("reader"))
            .collect();
        (seen, writer.join().expect("writer"))
    });
    Run {
        lookups: seen.iter().map(|s| s.lookups).sum(),
        per_second: seen
            .iter()
            .map(|s| s.lookups as f64 / s.elapsed.as_secs_f64())
            .sum(),
        torn: seen.iter().map(|s| s.torn).sum(),
        went_back: seen.iter().map(|s| s.went_back).sum(),
        writes,
        seen_by_all: seen.iter().map(|s| s.newest).min().unwrap_or(0),
        final_version: lock.read(|t| t.version),
    }
}

/// Checks what the example claims of a run: every lookup saw a whole table,
/// never an older one than before; every update was applied, and every
/// reader saw the last one.
pub(crate) fn check(name: &str, run: &Run) {
    assert_eq!(run.torn, 0, "{name}: a reader saw an update half done");
    assert_eq!(run.went_back, 0, "{name}: a reader saw an older table");
    assert!(run.writes >= 1 && run.lookups >= 1, "{name}: {run:?}");
    assert_eq!(run.final_version, run.writes, "{name}: an update was lost");
    assert_eq!(
        run.seen_by_all, run.final_version,
        "{name}: a reader missed the last update"
    );
}

fn main() {
    let n = thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    let mut counts: Vec<usize> = std::iter::successors(Some(1), |t| Some(t * 2))
        .take_while(|&t| t < n)
        .collect();
    counts.push(n);
    let (duration, write_every) = (Duration::from_millis(300), Duration::from_millis(5));

    println!(
        "read_mostly: readers look up entries of a {ENTRIES}-entry table; one writer rewrites \
         it every {write_every:?}; each figure is one {duration:?} run"
    );
    println!("a rough demo, not a measurement: that is `cargo bench -- percpu`");
    if cfg!(debug_assertions) {
        println!(
            "note: this is a debug build, so these numbers are meaningless (no optimisation, \
             and every read is checked by the validator); run \
             `cargo run --release --example read_mostly`"
        );
    }
    println!(
        "\n{:>7}  {:>21}  {:>21}  {:>6}",
        "readers",
        format!("{} M/s", <PercpuRwSem<Table> as TableLock>::NAME),
        format!("{} M/s", <parking_lot::RwLock<Table> as TableLock>::NAME),
        "ratio"
    );
    let (mut writes, mut lookups) = (0, 0);
    for &readers in &counts {
        let percpu = run::<PercpuRwSem<Table>>(readers, duration, write_every);
        check("PercpuRwSem", &percpu);
        let rwlock = run::<parking_lot::RwLock<Table>>(readers, duration, write_every);
        check("parking_lot::RwLock", &rwlock);
        println!(
            "{readers:>7}  {:>21.1}  {:>21.1}  {:>5.1}x",
            percpu.per_second / 1e6,
            rwlock.per_second / 1e6,
            percpu.per_second / rwlock.per_second
        );
        writes += percpu.writes + rwlock.writes;
        lookups += percpu.lookups + rwlock.lookups;
    }
    println!(
        "\nchecked: all {lookups} lookups saw whole tables, never an older one than before; \
         {writes} updates, none seen half done, and every reader saw the last of each run"
    );
}
