//! `set_limits` refuses bounds above their maximum or below what the graph
//! uses, and reaching the class bound reports `CapacityExhausted` once, turns
//! validation off for good and leaves the locks working.
//!
//! Reaching a bound switches validation off for the whole process, so this
//! binary holds one test and runs its steps in order. The edge, chain and
//! search bounds have binaries of their own (`capacity_edges`,
//! `capacity_chains`, `capacity_search`).
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{
    capture, graph, held_locks, is_enabled, set_limits, Held, Limits, LimitsError, LockClass,
    LockMap, Mode, ReportKind,
};

fn fresh(name: &str) -> LockMap {
    LockMap::new(LockClass::leak(name))
}

/// Takes `locks` nested, outermost first, then releases them.
fn nest(locks: &[&LockMap]) {
    let held: Vec<Held> = locks.iter().map(|l| l.acquire(Mode::Write)).collect();
    for (l, h) in locks.iter().zip(held).rev() {
        l.release(h);
    }
}

#[test]
fn limits_are_checked_and_the_class_bound_reports_once() {
    std::env::remove_var("KERNSYNC_LOCKDEP");
    assert!(is_enabled());

    // Above the maximum: chains are bounded by the fixed chain table, classes
    // and edges by their 32-bit ids.
    let half = u32::MAX as usize / 2;
    assert_eq!(
        set_limits(Limits {
            chains: 65536 + 1,
            ..Limits::DEFAULT
        }),
        Err(LimitsError::TooLarge("chains", 65536))
    );
    assert_eq!(
        set_limits(Limits {
            classes: half + 1,
            ..Limits::DEFAULT
        }),
        Err(LimitsError::TooLarge("classes or edges", half))
    );
    assert_eq!(
        set_limits(Limits {
            edges: half + 1,
            ..Limits::DEFAULT
        }),
        Err(LimitsError::TooLarge("classes or edges", half))
    );
    // The maxima themselves are accepted.
    assert_eq!(
        set_limits(Limits {
            chains: 65536,
            classes: half,
            edges: half,
            ..Limits::DEFAULT
        }),
        Ok(())
    );
    assert_eq!(set_limits(Limits::DEFAULT), Ok(()));

    // Some use: a -> b -> c is three classes (nodes), three edges
    // (a->b, a->c, b->c) and two chains ([a b], [a b c]).
    let (a, b, c) = (
        fresh("cap_class_a"),
        fresh("cap_class_b"),
        fresh("cap_class_c"),
    );
    let ((), reports) = capture(|| nest(&[&a, &b, &c]));
    assert!(reports.is_empty(), "{reports:#?}");
    let g = graph();
    assert_eq!((g.classes.len(), g.edges.len()), (3, 3));

    // Below use: refused, whichever bound it is.
    let below = [
        Limits {
            classes: 2,
            ..Limits::DEFAULT
        },
        Limits {
            edges: 2,
            ..Limits::DEFAULT
        },
        Limits {
            chains: 1,
            ..Limits::DEFAULT
        },
    ];
    for l in below {
        assert_eq!(set_limits(l), Err(LimitsError::BelowUse), "{l:?}");
    }
    // Equal to use is not below it.
    for l in [
        Limits {
            edges: 3,
            ..Limits::DEFAULT
        },
        Limits {
            chains: 2,
            ..Limits::DEFAULT
        },
    ] {
        assert_eq!(set_limits(l), Ok(()), "{l:?}");
    }

    // Room for exactly five more classes: the sixth reaches the bound.
    set_limits(Limits {
        classes: 3 + 5,
        ..Limits::DEFAULT
    })
    .expect("a bound above use is accepted");
    let extra: Vec<LockMap> = (0..6).map(|i| fresh(&format!("cap_class_{i}"))).collect();
    // `a` stays held (tracked) across the bound: it must release cleanly.
    let ((held_a, tokens), reports) = capture(|| {
        let ha = a.acquire(Mode::Write);
        let mut tokens = Vec::new();
        for l in &extra {
            let h = l.acquire(Mode::Write);
            tokens.push(h.is_tracked());
            l.release(h);
        }
        (ha, tokens)
    });
    assert_eq!(
        tokens,
        [true, true, true, true, true, false],
        "the first five classes fit, the sixth is past the bound"
    );
    assert!(held_a.is_tracked());
    assert_eq!(reports.len(), 1, "exactly one report: {reports:#?}");
    let r = &reports[0];
    assert_eq!(r.kind(), ReportKind::CapacityExhausted);
    assert!(
        r.detail().contains("class bound (8 classes"),
        "the detail names the bound: {}",
        r.detail()
    );
    assert!(
        !is_enabled(),
        "validation is off after the bound is reached"
    );

    // The locks keep working: the held lock releases, new classes are taken
    // without reports (none past the first), and an ABBA goes unreported.
    let (p, q) = (fresh("cap_class_after_p"), fresh("cap_class_after_q"));
    let (tracked, reports) = capture(|| {
        a.release(held_a);
        let hp = p.acquire(Mode::Write);
        let hq = q.acquire(Mode::Write);
        let tracked = hp.is_tracked() || hq.is_tracked();
        q.release(hq);
        p.release(hp);
        nest(&[&q, &p]);
        nest(&[&c, &a]);
        tracked
    });
    assert!(
        reports.is_empty(),
        "no second report, no bad unlock: {reports:#?}"
    );
    assert!(!tracked);
    assert!(held_locks().is_empty());
    assert!(!is_enabled());
}
