//! Reaching the chain-cache bound reports `CapacityExhausted` once, turns
//! validation off for good, and the locks keep working. A cached chain taken
//! again costs no new chain.
//!
//! Reaching a bound switches validation off for the whole process, so this
//! binary holds one test.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{
    capture, held_locks, is_enabled, set_limits, Limits, LockClass, LockMap, Mode, ReportKind,
};

fn fresh(name: &str) -> LockMap {
    LockMap::new(LockClass::leak(name))
}

/// Takes `inner` while holding `outer`; returns whether both were tracked.
fn pair(outer: &LockMap, inner: &LockMap) -> bool {
    let ho = outer.acquire(Mode::Write);
    let hi = inner.acquire(Mode::Write);
    let tracked = ho.is_tracked() && hi.is_tracked();
    inner.release(hi);
    outer.release(ho);
    tracked
}

#[test]
fn chain_bound_reports_once_and_turns_validation_off() {
    std::env::remove_var("KERNSYNC_LOCKDEP");
    assert!(is_enabled());
    set_limits(Limits {
        chains: 3,
        ..Limits::DEFAULT
    })
    .expect("nothing is in use yet");

    let a = fresh("cap_chain_a");
    let inner: Vec<LockMap> = ["b", "c", "d", "e"]
        .iter()
        .map(|n| fresh(&format!("cap_chain_{n}")))
        .collect();

    // [a b] is the first chain; taking it again hits the cache and uses no
    // new chain, so [a c] and [a d] still fit and [a e] is the fourth.
    let ((), reports) = capture(|| {
        for _ in 0..10 {
            assert!(pair(&a, &inner[0]));
        }
        assert!(pair(&a, &inner[1]));
        assert!(pair(&a, &inner[2]));
    });
    assert!(reports.is_empty(), "three chains fit: {reports:#?}");
    assert!(is_enabled());

    let (tracked, reports) = capture(|| pair(&a, &inner[3]));
    assert!(
        tracked,
        "the acquisition that reached the bound is still tracked"
    );
    assert_eq!(reports.len(), 1, "exactly one report: {reports:#?}");
    let r = &reports[0];
    assert_eq!(r.kind(), ReportKind::CapacityExhausted);
    assert!(
        r.detail().contains("chain cache bound (3 chains)"),
        "the detail names the bound: {}",
        r.detail()
    );
    assert!(
        !is_enabled(),
        "validation is off after the bound is reached"
    );

    // The locks keep working, with no second report, and an ABBA of fresh
    // classes is not reported.
    let (p, q) = (fresh("cap_chain_after_p"), fresh("cap_chain_after_q"));
    let (tracked, reports) = capture(|| {
        let mut tracked = false;
        for l in &inner {
            tracked |= pair(&a, l);
            tracked |= pair(l, &a);
        }
        tracked |= pair(&p, &q);
        tracked |= pair(&q, &p);
        tracked
    });
    assert!(reports.is_empty(), "no second report: {reports:#?}");
    assert!(!tracked);
    assert!(held_locks().is_empty());
}
