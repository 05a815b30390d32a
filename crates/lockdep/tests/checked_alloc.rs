//! `CheckedAlloc` as the global allocator: every allocation is a
//! `might_alloc()` and holds the allocation pseudo-lock while the inner
//! allocator runs.
//!
//! The inner allocator is the system allocator, except on a thread that asks
//! (through a const thread-local) for it to take a lock first: an allocator
//! that locks, whose acquisitions the validator must defer until the inner
//! allocator has returned. Reports raised inside the allocator abort the
//! process outside `capture`, so every scenario here runs under `capture`;
//! the scenarios that currently crash or hang run in a child process.
//!
//! (These docs come before the `cfg`: a crate-level `cfg` that is false
//! strips everything after it, docs included, and `missing_docs` would fire.)
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{
    allocation_path, capture, graph, held_locks, no_alloc, CheckedAlloc, HeldLock, LockClass,
    LockMap, Mode, Report, ReportKind, Site,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

/// What the inner allocator does on this thread.
#[derive(Clone, Copy)]
enum InnerLock {
    /// Nothing: the system allocator.
    None,
    /// Takes and releases this lock on the next allocation only.
    Once(&'static LockMap),
    /// Takes and releases this lock on every allocation.
    Always(&'static LockMap),
}

thread_local! {
    static INNER_LOCK: Cell<InnerLock> = const { Cell::new(InnerLock::None) };
}

/// The system allocator, optionally taking a lock first (see `InnerLock`).
struct MaybeLocking;

// SAFETY: every method forwards to `System`, which upholds `GlobalAlloc`'s
// contract; taking the lock first neither unwinds (the validator defers or
// aborts instead) nor touches the memory.
unsafe impl GlobalAlloc for MaybeLocking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let lock = INNER_LOCK
            .try_with(|c| {
                let v = c.get();
                if let InnerLock::Once(_) = v {
                    c.set(InnerLock::None);
                }
                v
            })
            .unwrap_or(InnerLock::None);
        if let InnerLock::Once(m) | InnerLock::Always(m) = lock {
            let h = m.acquire(Mode::Write);
            m.release(h);
        }
        // SAFETY: the caller's `layout` meets `alloc`'s contract; forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: CheckedAlloc<MaybeLocking> = CheckedAlloc::new(MaybeLocking);

fn set_inner_lock(v: InnerLock) {
    INNER_LOCK.with(|c| c.set(v));
}

/// A lock handle of a fresh class named `name`, for the whole process.
fn lock(name: &str) -> &'static LockMap {
    Box::leak(Box::new(LockMap::new(LockClass::leak(name))))
}

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

/// Allocates in a few ways the optimizer cannot remove.
fn allocate() {
    let mut v: Vec<u64> = black_box(Vec::with_capacity(64));
    v.push(1);
    black_box(&v);
    black_box(Box::new(7u32));
    black_box(format!("{}", v.len()));
}

// ------------------------------------------------------------ no-alloc rules

#[test]
fn allocation_in_a_no_alloc_scope_is_reported_at_once() {
    let ((), reports) = capture(|| {
        no_alloc(|| {
            // Captured by the capture around the allocation itself: the report
            // is raised before the inner allocator runs, not deferred.
            let ((), inner) = capture(|| {
                black_box(Box::new(1u64));
            });
            assert_eq!(kinds(&inner), [ReportKind::AllocUnderNoAlloc]);
            let r = &inner[0];
            assert!(r.classes().is_empty());
            // No `<allocation>` placeholder where a line would be: what it is,
            // and how to see where.
            assert!(!r.detail().contains("<allocation>"), "{}", r.detail());
            assert!(r
                .detail()
                .starts_with("an allocation through `CheckedAlloc`"));
            assert!(r.detail().contains("KERNSYNC_LOCKDEP_BACKTRACE=1"));
            assert!(r.detail().contains(file!()), "{}", r.detail());
            // An allocation has no site of its own: one report per scope.
            allocate();
        })
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn allocation_under_a_no_alloc_class_is_reported() {
    static POOL: LockClass = LockClass::new("calloc.noalloc.pool").no_alloc();
    let pool = LockMap::new(&POOL);
    let ((), reports) = capture(|| {
        let h = pool.acquire(Mode::Write);
        black_box(Vec::<u8>::with_capacity(64));
        allocate();
        pool.release(h);
        allocate();
    });
    assert_eq!(kinds(&reports), [ReportKind::AllocUnderNoAlloc]);
    let r = &reports[0];
    assert_eq!(r.classes(), ["calloc.noalloc.pool"]);
    assert_eq!(r.held_locks().len(), 1);
    assert_eq!(r.held_locks()[0].class, "calloc.noalloc.pool");
}

#[test]
fn ordinary_allocations_are_quiet() {
    let (a, b) = (lock("calloc.quiet.a"), lock("calloc.quiet.b"));
    let ((), reports) = capture(|| {
        allocate();
        let ha = a.acquire(Mode::Write);
        allocate();
        let hb = b.acquire(Mode::Read);
        allocate();
        let mut grow = Vec::new();
        for i in 0..1000u32 {
            grow.push(i); // reallocations
        }
        black_box(&grow);
        assert_eq!(held_locks().len(), 2);
        b.release(hb);
        a.release(ha);
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert!(held_locks().is_empty());
}

#[test]
fn deallocation_is_not_checked() {
    static POOL: LockClass = LockClass::new("calloc.dealloc.pool").no_alloc();
    let pool = LockMap::new(&POOL);
    let buffers: Vec<Box<[u8]>> = (0..8).map(|i| vec![i; 128].into_boxed_slice()).collect();
    let ((), reports) = capture(|| {
        let h = pool.acquire(Mode::Write);
        no_alloc(|| drop(buffers));
        pool.release(h);
    });
    assert!(reports.is_empty(), "{reports:?}");
}

// ------------------------------------------------- allocation as a pseudo-lock

#[test]
fn reclaim_taking_a_lock_held_while_allocating_is_a_cycle() {
    let l = lock("calloc.reclaim.l");
    let ((), reports) = capture(|| {
        let h = l.acquire(Mode::Write);
        allocate(); // l -> allocation
        l.release(h);
    });
    assert!(reports.is_empty(), "{reports:?}");
    let ((), reports) = capture(|| {
        allocation_path(|| {
            let h = l.acquire(Mode::Write); // allocation -> l
            allocate(); // inside allocation: not recursion
            l.release(h);
        })
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    let r = &reports[0];
    assert_eq!(r.classes(), ["calloc.reclaim.l", "allocation"]);
    // The allocator's edge has no code site on the allocation's side.
    let first = &r.edges()[0];
    assert_eq!(
        (first.from.as_str(), first.to.as_str()),
        ("calloc.reclaim.l", "allocation")
    );
    assert_eq!(first.taken_at, Site::Allocation);
    assert!(held_locks().is_empty());
}

#[test]
fn cycle_closed_by_an_allocation_is_captured() {
    let l = lock("calloc.reclaim2.l");
    let ((), reports) = capture(|| {
        allocation_path(|| {
            let h = l.acquire(Mode::Write);
            l.release(h);
        })
    });
    assert!(reports.is_empty(), "{reports:?}");
    // Raised inside the allocator (where it could not unwind): captured.
    let ((), reports) = capture(|| {
        let h = l.acquire(Mode::Write);
        black_box(Box::new(5u8));
        l.release(h);
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    let r = &reports[0];
    assert_eq!(r.classes(), ["allocation", "calloc.reclaim2.l"]);
    let acquiring = r.acquiring().expect("the allocation");
    assert_eq!(
        (acquiring.class.as_str(), acquiring.site),
        ("allocation", Site::Allocation)
    );
}

// ------------------------------------------------- an allocator that locks

#[test]
fn lock_taken_inside_the_allocator_is_validated_after_it_returns() {
    let m = lock("calloc.inner.m");
    // Register the class outside the allocator first (see the BUG test on
    // first use below).
    let h = m.acquire(Mode::Write);
    m.release(h);
    let ((), reports) = capture(|| {
        let h = m.acquire(Mode::Write);
        allocate(); // m -> allocation
        m.release(h);
    });
    assert!(reports.is_empty(), "{reports:?}");

    // The inner allocator takes `m` under the allocation pseudo-lock: the
    // acquisition is deferred and replayed when the inner allocator returns,
    // inside the same allocation call, so the capture around it has it.
    let ((), reports) = capture(|| {
        set_inner_lock(InnerLock::Once(m));
        black_box(Box::new(9u16));
    });
    set_inner_lock(InnerLock::None);
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    let r = &reports[0];
    assert_eq!(r.classes(), ["calloc.inner.m", "allocation"]);
    assert_eq!(
        r.held_locks(),
        [HeldLock {
            class: "allocation".to_owned(),
            mode: Mode::Write,
            site: Site::Allocation,
        }]
    );
    let acquiring = r.acquiring().expect("the inner allocator's lock");
    assert_eq!(acquiring.class, "calloc.inner.m");
    assert!(
        matches!(acquiring.site, Site::Code(l) if l.file() == file!()),
        "{acquiring}"
    );
    assert!(held_locks().is_empty());
}

#[test]
fn lock_taken_inside_the_allocator_alone_is_quiet() {
    let m = lock("calloc.inner2.m");
    let h = m.acquire(Mode::Write);
    m.release(h);
    let ((), reports) = capture(|| {
        set_inner_lock(InnerLock::Once(m));
        black_box(Box::new(9u16));
        allocate();
    });
    set_inner_lock(InnerLock::None);
    assert!(reports.is_empty(), "{reports:?}");
    // The order allocation -> m was learned: the reverse is now a cycle.
    let ((), reports) = capture(|| {
        let h = m.acquire(Mode::Write);
        allocate();
        m.release(h);
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(reports[0].classes(), ["allocation", "calloc.inner2.m"]);
}

/// Runs this binary's test `name` alone in a child process with
/// `CALLOC_CHILD=1`, killing it if it has not finished in 30 seconds.
fn run_child(name: &str) -> Output {
    let child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            name,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CALLOC_CHILD", "1")
        .env("KERNSYNC_LOCKDEP", "panic")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(out) => out.expect("wait for the child"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("the child running {name} hung (deadlock?) and was killed");
        }
    }
}

fn is_child() -> bool {
    std::env::var_os("CALLOC_CHILD").is_some()
}

fn assert_child_ok(name: &str) {
    let out = run_child(name);
    assert!(
        out.status.success(),
        "{name} in a child: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn allocator_that_always_locks_does_not_recurse() {
    if !is_child() {
        return assert_child_ok("allocator_that_always_locks_does_not_recurse");
    }
    let m = lock("calloc.bug1.m");
    let h = m.acquire(Mode::Write);
    m.release(h);
    let ((), reports) = capture(|| {
        set_inner_lock(InnerLock::Always(m));
        black_box(Box::new(1u8));
        allocate();
        set_inner_lock(InnerLock::None);
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn allocator_lock_first_used_inside_the_allocator_does_not_deadlock() {
    if !is_child() {
        return assert_child_ok("allocator_lock_first_used_inside_the_allocator_does_not_deadlock");
    }
    let m = lock("calloc.bug2.m");
    let ((), reports) = capture(|| {
        // The inner allocator locks on every allocation, the validator's own
        // included; the deadlock comes before anything is deferred.
        set_inner_lock(InnerLock::Always(m));
        black_box(Box::new(1u8));
        set_inner_lock(InnerLock::None);
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn allocator_that_locks_survives_the_validators_own_allocations() {
    if !is_child() {
        return assert_child_ok("allocator_that_locks_survives_the_validators_own_allocations");
    }
    let m = lock("calloc.bug3.m");
    let h = m.acquire(Mode::Write);
    m.release(h);
    // Learn the chain (allocation, m) once, so later allocations settle the
    // inner acquisition on the fast path and nothing is deferred.
    let ((), reports) = capture(|| {
        set_inner_lock(InnerLock::Once(m));
        black_box(Box::new(1u8));
    });
    assert!(reports.is_empty(), "{reports:?}");
    let outer = lock("calloc.bug3.outer");
    let ((), reports) = capture(|| {
        set_inner_lock(InnerLock::Always(m));
        let h = outer.acquire(Mode::Write);
        // A class never seen: its registration allocates under the graph
        // mutex, while `outer` is held.
        let fresh = LockMap::new(LockClass::leak("calloc.bug3.fresh"));
        let f = fresh.acquire(Mode::Write);
        fresh.release(f);
        outer.release(h);
        set_inner_lock(InnerLock::None);
    });
    // No cycle here: outer -> fresh, outer -> allocation -> m.
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn report_delivered_in_a_no_alloc_scope_is_captured_whole() {
    if !is_child() {
        return assert_child_ok("report_delivered_in_a_no_alloc_scope_is_captured_whole");
    }
    static X: LockClass = LockClass::new("calloc.bug4.x").before(&[&Y]);
    static Y: LockClass = LockClass::new("calloc.bug4.y").before(&[&X]);
    let x = LockMap::new(&X);
    let ((), reports) = capture(|| {
        no_alloc(|| {
            // First use: the declared orders contradict each other.
            let h = x.acquire(Mode::Write);
            x.release(h);
        })
    });
    // The validator's own allocations are not the user's.
    assert_eq!(kinds(&reports), [ReportKind::OrderViolation]);
}

// ------------------------------------ the validator's own allocations

#[test]
fn many_classes_and_chains_while_allocating() {
    let run = |tag: &'static str| {
        capture(move || {
            let locks: Vec<&'static LockMap> = (0..500)
                .map(|i| lock(&format!("calloc.many.{tag}.{i}")))
                .collect();
            for pair in locks.windows(2) {
                let a = pair[0].acquire(Mode::Write);
                allocate();
                let b = pair[1].acquire(Mode::Read);
                allocate();
                black_box(held_locks());
                pair[1].release(b);
                pair[0].release(a);
            }
            // A report, formatted while locks are held and memory allocated.
            let h = locks[0].acquire(Mode::Write);
            let ((), inner) = capture(|| locks[1].assert_held());
            assert_eq!(kinds(&inner), [ReportKind::AssertionFailed]);
            black_box(format!("{}{}", inner[0], inner[0].scenario()));
            locks[0].release(h);
        })
        .1
    };
    let (one, two) = std::thread::scope(|s| {
        let other = s.spawn(|| run("t1"));
        (run("t0"), other.join().expect("the other thread"))
    });
    assert!(one.is_empty(), "{one:?}");
    assert!(two.is_empty(), "{two:?}");
    let g = graph();
    for tag in ["t0", "t1"] {
        let prefix = format!("calloc.many.{tag}.");
        let ours: Vec<usize> = (0..g.classes.len())
            .filter(|&i| g.classes[i].name.starts_with(&prefix))
            .collect();
        assert_eq!(ours.len(), 500, "{tag}");
        let alloc_idx = g
            .classes
            .iter()
            .position(|c| c.name == "allocation")
            .expect("the allocation class");
        let into_alloc = ours
            .iter()
            .filter(|&&i| g.edges.iter().any(|e| e.from == i && e.to == alloc_idx))
            .count();
        assert_eq!(into_alloc, 500, "{tag}");
    }
}
