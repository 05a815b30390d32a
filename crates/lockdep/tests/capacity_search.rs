//! The cycle search is bounded: a search that must enqueue more states than
//! the bound reports `CapacityExhausted` (and turns validation off), never a
//! silent "no cycle", while a search within the bound still finds cycles.
//!
//! Reaching a bound switches validation off for the whole process, so this
//! binary holds one test.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{
    capture, held_locks, is_enabled, set_limits, Limits, LockClass, LockMap, Mode, Report,
    ReportKind,
};

fn fresh(name: &str) -> LockMap {
    LockMap::new(LockClass::leak(name))
}

fn pair(outer: &LockMap, inner: &LockMap) {
    let ho = outer.acquire(Mode::Write);
    let hi = inner.acquire(Mode::Write);
    inner.release(hi);
    outer.release(ho);
}

/// A star `hub -> leaf_1..leaf_n`, then `leaf_n -> tail`, then `tail -> hub`,
/// which closes the cycle hub -> leaf_n -> tail -> hub. The search for it
/// starts at the hub and enqueues every leaf before it reaches `leaf_n`.
/// Returns the reports raised by the closing edge alone.
fn star_cycle(tag: &str, leaves: usize) -> (Vec<Report>, Vec<Report>) {
    let hub = fresh(&format!("{tag}_hub"));
    let leaf: Vec<LockMap> = (1..=leaves)
        .map(|i| fresh(&format!("{tag}_leaf_{i}")))
        .collect();
    let tail = fresh(&format!("{tag}_tail"));
    let ((), building) = capture(|| {
        let hh = hub.acquire(Mode::Write);
        for l in &leaf {
            let hl = l.acquire(Mode::Write);
            l.release(hl);
        }
        hub.release(hh);
        pair(leaf.last().expect("at least one leaf"), &tail);
    });
    let ((), closing) = capture(|| pair(&tail, &hub));
    (building, closing)
}

#[test]
fn search_bound_reports_capacity_instead_of_missing_a_cycle() {
    std::env::remove_var("KERNSYNC_LOCKDEP");
    assert!(is_enabled());
    set_limits(Limits {
        search: 8,
        ..Limits::DEFAULT
    })
    .expect("nothing is in use yet");

    // Within the bound (hub, 3 leaves, tail: at most 5 states): found.
    let (building, closing) = star_cycle("cap_search_small", 3);
    assert!(building.is_empty(), "{building:#?}");
    assert_eq!(closing.len(), 1, "{closing:#?}");
    assert_eq!(closing[0].kind(), ReportKind::CircularDependency);
    assert_eq!(
        closing[0].classes(),
        [
            "cap_search_small_hub",
            "cap_search_small_leaf_3",
            "cap_search_small_tail"
        ]
    );
    assert!(is_enabled());

    // Past the bound (hub and 10 leaves enqueued before the tail): the cycle
    // cannot be decided, and that is reported rather than passed over.
    let (building, closing) = star_cycle("cap_search_big", 10);
    assert!(building.is_empty(), "{building:#?}");
    let kinds: Vec<ReportKind> = closing.iter().map(Report::kind).collect();
    assert_eq!(
        kinds,
        [ReportKind::CapacityExhausted],
        "exactly one report: {closing:#?}"
    );
    assert!(
        closing[0]
            .detail()
            .contains("cycle search bound (8 states)"),
        "the detail names the bound: {}",
        closing[0].detail()
    );
    assert!(
        !is_enabled(),
        "validation is off after the bound is reached"
    );

    // The locks keep working, with no second report.
    let (p, q) = (fresh("cap_search_after_p"), fresh("cap_search_after_q"));
    let ((), reports) = capture(|| {
        pair(&p, &q);
        pair(&q, &p);
    });
    assert!(reports.is_empty(), "{reports:#?}");
    assert!(held_locks().is_empty());
}
