//! `LockMap::first_use`: locks built where no caller is known (lock_api's
//! `const INIT`, so every parking_lot lock) take the class of the site of
//! their first acquisition. Memory is bounded by the program's acquisition
//! sites, reports name a line the user can open, and locks of one such
//! class nest without a report (which of them share it depends on the run).
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{capture, held_locks, LockMap, Mode, ReportKind};

fn kinds(reports: &[kernsync_lockdep::Report]) -> Vec<ReportKind> {
    reports.iter().map(|r| r.kind()).collect()
}

#[test]
fn the_class_is_the_first_acquisition_site_and_says_so() {
    let map = LockMap::first_use();
    assert_eq!(map.class_name(), "lock first taken at (not taken yet)");
    assert!(!map.is_held());
    let line = line!() + 1;
    let h = map.acquire(Mode::Write);
    assert!(map.is_held());
    let name = map.class_name();
    assert!(
        name.starts_with("lock first taken at ")
            && name.contains(&format!("first_use_classes.rs:{line}:")),
        "{name}"
    );
    map.release(h);
    // A later acquisition elsewhere keeps the class.
    map.acquire_release(Mode::Read);
    assert_eq!(map.class_name(), name);
}

/// A suite that makes far more locks than the class bound (16,384) stays
/// validated, with one class per acquisition site.
#[test]
fn far_more_short_lived_locks_than_the_class_bound_make_one_class_per_site() {
    let ((), reports) = capture(|| {
        let mut names = std::collections::HashSet::new();
        for _ in 0..40_000 {
            let map = LockMap::first_use();
            map.acquire_release(Mode::Write);
            if names.len() < 2 {
                names.insert(map.class_name());
            }
        }
        assert_eq!(names.len(), 1, "{names:?}");
    });
    // Past the class bound (16,384) no capacity report, and validation is
    // still on: an inversion is still found.
    assert!(reports.is_empty(), "{reports:#?}");
    let (a, b) = (LockMap::first_use(), LockMap::first_use());
    let ((), reports) = capture(|| {
        let ha = a.acquire(Mode::Write);
        b.acquire_release(Mode::Write);
        a.release(ha);
        let hb = b.acquire(Mode::Write);
        a.acquire_release(Mode::Write);
        b.release(hb);
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency],
        "{reports:#?}"
    );
}

#[test]
fn locks_of_one_first_use_class_nest_without_a_report_but_one_lock_twice_is_reported() {
    let maps: Vec<LockMap> = (0..3).map(|_| LockMap::first_use()).collect();
    let ((), reports) = capture(|| {
        let held: Vec<_> = maps.iter().map(|m| m.acquire(Mode::Write)).collect();
        for (m, h) in maps.iter().zip(held).rev() {
            m.release(h);
        }
    });
    assert!(reports.is_empty(), "{reports:#?}");
    let ((), reports) = capture(|| {
        let outer = maps[0].acquire(Mode::Write);
        let again = maps[0].acquire(Mode::Write);
        maps[0].release(again);
        maps[0].release(outer);
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::RecursiveLocking],
        "{reports:#?}"
    );
    assert!(held_locks().is_empty());
}

#[test]
fn an_abba_between_first_use_locks_is_found_and_names_both_sites() {
    let (a, b) = (LockMap::first_use(), LockMap::first_use());
    let ((), reports) = capture(|| {
        let ha = a.acquire(Mode::Write);
        let hb = b.acquire(Mode::Write);
        b.release(hb);
        a.release(ha);
        let hb = b.acquire(Mode::Write);
        let ha = a.acquire(Mode::Write);
        a.release(ha);
        b.release(hb);
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency],
        "{reports:#?}"
    );
    let text = reports[0].to_string();
    assert!(text.contains("lock first taken at"), "{text}");
    assert!(text.contains("first_use_classes.rs"), "{text}");
}

/// Lock coupling down a list (take the next node, then drop the previous
/// one), all nodes of one class: released out of order, the subclasses
/// still only nest upwards, so nothing is reported until the walk is past
/// the eight subclasses, where it is no longer tracked.
#[test]
fn lock_coupling_over_locks_of_one_class_reports_nothing() {
    let nodes: Vec<LockMap> = (0..12).map(|_| LockMap::first_use()).collect();
    let ((), reports) = capture(|| {
        for _ in 0..2 {
            let mut prev = nodes[0].acquire(Mode::Write);
            for w in nodes.windows(2) {
                let next = w[1].acquire(Mode::Write);
                w[0].release(prev);
                prev = next;
            }
            nodes[nodes.len() - 1].release(prev);
        }
    });
    assert!(reports.is_empty(), "{reports:#?}");
    assert!(held_locks().is_empty());
}

/// A lock_api lock built from `INIT` may have its guard leaked
/// (`MutexGuard::leak`) and then be dropped, as parking_lot allows: its
/// held entry goes with it, without a report.
#[test]
fn a_first_use_lock_dropped_while_held_is_forgotten_quietly() {
    let ((), reports) = capture(|| {
        let map = LockMap::first_use();
        // The token is never given back: the guard was leaked.
        let _leaked = map.acquire(Mode::Write);
        drop(map);
        assert!(held_locks().is_empty());
    });
    assert!(reports.is_empty(), "{reports:#?}");
}
