//! A gallery of the validator's reports: each case runs a few lines of
//! locking under `capture` and prints what the validator said about them.
//!
//! Shown: an ABBA cycle; the recursive read rules (a second `read()` of a
//! lock the thread reads is reported, `read_recursive()` is not; of three
//! read/write cycles, the two strong ones are reported and the one entered
//! by a recursive read and left by a shared hold is not); two locks of one
//! class nested, with and without a subclass; a declared order taken in
//! reverse; an allocation under a no-alloc lock (`might_alloc()`) and inside
//! `no_alloc(|| ..)` (seen by the `CheckedAlloc` global allocator); sleeping
//! in an atomic section (`might_sleep()`, a mutex in an atomic notifier
//! callback); an unlock of a lock not held; a failed `assert_held`; a
//! thread that exits holding a lock; and a tracked async task that holds a
//! (thread-bound) mutex guard across an `.await`. Nothing here ever blocks: one thread
//! shows what two threads could deadlock on.
//!
//! Run: `cargo run --example lockdep_report` (validation is on in debug
//! builds; prints every report and exits 0). In a release build validation
//! is compiled out unless the `lockdep` feature keeps it:
//! `cargo run --release --features lockdep --example lockdep_report`.
//!
//! The cases are a table that `tests/example_scenarios.rs` runs too.

use std::hint::black_box;
use std::sync::{Mutex as StdMutex, PoisonError};
use std::thread;

use kernsync::lockdep::ReportKind::*;
use kernsync::lockdep::{
    action, atomic_section, capture, is_enabled, might_alloc, might_sleep, no_alloc, set_action,
    set_handler, Action, LockClass, LockMap, Mode, Report, ReportKind, COMPILED_IN,
};
use kernsync::notifier::{AtomicNotifierChain, Verdict};
use kernsync::rwsem::{Mutex, RwSem};

// Every allocation is a `might_alloc()` (case 11). The integration test that
// runs these cases installs its own.
#[cfg(not(test))]
#[global_allocator]
static ALLOC: kernsync::lockdep::CheckedAlloc =
    kernsync::lockdep::CheckedAlloc::new(std::alloc::System);

/// One case of the gallery.
pub(crate) struct Case {
    /// What the code does, in one line.
    pub(crate) does: &'static str,
    /// The reports it raises, in order (none: the code is fine).
    pub(crate) expect: &'static [ReportKind],
    /// Runs the code, returning what the validator reported on this thread.
    pub(crate) run: fn() -> Vec<Report>,
}

/// The gallery, in the order it is shown. Each case uses classes of its own:
/// the graph is one per process and each problem is reported once.
pub(crate) const GALLERY: &[Case] = &[
    Case {
        does: "ABBA: Mutex a then b; later, on the same thread, b then a",
        expect: &[CircularDependency],
        run: abba,
    },
    Case {
        does: "RwSem::read() of a lock this thread already reads (hangs if a writer queues between the two)",
        expect: &[RecursiveLocking],
        run: read_twice,
    },
    Case {
        does: "RwSem::read() then read_recursive() of the same lock (never waits for a queued writer): allowed",
        expect: &[],
        run: read_then_read_recursive,
    },
    Case {
        does: "write A, read B; later read B, write A: A -(EN)-> B -(SN)-> A is a strong cycle",
        expect: &[CircularDependency],
        run: read_write_cycle,
    },
    Case {
        does: "write A, read_recursive B; later read B, write A: A -(ER)-> B -(SN)-> A is not (B entered by R, left by S)",
        expect: &[],
        run: recursive_read_breaks_the_cycle,
    },
    Case {
        does: "write A, read_recursive B; later write B, read_recursive A: a cycle of -(ER)-> edges is a deadlock",
        expect: &[CircularDependency],
        run: exclusive_recursive_cycle,
    },
    Case {
        does: "two Mutexes of one class (\"inode\"), parent then child, with no nesting annotation",
        expect: &[RecursiveLocking],
        run: same_class_nested,
    },
    Case {
        does: "the same, the child taken with lock_nested(1) (subclass 1: ordered parent then child): allowed",
        expect: &[],
        run: same_class_subclass,
    },
    Case {
        does: "class \"devices\" is declared before \"irq_desc\"; irq_desc is held when devices is taken",
        expect: &[OrderViolation],
        run: declared_order_reversed,
    },
    Case {
        does: "might_alloc() while holding a Mutex of the no-alloc class \"pool_lock\"",
        expect: &[AllocUnderNoAlloc],
        run: might_alloc_under_no_alloc_lock,
    },
    Case {
        does: "Box::new inside no_alloc(|| ..), seen by the CheckedAlloc global allocator",
        expect: &[AllocUnderNoAlloc],
        run: allocation_in_no_alloc_scope,
    },
    Case {
        does: "might_sleep() inside atomic_section(|| ..)",
        expect: &[SleepInAtomic],
        run: might_sleep_in_atomic_section,
    },
    Case {
        does: "Mutex::lock in a callback of an AtomicNotifierChain (its callbacks run in an atomic section)",
        expect: &[SleepInAtomic],
        run: mutex_in_atomic_notifier,
    },
    Case {
        does: "a raw lock released twice (the second release: a lock this thread does not hold)",
        expect: &[BadUnlock],
        run: unlock_twice,
    },
    Case {
        does: "Mutex::assert_held() on a mutex this thread does not hold",
        expect: &[AssertionFailed],
        run: assert_held_fails,
    },
    Case {
        does: "a thread forgets a Mutex guard (mem::forget) and exits holding the lock",
        expect: &[LocksHeldAtExit],
        run: thread_exits_holding_a_lock,
    },
    Case {
        does: "a tracked async task holds a (thread-bound) Mutex guard across an .await",
        expect: &[HeldAcrossAwait],
        run: held_across_await,
    },
];

fn abba() -> Vec<Report> {
    static A: LockClass = LockClass::new("mutex_a");
    static B: LockClass = LockClass::new("mutex_b");
    let (a, b) = (Mutex::with_class(0, &A), Mutex::with_class(0, &B));
    let ((), reports) = capture(|| {
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        let _b = b.lock();
        let _a = a.lock(); // reported here: mutex_a -> mutex_b -> mutex_a
    });
    reports
}

// Clippy's `await_holding_lock` sees this guard statically; the case shows
// what the validator finds at run time in code clippy cannot see into.
#[allow(clippy::await_holding_lock)]
fn held_across_await() -> Vec<Report> {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};
    static STATS: LockClass = LockClass::new("task_stats");
    let stats = Mutex::with_class(0, &STATS);
    // One `.await` point: `Pending` once, then ready.
    let mut yielded = false;
    let await_point = std::future::poll_fn(move |cx| {
        if std::mem::replace(&mut yielded, true) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    });
    let ((), reports) = capture(|| {
        let mut task = pin!(kernsync::future::tracked_named("flush", async {
            let mut s = stats.lock();
            await_point.await; // reported here: every task needing stats on this worker stalls
            *s += 1;
        }));
        let mut cx = Context::from_waker(Waker::noop());
        while task.as_mut().poll(&mut cx).is_pending() {}
    });
    reports
}

fn read_twice() -> Vec<Report> {
    static CONFIG: LockClass = LockClass::new("config");
    let config = RwSem::with_class(0, &CONFIG);
    let ((), reports) = capture(|| {
        let _first = config.read();
        let _second = config.read(); // behind a queued writer, this waits forever
    });
    reports
}

fn read_then_read_recursive() -> Vec<Report> {
    static CONFIG: LockClass = LockClass::new("config_recursive");
    let config = RwSem::with_class(0, &CONFIG);
    let ((), reports) = capture(|| {
        let _first = config.read();
        let _second = config.read_recursive(); // passes a queued writer
    });
    reports
}

/// Runs `first` then `second`, each a path through the locks `a` and `b`.
fn two_paths(
    a: &'static LockClass,
    b: &'static LockClass,
    first: fn(&RwSem<u32>, &RwSem<u32>),
    second: fn(&RwSem<u32>, &RwSem<u32>),
) -> Vec<Report> {
    let (a, b) = (RwSem::with_class(0, a), RwSem::with_class(0, b));
    let ((), reports) = capture(|| {
        first(&a, &b);
        second(&a, &b);
    });
    reports
}

fn read_write_cycle() -> Vec<Report> {
    static A: LockClass = LockClass::new("rw1.A");
    static B: LockClass = LockClass::new("rw1.B");
    two_paths(
        &A,
        &B,
        |a, b| {
            let _a = a.write();
            let _b = b.read();
        },
        |a, b| {
            let _b = b.read();
            let _a = a.write();
        },
    )
}

fn recursive_read_breaks_the_cycle() -> Vec<Report> {
    static A: LockClass = LockClass::new("rw2.A");
    static B: LockClass = LockClass::new("rw2.B");
    two_paths(
        &A,
        &B,
        |a, b| {
            let _a = a.write();
            let _b = b.read_recursive();
        },
        |a, b| {
            let _b = b.read();
            let _a = a.write();
        },
    )
}

fn exclusive_recursive_cycle() -> Vec<Report> {
    static A: LockClass = LockClass::new("rw3.A");
    static B: LockClass = LockClass::new("rw3.B");
    two_paths(
        &A,
        &B,
        |a, b| {
            let _a = a.write();
            let _b = b.read_recursive();
        },
        |a, b| {
            let _b = b.write();
            let _a = a.read_recursive();
        },
    )
}

static INODE: LockClass = LockClass::new("inode");

fn same_class_nested() -> Vec<Report> {
    let (parent, child) = (Mutex::with_class(0, &INODE), Mutex::with_class(0, &INODE));
    let ((), reports) = capture(|| {
        let _p = parent.lock();
        let _c = child.lock();
    });
    reports
}

fn same_class_subclass() -> Vec<Report> {
    let (parent, child) = (Mutex::with_class(0, &INODE), Mutex::with_class(0, &INODE));
    let ((), reports) = capture(|| {
        let _p = parent.lock();
        let _c = child.lock_nested(1);
    });
    reports
}

fn declared_order_reversed() -> Vec<Report> {
    static IRQ_DESC: LockClass = LockClass::new("irq_desc");
    static DEVICES: LockClass = LockClass::new("devices").before(&[&IRQ_DESC]);
    let (devices, irq) = (
        Mutex::with_class(0, &DEVICES),
        Mutex::with_class(0, &IRQ_DESC),
    );
    let ((), reports) = capture(|| {
        let _irq = irq.lock();
        let _devices = devices.lock(); // never seen the other way round: still reported
    });
    reports
}

fn might_alloc_under_no_alloc_lock() -> Vec<Report> {
    static POOL_LOCK: LockClass = LockClass::new("pool_lock").no_alloc();
    let pool = Mutex::with_class(Vec::<u64>::with_capacity(8), &POOL_LOCK);
    let ((), reports) = capture(|| {
        let free = pool.lock();
        if free.is_empty() {
            might_alloc(); // the refill path would allocate here
        }
    });
    reports
}

fn allocation_in_no_alloc_scope() -> Vec<Report> {
    let ((), reports) = capture(|| {
        no_alloc(|| {
            drop(black_box(Box::new([0u8; 64])));
        });
    });
    reports
}

fn might_sleep_in_atomic_section() -> Vec<Report> {
    let ((), reports) = capture(|| {
        atomic_section(|| {
            might_sleep(); // a blocking call here would sleep with "preemption off"
        });
    });
    reports
}

fn mutex_in_atomic_notifier() -> Vec<Report> {
    static STATS_CLASS: LockClass = LockClass::new("stats");
    static STATS: Mutex<u64> = Mutex::with_class(0, &STATS_CLASS);
    let chain = AtomicNotifierChain::<u32>::new();
    let _reg = chain.subscribe(
        |cpu: &u32| {
            *STATS.lock() += u64::from(*cpu); // a sleeping lock: reported
            Verdict::Continue
        },
        0,
    );
    let (_, reports) = capture(|| chain.call(&1));
    reports
}

fn unlock_twice() -> Vec<Report> {
    static RAW: LockClass = LockClass::new("raw_lock");
    let raw = LockMap::new(&RAW);
    let ((), reports) = capture(|| {
        let held = raw.acquire(Mode::Write);
        raw.release(held);
        raw.release_unpaired(); // released again
    });
    reports
}

fn assert_held_fails() -> Vec<Report> {
    static QUEUE: LockClass = LockClass::new("queue_lock");
    let queue = Mutex::with_class(0, &QUEUE);
    let ((), reports) = capture(|| queue.assert_held());
    reports
}

/// The reports the handler of [`thread_exits_holding_a_lock`] received.
static EXIT_REPORTS: StdMutex<Vec<Report>> = StdMutex::new(Vec::new());

fn record(report: &Report) {
    // A std lock: the handler runs inside the validator, which must not see it.
    let mut reports = EXIT_REPORTS.lock().unwrap_or_else(PoisonError::into_inner);
    reports.push(report.clone());
}

fn thread_exits_holding_a_lock() -> Vec<Report> {
    static LEAKED: LockClass = LockClass::new("leaked_mutex");
    let lock = Mutex::with_class(0, &LEAKED);
    // Reported from the exiting thread's destructors, where `capture` cannot
    // reach and a panic cannot unwind: warn, to a handler, for the moment
    // (unless validation is off: `set_action(Warn)` would switch it on).
    let (was, switch) = (action(), is_enabled());
    if switch {
        set_handler(Some(record));
        set_action(Action::Warn);
    }
    thread::scope(|s| {
        thread::Builder::new()
            .name("leaker".into())
            .spawn_scoped(s, || std::mem::forget(lock.lock()))
            .expect("spawn")
            .join() // a join waits for the thread's destructors; the scope alone does not
            .expect("the leaker thread");
    });
    if switch {
        set_handler(None);
        set_action(was);
    }
    let mut reports = EXIT_REPORTS.lock().unwrap_or_else(PoisonError::into_inner);
    // Only this case's report (other threads may report meanwhile).
    let (mine, others) = reports
        .drain(..)
        .partition(|r| r.classes().contains(&"leaked_mutex"));
    *reports = others;
    mine
}

fn main() {
    if !COMPILED_IN {
        println!(
            "validation is compiled out (a release build without the `lockdep` feature): the \
             cases run, nothing is reported. For the reports: \
             `cargo run --release --features lockdep --example lockdep_report`"
        );
    }
    for (i, case) in GALLERY.iter().enumerate() {
        println!("\n[{}] {}", i + 1, case.does);
        let reports = (case.run)();
        if !is_enabled() {
            println!("    (validation is off: nothing to report)");
        } else if reports.is_empty() {
            println!("    no report: the validator allows it");
        }
        for r in &reports {
            println!("{r}");
        }
        let kinds: Vec<ReportKind> = reports.iter().map(Report::kind).collect();
        assert!(
            !is_enabled() || kinds == case.expect,
            "case {}: expected {:?}, got {kinds:?}",
            i + 1,
            case.expect
        );
    }
    println!(
        "\nnot shown: {:?} and {:?}: reaching a bound turns validation off for the whole process",
        DepthExceeded, CapacityExhausted
    );
}
