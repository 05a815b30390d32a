//! Scenarios whose paths run on different threads: the order one thread
//! learns is checked against what another does later, with no thread ever
//! waiting on a lock (each path runs on its own thread, joined before the
//! next starts, so nothing can hang). Also: the three-thread
//! cpu_hotplug_lock chain, and `capture` seeing only its own thread.
//!
//! Every scenario uses fresh classes: the graph is shared by the whole
//! test binary, whose tests run in parallel.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{capture, is_enabled, LockClass, LockMap, Mode, Report, ReportKind, Site};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

const FILE: &str = "selftest_threads.rs";
const W: Mode = Mode::Write;
const R: Mode = Mode::Read;

static SERIAL: AtomicUsize = AtomicUsize::new(0);

/// A fresh lock of a fresh class, leaked so threads can share it.
fn lock(tag: &str, name: &str) -> &'static LockMap {
    assert!(is_enabled(), "these tests need the validator on");
    let n = SERIAL.fetch_add(1, Ordering::Relaxed);
    let class = LockClass::leak(&format!("{tag}_{name}_{n}"));
    Box::leak(Box::new(LockMap::new(class)))
}

fn show(reports: &[Report]) -> String {
    match reports {
        [] => "no report".to_owned(),
        _ => reports.iter().map(|r| format!("{r}\n")).collect(),
    }
}

fn here(site: Site) -> bool {
    matches!(site, Site::Code(l) if l.file().ends_with(FILE))
}

/// Holds `held` in `m1` while taking `taken` in `m2`, then releases both.
fn pair(held: &LockMap, m1: Mode, taken: &LockMap, m2: Mode) {
    let h1 = held.acquire(m1);
    let h2 = taken.acquire(m2);
    taken.release(h2);
    held.release(h1);
}

/// Runs `f` under `capture` on a new thread named `name`, joins it, and
/// returns the reports it raised (a thread's reports go to its own capture).
fn on_thread(name: &str, f: impl FnOnce() + Send + 'static) -> Vec<Report> {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || capture(f).1)
        .expect("spawn")
        .join()
        .expect("the path's thread panicked")
}

/// Asserts `reports` is one circular dependency through `cycle` (the locks
/// in cycle order, starting with the one being acquired), raised on thread
/// `thread` at the closing acquisition, with every edge's sites in this file.
#[track_caller]
fn assert_cycle(reports: &[Report], cycle: &[&LockMap], thread: &str) {
    assert_eq!(reports.len(), 1, "expected one report:\n{}", show(reports));
    let r = &reports[0];
    assert_eq!(r.kind(), ReportKind::CircularDependency, "{r}");
    let names: Vec<String> = cycle.iter().map(|l| l.class_name()).collect();
    assert_eq!(r.classes(), names, "{r}");
    assert_eq!(r.edges().len(), cycle.len(), "{r}");
    for (i, d) in r.edges().iter().enumerate() {
        assert_eq!(d.from, names[i], "{r}");
        assert_eq!(d.to, names[(i + 1) % names.len()], "{r}");
        assert!(here(d.held_at) && here(d.taken_at), "{r}");
    }
    assert_eq!(r.thread(), thread, "{r}");
    let deps = r.edges();
    let closing = deps.last().expect("checked non-empty");
    let acq = r.acquiring().expect("a cycle names the acquisition");
    assert_eq!(
        (acq.class.as_str(), acq.site),
        (names[0].as_str(), closing.taken_at)
    );
}

/// The cycle L0 -> L1 -> ... -> L(n-1) -> L0, one edge per thread, run one
/// thread after another: only the last one reports, and it names all `n`.
fn pairwise_cycle_across_threads(tag: &str, n: usize) {
    let locks: Vec<&'static LockMap> = (0..n).map(|i| lock(tag, &format!("L{i}"))).collect();
    let mut per_thread = Vec::new();
    for i in 0..n {
        let (held, taken) = (locks[i], locks[(i + 1) % n]);
        per_thread.push(on_thread(&format!("{tag}-path{i}"), move || {
            pair(held, W, taken, W)
        }));
    }
    let (last, earlier) = per_thread.split_last().expect("n > 0");
    for (i, reports) in earlier.iter().enumerate() {
        assert!(reports.is_empty(), "path {i} reported:\n{}", show(reports));
    }
    assert_cycle(last, &locks, &format!("{tag}-path{}", n - 1));
}

#[test]
fn abba_across_threads() {
    pairwise_cycle_across_threads("t_abba", 2);
}

#[test]
fn abbcca_across_threads() {
    pairwise_cycle_across_threads("t_abbcca", 3);
}

#[test]
fn abbccdda_across_threads() {
    pairwise_cycle_across_threads("t_abbccdda", 4);
}

/// The three-thread chain of 4.14-rc1: hotplug holds cpu_hotplug_lock while
/// it reaches an inode lock, a path under the inode lock takes mmap_lock for
/// read, and a path holding mmap_lock needs cpu_hotplug_lock for read.
/// With `fixed`, the last path does its cpu_hotplug_lock read first (say, a
/// preallocation) and takes mmap_lock inside it, in the order of the others.
fn hotplug_chain(tag: &str, fixed: bool) -> (Vec<Vec<Report>>, [&'static LockMap; 3]) {
    let hotplug = lock(tag, "cpu_hotplug_lock");
    let inode = lock(tag, "i_rwsem");
    let mmap = lock(tag, "mmap_lock");
    let mut reports = vec![
        on_thread(&format!("{tag}-hotplug"), move || {
            pair(hotplug, W, inode, W)
        }),
        on_thread(&format!("{tag}-inode"), move || pair(inode, W, mmap, R)),
    ];
    reports.push(on_thread(&format!("{tag}-fault"), move || {
        if fixed {
            pair(hotplug, R, mmap, W)
        } else {
            pair(mmap, W, hotplug, R)
        }
    }));
    (reports, [hotplug, inode, mmap])
}

#[test]
fn cpu_hotplug_lock_chain_across_three_threads() {
    let tag = "t_hotplug";
    let (reports, [hotplug, inode, mmap]) = hotplug_chain(tag, false);
    assert!(reports[0].is_empty(), "{}", show(&reports[0]));
    assert!(reports[1].is_empty(), "{}", show(&reports[1]));
    assert_cycle(
        &reports[2],
        &[hotplug, inode, mmap],
        &format!("{tag}-fault"),
    );
    let modes: Vec<(Mode, Mode)> = reports[2][0]
        .edges()
        .iter()
        .map(|d| (d.held_mode, d.taken_mode))
        .collect();
    assert_eq!(modes, [(W, W), (W, R), (W, R)]);
}

#[test]
fn cpu_hotplug_lock_chain_fixed_by_taking_it_first() {
    let (reports, _) = hotplug_chain("t_hotplug_fixed", true);
    for (i, r) in reports.iter().enumerate() {
        assert!(r.is_empty(), "thread {i}:\n{}", show(r));
    }
}

#[test]
fn capture_sees_only_its_own_threads_reports() {
    let barrier = Arc::new(Barrier::new(2));
    let spawn = |tag: &'static str| {
        let barrier = Arc::clone(&barrier);
        let (a, b) = (lock(tag, "A"), lock(tag, "B"));
        let handle = thread::Builder::new()
            .name(tag.to_owned())
            .spawn(move || {
                pair(a, W, b, W);
                capture(|| {
                    // Both threads are inside their captures...
                    barrier.wait();
                    pair(b, W, a, W);
                    // ...until both have reported.
                    barrier.wait();
                })
                .1
            })
            .expect("spawn");
        (handle, [a, b])
    };
    // The spawning thread captures too: the others' reports are not its own.
    let ((), mine) = capture(|| {
        let (h1, locks1) = spawn("t_capture_one");
        let (h2, locks2) = spawn("t_capture_two");
        let r1 = h1.join().expect("thread one panicked");
        let r2 = h2.join().expect("thread two panicked");
        assert_cycle(&r1, &locks1, "t_capture_one");
        assert_cycle(&r2, &locks2, "t_capture_two");
    });
    assert!(mine.is_empty(), "{}", show(&mine));
}
