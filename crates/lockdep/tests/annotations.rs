//! The annotations: `might_lock`, `might_sleep`, `might_alloc`, lock
//! assertions, pseudo-locks for waits, allocation as a pseudo-lock,
//! not-validated classes, `held_locks` and `lock_internals`.
//!
//! Every test takes classes of its own (the graph is one per process and the
//! tests run in parallel) and asserts on what `capture` collected.
//!
//! (These docs come before the `cfg`: a crate-level `cfg` that is false
//! strips everything after it, docs included, and `missing_docs` would fire.)
#![cfg(any(debug_assertions, feature = "lockdep"))]

use core::panic::Location;
use kernsync_lockdep::{
    allocation_path, assert_no_locks_held, atomic_section, capture, graph, held_locks,
    lock_internals, might_alloc, might_lock, might_sleep, no_alloc, HeldLock, LockClass, LockMap,
    Mode, Report, ReportKind, Site,
};

/// A fresh class named `name`.
fn class(name: &str) -> &'static LockClass {
    LockClass::leak(name)
}

/// A lock handle of a fresh class named `name`.
fn lock(name: &str) -> LockMap {
    LockMap::new(class(name))
}

/// The caller's location, to compare with the sites reports name.
#[track_caller]
fn here() -> &'static Location<'static> {
    Location::caller()
}

/// Whether `site` is a line of code at the same file and line as `loc`.
fn same_line(site: Site, loc: &Location<'_>) -> bool {
    matches!(site, Site::Code(l) if l.file() == loc.file() && l.line() == loc.line())
}

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

/// Takes `first` then `second` and releases both: the edge `first -> second`.
fn nest(first: &LockMap, second: &LockMap) {
    let a = first.acquire(Mode::Write);
    let b = second.acquire(Mode::Write);
    second.release(b);
    first.release(a);
}

// ---------------------------------------------------------------- might_lock

#[test]
fn might_lock_records_the_edge_as_if_acquired() {
    let h_class = class("annot.ml.held");
    let l_class = class("annot.ml.rare");
    let (held, rare) = (LockMap::new(h_class), LockMap::new(l_class));

    let (ml_at, reports) = capture(|| {
        let h = held.acquire(Mode::Write);
        let ((), at) = (might_lock(l_class, Mode::Write), here());
        // Nothing is taken: only the held lock is on the stack.
        assert!(!rare.is_held());
        assert_eq!(held_locks().len(), 1);
        assert_eq!(held_locks()[0].class, "annot.ml.held");
        held.release(h);
        at
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert!(held_locks().is_empty());

    // The rare path's order, reversed for real: a cycle, as if the rare lock
    // had been taken at the `might_lock` site.
    let ((), reports) = capture(|| nest(&rare, &held));
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    let r = &reports[0];
    assert_eq!(r.classes(), ["annot.ml.held", "annot.ml.rare"]);
    let first = &r.edges()[0];
    assert_eq!(
        (first.from.as_str(), first.to.as_str()),
        ("annot.ml.held", "annot.ml.rare")
    );
    assert!(same_line(first.taken_at, ml_at), "{first}");
}

#[test]
fn might_lock_against_an_order_seen_before_reports_at_once() {
    let l_class = class("annot.ml2.rare");
    let (held, rare) = (lock("annot.ml2.held"), LockMap::new(l_class));
    let ((), reports) = capture(|| nest(&rare, &held));
    assert!(reports.is_empty(), "{reports:?}");

    let ((), reports) = capture(|| {
        let h = held.acquire(Mode::Write);
        might_lock(l_class, Mode::Read);
        held.release(h);
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(reports[0].classes(), ["annot.ml2.rare", "annot.ml2.held"]);
    let acquiring = reports[0].acquiring().expect("the might_lock acquisition");
    assert_eq!(
        (acquiring.class.as_str(), acquiring.mode),
        ("annot.ml2.rare", Mode::Read)
    );
    assert!(held_locks().is_empty());
}

#[test]
fn might_lock_of_a_held_class_is_recursive_locking() {
    let c = class("annot.ml3.self");
    let m = LockMap::new(c);
    let ((), reports) = capture(|| {
        let h = m.acquire(Mode::Write);
        might_lock(c, Mode::Write);
        m.release(h);
    });
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    assert_eq!(reports[0].classes(), ["annot.ml3.self", "annot.ml3.self"]);
    assert!(held_locks().is_empty());
}

#[test]
fn might_lock_recursive_read_of_a_read_held_class_is_fine() {
    let c = class("annot.ml4.rw");
    let m = LockMap::new(c);
    let ((), reports) = capture(|| {
        let h = m.acquire(Mode::Read);
        might_lock(c, Mode::RecursiveRead);
        m.release(h);
    });
    assert!(reports.is_empty(), "{reports:?}");
    // A non-recursive read behind it may wait for a writer: recursive locking.
    let ((), reports) = capture(|| {
        let h = m.acquire(Mode::Read);
        might_lock(c, Mode::Read);
        m.release(h);
    });
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
}

// --------------------------------------------------------------- might_sleep

// `might_sleep` reports are deduplicated by call site: each test below
// reports from sites of its own.
/// A succeeded trylock never waited: in an atomic section it is not a
/// sleeping lock (a blocking acquisition of the same lock is).
#[test]
fn a_succeeded_try_in_an_atomic_section_is_not_a_sleep() {
    let m = lock("annot.try_atomic.m");
    let ((), reports) = capture(|| {
        atomic_section(|| {
            let h = m.try_acquired(Mode::Write);
            m.release(h);
        })
    });
    assert_eq!(kinds(&reports), []);
    let ((), reports) = capture(|| {
        atomic_section(|| {
            let h = m.acquire(Mode::Write);
            m.release(h);
        })
    });
    assert_eq!(kinds(&reports), [ReportKind::SleepInAtomic]);
}

#[test]
fn might_sleep_in_an_atomic_section_is_reported() {
    let ((), reports) = capture(|| {
        // Outside any atomic context a sleep is fine.
        might_sleep();
        atomic_section(|| {
            might_sleep();
        });
        might_sleep();
    });
    assert_eq!(kinds(&reports), [ReportKind::SleepInAtomic]);
    assert!(reports[0].classes().is_empty());
    assert!(reports[0].held_locks().is_empty());
}

#[test]
fn might_sleep_names_its_caller_and_reports_each_site() {
    let (sites, reports) = capture(|| {
        atomic_section(|| {
            let ((), first) = (might_sleep(), here());
            let ((), second) = (might_sleep(), here());
            [first, second]
        })
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::SleepInAtomic, ReportKind::SleepInAtomic]
    );
    for (r, at) in reports.iter().zip(sites) {
        let site = format!("{}:{}:", at.file(), at.line());
        assert!(r.detail().contains(&site), "{}", r.detail());
    }
}

#[test]
fn nested_atomic_sections_stay_atomic_until_the_outermost_ends() {
    let ((), reports) = capture(|| {
        atomic_section(|| {
            atomic_section(|| {});
            might_sleep();
        });
        might_sleep();
    });
    assert_eq!(kinds(&reports), [ReportKind::SleepInAtomic]);
}

#[test]
fn might_sleep_under_an_atomic_class_is_reported() {
    static SPIN: LockClass = LockClass::new("annot.sleep.spin").atomic();
    let spin = LockMap::new(&SPIN);
    let ((), reports) = capture(|| {
        let h = spin.acquire(Mode::Write);
        might_sleep();
        spin.release(h);
        might_sleep();
    });
    assert_eq!(kinds(&reports), [ReportKind::SleepInAtomic]);
    let held: Vec<&str> = reports[0]
        .held_locks()
        .iter()
        .map(|h| h.class.as_str())
        .collect();
    assert_eq!(held, ["annot.sleep.spin"]);
}

#[test]
fn sleeping_lock_under_an_atomic_class_is_reported() {
    static SPIN: LockClass = LockClass::new("annot.sleep2.spin").atomic();
    let (spin, mutex) = (LockMap::new(&SPIN), lock("annot.sleep2.mutex"));
    let (at, reports) = capture(|| {
        let s = spin.acquire(Mode::Write);
        let (m, at) = (mutex.acquire(Mode::Write), here());
        mutex.release(m);
        spin.release(s);
        at
    });
    assert_eq!(kinds(&reports), [ReportKind::SleepInAtomic]);
    let r = &reports[0];
    assert_eq!(r.classes(), ["annot.sleep2.mutex"]);
    let acquiring = r.acquiring().expect("the sleeping lock");
    assert_eq!(acquiring.class, "annot.sleep2.mutex");
    assert!(same_line(acquiring.site, at));
    assert_eq!(r.held_locks().len(), 1);
    assert_eq!(r.held_locks()[0].class, "annot.sleep2.spin");
}

#[test]
fn sleeping_lock_in_an_atomic_section_is_reported() {
    let mutex = lock("annot.sleep3.mutex");
    let ((), reports) = capture(|| {
        atomic_section(|| {
            let m = mutex.acquire(Mode::Read);
            mutex.release(m);
        })
    });
    assert_eq!(kinds(&reports), [ReportKind::SleepInAtomic]);
    assert_eq!(reports[0].classes(), ["annot.sleep3.mutex"]);
}

#[test]
fn atomic_locks_in_atomic_context_are_fine() {
    static SPIN_A: LockClass = LockClass::new("annot.sleep4.a").atomic();
    static SPIN_B: LockClass = LockClass::new("annot.sleep4.b").atomic();
    let (a, b) = (LockMap::new(&SPIN_A), LockMap::new(&SPIN_B));
    let ((), reports) = capture(|| {
        atomic_section(|| {
            let ha = a.acquire(Mode::Write);
            let hb = b.acquire(Mode::Write);
            b.release(hb);
            a.release(ha);
        })
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert!(held_locks().is_empty());
}

#[test]
fn sleeping_trylock_in_atomic_context_does_not_sleep() {
    let mutex = lock("annot.sleep5.mutex");
    let ((), reports) = capture(|| {
        atomic_section(|| {
            let m = mutex.try_acquired(Mode::Write);
            mutex.release(m);
        })
    });
    assert!(reports.is_empty(), "{reports:?}");
}

// --------------------------------------------------------------- might_alloc

#[test]
fn might_alloc_in_a_no_alloc_scope_is_reported() {
    let (scope_at, reports) = capture(|| {
        let at = here();
        no_alloc(|| {
            might_alloc();
        });
        at
    });
    assert_eq!(kinds(&reports), [ReportKind::AllocUnderNoAlloc]);
    let r = &reports[0];
    assert!(r.classes().is_empty());
    // The detail names the scope (entered on the line after `here()`).
    let scope = format!("{}:{}:", scope_at.file(), scope_at.line() + 1);
    assert!(r.detail().contains(&scope), "{}", r.detail());
    let ((), reports) = capture(might_alloc);
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn nested_no_alloc_scopes_forbid_until_the_outermost_ends() {
    let (outer_at, reports) = capture(|| {
        let at = here();
        no_alloc(|| {
            no_alloc(|| {
                might_alloc();
            });
            // The inner scope is over, the outer one is not.
            might_alloc();
        });
        might_alloc();
        at
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::AllocUnderNoAlloc, ReportKind::AllocUnderNoAlloc]
    );
    // Both name the outermost scope.
    let outer = format!(
        "scope entered at {}:{}:",
        outer_at.file(),
        outer_at.line() + 1
    );
    for r in &reports {
        assert!(r.detail().contains(&outer), "{}", r.detail());
    }
}

#[test]
fn might_alloc_under_a_no_alloc_class_is_reported() {
    static ATOMIC_POOL: LockClass = LockClass::new("annot.alloc.pool").no_alloc();
    let pool = LockMap::new(&ATOMIC_POOL);
    let ((), reports) = capture(|| {
        let h = pool.acquire(Mode::Write);
        might_alloc();
        pool.release(h);
        might_alloc();
    });
    assert_eq!(kinds(&reports), [ReportKind::AllocUnderNoAlloc]);
    assert_eq!(reports[0].classes(), ["annot.alloc.pool"]);
}

#[test]
fn might_alloc_under_ordinary_locks_is_fine() {
    let (a, b) = (lock("annot.alloc2.a"), lock("annot.alloc2.b"));
    let ((), reports) = capture(|| {
        let ha = a.acquire(Mode::Write);
        let hb = b.acquire(Mode::Read);
        might_alloc();
        b.release(hb);
        a.release(ha);
    });
    assert!(reports.is_empty(), "{reports:?}");
}

// ------------------------------------------------------------ the assertions

#[test]
fn assert_held_and_assert_not_held() {
    let m = lock("annot.assert.m");
    let ((), reports) = capture(|| {
        m.assert_not_held();
        assert!(!m.is_held());
        let h = m.acquire(Mode::Read);
        assert!(m.is_held());
        m.assert_held();
        m.release(h);
        assert!(!m.is_held());
    });
    assert!(reports.is_empty(), "{reports:?}");

    let ((), reports) = capture(|| m.assert_held());
    assert_eq!(kinds(&reports), [ReportKind::AssertionFailed]);
    assert!(
        reports[0].detail().contains("annot.assert.m"),
        "{}",
        reports[0].detail()
    );

    let ((), reports) = capture(|| {
        let h = m.acquire(Mode::Write);
        m.assert_not_held();
        m.release(h);
    });
    assert_eq!(kinds(&reports), [ReportKind::AssertionFailed]);
    assert!(
        reports[0].detail().contains("annot.assert.m"),
        "{}",
        reports[0].detail()
    );
}

#[test]
fn assertions_are_not_deduplicated() {
    let m = lock("annot.assert2.m");
    let ((), reports) = capture(|| {
        for _ in 0..3 {
            m.assert_held();
        }
    });
    assert_eq!(kinds(&reports), [ReportKind::AssertionFailed; 3]);
}

#[test]
fn assert_no_locks_held_with_a_lock_held() {
    let m = lock("annot.assert3.m");
    let ((), reports) = capture(assert_no_locks_held);
    assert!(reports.is_empty(), "{reports:?}");
    let ((), reports) = capture(|| {
        let h = m.acquire(Mode::Write);
        assert_no_locks_held();
        m.release(h);
        assert_no_locks_held();
    });
    assert_eq!(kinds(&reports), [ReportKind::AssertionFailed]);
    let held: Vec<&str> = reports[0]
        .held_locks()
        .iter()
        .map(|h| h.class.as_str())
        .collect();
    assert_eq!(held, ["annot.assert3.m"]);
}

#[test]
fn a_lock_held_by_another_thread_is_not_held_here() {
    let m = lock("annot.assert4.m");
    let h = m.acquire(Mode::Write);
    let reports = std::thread::scope(|s| {
        s.spawn(|| {
            capture(|| {
                assert!(!m.is_held());
                m.assert_held();
            })
            .1
        })
        .join()
        .expect("the asserting thread")
    });
    assert!(m.is_held());
    m.release(h);
    assert_eq!(kinds(&reports), [ReportKind::AssertionFailed]);
}

// ------------------------------------------------------ pseudo-locks for waits

#[test]
fn flush_pseudo_lock_closes_the_cycle() {
    let flush = lock("annot.wait.flush");
    let state = lock("annot.wait.state");
    let (wait_at, reports) = capture(|| {
        // The worker runs the work under the flush pseudo-lock; the work takes
        // `state`.
        flush.with(Mode::Write, || {
            assert!(flush.is_held());
            let s = state.acquire(Mode::Write);
            state.release(s);
        });
        assert!(!flush.is_held());
        // A caller flushes while holding `state`: it waits for work that needs
        // `state`.
        let s = state.acquire(Mode::Write);
        let ((), at) = (flush.acquire_release(Mode::Write), here());
        state.release(s);
        at
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    let r = &reports[0];
    assert_eq!(r.classes(), ["annot.wait.flush", "annot.wait.state"]);
    let deps = r.edges();
    let closing = deps.last().expect("a cycle");
    assert_eq!(
        (closing.from.as_str(), closing.to.as_str()),
        ("annot.wait.state", "annot.wait.flush")
    );
    assert!(same_line(closing.taken_at, wait_at), "{closing}");
    assert!(held_locks().is_empty());
}

#[test]
fn flush_without_the_lock_held_is_fine() {
    let flush = lock("annot.wait2.flush");
    let state = lock("annot.wait2.state");
    let ((), reports) = capture(|| {
        flush.with(Mode::Write, || {
            let s = state.acquire(Mode::Write);
            state.release(s);
        });
        flush.acquire_release(Mode::Write);
        let s = state.acquire(Mode::Write);
        state.release(s);
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn join_pseudo_lock_closes_the_cycle_across_threads() {
    let state = lock("annot.join.state");
    let body = lock("annot.join.thread");
    // The joined thread runs its body under `body` and takes `state`; the
    // joiner holds `state` and joins. Whichever thread adds its edge second
    // sees the cycle: exactly one report between the two.
    let (theirs, mine) = std::thread::scope(|s| {
        let (theirs, mine) = capture(|| {
            let child = s.spawn(|| {
                capture(|| {
                    body.with(Mode::Write, || {
                        let h = state.acquire(Mode::Write);
                        state.release(h);
                    })
                })
                .1
            });
            let h = state.acquire(Mode::Write);
            body.acquire_release(Mode::Write);
            let theirs = child.join().expect("the joined thread");
            state.release(h);
            theirs
        });
        (theirs, mine)
    });
    let all: Vec<&Report> = theirs.iter().chain(&mine).collect();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].kind(), ReportKind::CircularDependency);
    let mut classes = all[0].classes();
    classes.sort_unstable();
    assert_eq!(classes, ["annot.join.state", "annot.join.thread"]);
}

// ------------------------------------------------- allocation as a pseudo-lock

#[test]
fn lock_taken_in_the_allocation_path_orders_after_allocation() {
    let l = lock("annot.reclaim.l");
    let ((), reports) = capture(|| {
        // A reclaim hook takes `l`...
        allocation_path(|| {
            let h = l.acquire(Mode::Write);
            l.release(h);
        });
    });
    assert!(reports.is_empty(), "{reports:?}");
    // ...so allocating while holding `l` can wait for reclaim that needs `l`.
    let (alloc_at, reports) = capture(|| {
        let h = l.acquire(Mode::Write);
        let ((), at) = (might_alloc(), here());
        l.release(h);
        at
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    let r = &reports[0];
    assert_eq!(r.classes(), ["allocation", "annot.reclaim.l"]);
    let deps = r.edges();
    let closing = deps.last().expect("a cycle");
    assert_eq!(closing.to, "allocation");
    assert!(same_line(closing.taken_at, alloc_at), "{closing}");
}

#[test]
fn allocation_cycle_through_three_classes() {
    let (m, l) = (lock("annot.reclaim2.m"), lock("annot.reclaim2.l"));
    let ((), reports) = capture(|| {
        let h = l.acquire(Mode::Write);
        might_alloc();
        l.release(h);
        nest(&m, &l);
    });
    assert!(reports.is_empty(), "{reports:?}");
    let ((), reports) = capture(|| {
        allocation_path(|| {
            let h = m.acquire(Mode::Write);
            m.release(h);
        })
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(
        reports[0].classes(),
        ["annot.reclaim2.m", "annot.reclaim2.l", "allocation"]
    );
    // The reclaim hook's lock is held under the allocation pseudo-lock.
    let held: Vec<&str> = reports[0]
        .held_locks()
        .iter()
        .map(|h| h.class.as_str())
        .collect();
    assert_eq!(held, ["allocation"]);
}

#[test]
fn allocating_in_the_allocation_path_is_not_recursion() {
    let l = lock("annot.reclaim3.l");
    let ((), reports) = capture(|| {
        allocation_path(|| {
            let h = l.acquire(Mode::Write);
            // Reclaim does not recurse into reclaim.
            might_alloc();
            allocation_path(|| {
                might_alloc();
            });
            l.release(h);
        })
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert!(held_locks().is_empty());
}

// ---------------------------------------------------------- not_validated

#[test]
fn not_validated_classes_are_not_tracked() {
    static NV: LockClass = LockClass::new("annot.nv.raw").not_validated();
    let (nv, other, nv2) = (LockMap::new(&NV), lock("annot.nv.other"), LockMap::new(&NV));
    let ((), reports) = capture(|| {
        // ABBA against a not-validated lock.
        nest(&nv, &other);
        nest(&other, &nv);
        // The same class twice, and the very same lock twice.
        nest(&nv, &nv2);
        let h1 = nv.acquire(Mode::Write);
        assert!(!h1.is_tracked());
        assert!(held_locks().is_empty());
        let h2 = nv.acquire(Mode::Write);
        nv.release(h2);
        nv.release(h1);
        // A release it does not hold, and a rare path.
        nv.release_unpaired();
        let h = other.acquire(Mode::Write);
        might_lock(&NV, Mode::Write);
        other.release(h);
    });
    assert!(reports.is_empty(), "{reports:?}");
    // The control: the same pattern with a validated class is reported.
    let (v, other) = (lock("annot.nv.validated"), lock("annot.nv.other2"));
    let ((), reports) = capture(|| {
        nest(&v, &other);
        nest(&other, &v);
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
}

#[test]
fn assert_held_on_a_held_not_validated_lock_is_quiet() {
    // Linux keeps novalidate locks in held_locks, so lockdep_assert_held()
    // works on them; `assert_held` promises to report only when the thread
    // does not hold the lock.
    static NV: LockClass = LockClass::new("annot.nv2.raw").not_validated();
    let nv = LockMap::new(&NV);
    let ((), reports) = capture(|| {
        let h = nv.acquire(Mode::Write);
        nv.assert_held();
        nv.release(h);
    });
    assert!(reports.is_empty(), "{reports:?}");
}

// ---------------------------------------------------------------- held_locks

#[test]
fn held_locks_lists_classes_modes_and_sites_outermost_first() {
    let (a, b, c) = (
        lock("annot.held.a"),
        lock("annot.held.b"),
        lock("annot.held.c"),
    );
    let ((), reports) = capture(|| {
        assert!(held_locks().is_empty());
        let (ha, at_a) = (a.acquire(Mode::Write), here());
        let (hb, at_b) = (b.acquire(Mode::Read), here());
        let (hc, at_c) = (c.acquire(Mode::RecursiveRead), here());
        let held = held_locks();
        let names: Vec<(&str, Mode)> = held.iter().map(|h| (h.class.as_str(), h.mode)).collect();
        assert_eq!(
            names,
            [
                ("annot.held.a", Mode::Write),
                ("annot.held.b", Mode::Read),
                ("annot.held.c", Mode::RecursiveRead),
            ]
        );
        for (h, at) in held.iter().zip([at_a, at_b, at_c]) {
            assert!(same_line(h.site, at), "{h}");
        }
        // Out of order release keeps the others, in order.
        b.release(hb);
        let names: Vec<String> = held_locks().into_iter().map(|h| h.class).collect();
        assert_eq!(names, ["annot.held.a", "annot.held.c"]);
        a.release(ha);
        let left: Vec<HeldLock> = held_locks();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].class, "annot.held.c");
        assert!(same_line(left[0].site, at_c));
        c.release(hc);
        assert!(held_locks().is_empty());
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn held_locks_shows_subclasses_and_downgrades() {
    let c = class("annot.held2.inode");
    let (parent, child) = (LockMap::new(c), LockMap::new(c));
    let ((), reports) = capture(|| {
        let mut hp = parent.acquire(Mode::Write);
        let hc = child.acquire_nested(Mode::Write, 1);
        parent.downgrade(&mut hp);
        let held: Vec<(String, Mode)> = held_locks()
            .into_iter()
            .map(|h| (h.class, h.mode))
            .collect();
        assert_eq!(
            held,
            [
                ("annot.held2.inode".to_owned(), Mode::Read),
                ("annot.held2.inode/1".to_owned(), Mode::Write),
            ]
        );
        child.release(hc);
        parent.release(hp);
    });
    assert!(reports.is_empty(), "{reports:?}");
}

// ------------------------------------------------------------ lock_internals

#[test]
fn lock_internals_allocations_are_not_checked() {
    static POOL: LockClass = LockClass::new("annot.internals.pool").no_alloc();
    let pool = LockMap::new(&POOL);
    let ((), reports) = capture(|| {
        no_alloc(|| {
            lock_internals(|| {
                might_alloc();
            })
        });
        let h = pool.acquire(Mode::Write);
        lock_internals(|| {
            might_alloc();
        });
        pool.release(h);
    });
    assert!(reports.is_empty(), "{reports:?}");
    // The control: outside the internals, the same allocation is reported.
    let ((), reports) = capture(|| {
        let h = pool.acquire(Mode::Write);
        lock_internals(|| {});
        might_alloc();
        pool.release(h);
    });
    assert_eq!(kinds(&reports), [ReportKind::AllocUnderNoAlloc]);
}

#[test]
fn lock_internals_allocations_add_no_dependency() {
    let l = lock("annot.internals2.l");
    let ((), reports) = capture(|| {
        allocation_path(|| {
            let h = l.acquire(Mode::Write);
            l.release(h);
        })
    });
    assert!(reports.is_empty(), "{reports:?}");
    let ((), reports) = capture(|| {
        let h = l.acquire(Mode::Write);
        lock_internals(|| {
            might_alloc();
        });
        l.release(h);
    });
    assert!(reports.is_empty(), "{reports:?}");
    let g = graph();
    let idx = |name: &str| g.classes.iter().position(|c| c.name == name);
    let (l_idx, alloc_idx) = (
        idx("annot.internals2.l").unwrap(),
        idx("allocation").unwrap(),
    );
    assert!(g.edges.iter().any(|e| e.from == alloc_idx && e.to == l_idx));
    assert!(!g.edges.iter().any(|e| e.from == l_idx && e.to == alloc_idx));
    // The control: the user's own allocation closes the cycle.
    let ((), reports) = capture(|| {
        let h = l.acquire(Mode::Write);
        might_alloc();
        l.release(h);
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
}

#[test]
fn lock_internals_still_orders_the_locks_taken_inside() {
    // Only allocations belong to the lock; acquisitions are still validated.
    let (a, b) = (lock("annot.internals3.a"), lock("annot.internals3.b"));
    let ((), reports) = capture(|| {
        lock_internals(|| {
            nest(&a, &b);
            nest(&b, &a);
        })
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
}
