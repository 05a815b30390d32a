//! Reaching the dependency (edge) bound reports `CapacityExhausted` once,
//! turns validation off for good, and the locks keep working.
//!
//! Reaching a bound switches validation off for the whole process, so this
//! binary holds one test.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{
    capture, graph, held_locks, is_enabled, set_limits, Held, Limits, LockClass, LockMap, Mode,
    ReportKind,
};

fn fresh(name: &str) -> LockMap {
    LockMap::new(LockClass::leak(name))
}

#[test]
fn edge_bound_reports_once_and_turns_validation_off() {
    std::env::remove_var("KERNSYNC_LOCKDEP");
    assert!(is_enabled());
    set_limits(Limits {
        edges: 4,
        ..Limits::DEFAULT
    })
    .expect("nothing is in use yet");

    // a, b, c, d nested: b adds a->b (1), c adds a->c, b->c (3), d adds
    // a->d (4) and then needs b->d, the fifth.
    let locks: Vec<LockMap> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| fresh(&format!("cap_edge_{n}")))
        .collect();
    let ((tokens, edges_before_d), reports) = capture(|| {
        let mut tokens: Vec<Held> = Vec::new();
        let mut edges_before_d = 0;
        for (i, l) in locks.iter().enumerate() {
            if i == 3 {
                edges_before_d = graph().edges.len();
            }
            tokens.push(l.acquire(Mode::Write));
        }
        (tokens, edges_before_d)
    });
    assert_eq!(edges_before_d, 3);
    assert_eq!(reports.len(), 1, "exactly one report: {reports:#?}");
    let r = &reports[0];
    assert_eq!(r.kind(), ReportKind::CapacityExhausted);
    assert!(
        r.detail().contains("dependency bound (4 edges)"),
        "the detail names the bound: {}",
        r.detail()
    );
    assert_eq!(graph().edges.len(), 4, "the bound holds exactly");
    assert!(
        !is_enabled(),
        "validation is off after the bound is reached"
    );

    // The locks keep working: every held lock releases (out of order), no
    // second report, and an ABBA of fresh classes is not reported.
    let (p, q) = (fresh("cap_edge_after_p"), fresh("cap_edge_after_q"));
    let (tracked, reports) = capture(|| {
        let e = fresh("cap_edge_e");
        let he = e.acquire(Mode::Write);
        let mut tracked = he.is_tracked();
        e.release(he);
        let mut tokens: Vec<Option<Held>> = tokens.into_iter().map(Some).collect();
        for i in [1, 3, 0, 2] {
            let h = tokens[i].take().expect("released once");
            locks[i].release(h);
        }
        for (x, y) in [(&p, &q), (&q, &p)] {
            let hx = x.acquire(Mode::Write);
            let hy = y.acquire(Mode::Write);
            tracked |= hx.is_tracked() || hy.is_tracked();
            y.release(hy);
            x.release(hx);
        }
        tracked
    });
    assert!(
        reports.is_empty(),
        "no second report, no bad unlock: {reports:#?}"
    );
    assert!(!tracked);
    assert!(held_locks().is_empty());
    assert_eq!(graph().edges.len(), 4);
}
