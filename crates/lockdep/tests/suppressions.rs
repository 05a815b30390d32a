//! Suppressions (`allow_order`), classes excluded from validation
//! (`LockClass::not_validated`) and declared orders (`LockClass::before`).
//!
//! Nothing here turns validation off, so the tests share this binary; each
//! takes classes of its own.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::export::SuppressionRecord;
use kernsync_lockdep::{
    allow_order, capture, graph, held_locks, unused_suppressions, LockClass, LockMap, Mode, Report,
    ReportKind, Site,
};

/// Takes `inner` while holding `outer`, then releases both.
fn pair(outer: &LockMap, inner: &LockMap) {
    let ho = outer.acquire(Mode::Write);
    let hi = inner.acquire(Mode::Write);
    inner.release(hi);
    outer.release(ho);
}

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

fn unused(from: &str, to: &str) -> Vec<SuppressionRecord> {
    unused_suppressions()
        .into_iter()
        .filter(|s| s.from == from && s.to == to)
        .collect()
}

/// Whether the graph has an edge `from -> to` (by class name).
fn has_edge(from: &str, to: &str) -> bool {
    let g = graph();
    g.edges
        .iter()
        .any(|e| g.classes[e.from].name == from && g.classes[e.to].name == to)
}

#[test]
fn allowed_order_suppresses_the_cycle_it_would_close() {
    let (ca, cb) = (LockClass::leak("sup_a"), LockClass::leak("sup_b"));
    allow_order(ca, cb, "sup_a is only taken before sup_b at boot");
    let (a, b) = (LockMap::new(ca), LockMap::new(cb));
    assert_eq!(unused("sup_a", "sup_b").len(), 1, "not matched yet");

    // The allowed order first, then the reverse: no cycle is recorded.
    let ((), reports) = capture(|| {
        pair(&a, &b);
        pair(&b, &a);
    });
    assert!(reports.is_empty(), "{reports:#?}");
    assert!(
        !has_edge("sup_a", "sup_b"),
        "the allowed order is not an edge"
    );
    assert!(has_edge("sup_b", "sup_a"), "the reverse order is recorded");
    assert!(
        unused("sup_a", "sup_b").is_empty(),
        "a suppression that matched is not listed as unused"
    );
    let rec = graph()
        .suppressions
        .into_iter()
        .find(|s| s.from == "sup_a" && s.to == "sup_b")
        .expect("the suppression is part of the graph");
    assert_eq!(rec.reason, "sup_a is only taken before sup_b at boot");
    assert!(rec.hits >= 1, "{rec:?}");
}

#[test]
fn allowed_order_closing_the_cycle_is_not_reported() {
    let (ca, cb) = (
        LockClass::leak("sup_close_a"),
        LockClass::leak("sup_close_b"),
    );
    allow_order(ca, cb, "reviewed");
    let (a, b) = (LockMap::new(ca), LockMap::new(cb));
    // The reverse order first; then the allowed one would close the cycle.
    let ((), reports) = capture(|| {
        pair(&b, &a);
        pair(&a, &b);
    });
    assert!(reports.is_empty(), "{reports:#?}");
    assert!(unused("sup_close_a", "sup_close_b").is_empty());
}

#[test]
fn allowed_order_covers_one_direction_of_one_pair() {
    let (ca, cb, cc) = (
        LockClass::leak("sup_dir_a"),
        LockClass::leak("sup_dir_b"),
        LockClass::leak("sup_dir_c"),
    );
    allow_order(ca, cb, "a before b is fine");
    let (a, b, c) = (LockMap::new(ca), LockMap::new(cb), LockMap::new(cc));

    // b -> a is the other direction: recorded, and the suppression is unused.
    let ((), reports) = capture(|| pair(&b, &a));
    assert!(reports.is_empty(), "{reports:#?}");
    assert!(has_edge("sup_dir_b", "sup_dir_a"));
    let listed = unused("sup_dir_a", "sup_dir_b");
    assert_eq!(listed.len(), 1, "unmatched, so listed: {listed:?}");
    assert_eq!(listed[0].reason, "a before b is fine");
    assert_eq!(listed[0].hits, 0);

    // a -> c -> b -> a is a cycle without the allowed edge: reported.
    let ((), reports) = capture(|| {
        pair(&a, &c);
        pair(&c, &b);
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    let mut classes = reports[0].classes();
    classes.sort_unstable();
    assert_eq!(classes, ["sup_dir_a", "sup_dir_b", "sup_dir_c"]);
    assert_eq!(unused("sup_dir_a", "sup_dir_b").len(), 1, "still unmatched");

    // Now the allowed order itself: suppressed, matched.
    let ((), reports) = capture(|| pair(&a, &b));
    assert!(reports.is_empty(), "{reports:#?}");
    assert!(!has_edge("sup_dir_a", "sup_dir_b"));
    assert!(unused("sup_dir_a", "sup_dir_b").is_empty());
}

#[test]
fn suppression_that_never_matches_is_listed() {
    let (cp, cq) = (
        LockClass::leak("sup_stale_p"),
        LockClass::leak("sup_stale_q"),
    );
    allow_order(cp, cq, "stale: the code that took q under p is gone");
    let (p, q) = (LockMap::new(cp), LockMap::new(cq));
    // Use both classes, never in the allowed order.
    let ((), reports) = capture(|| {
        let h = p.acquire(Mode::Write);
        p.release(h);
        let h = q.acquire(Mode::Write);
        q.release(h);
    });
    assert!(reports.is_empty(), "{reports:#?}");
    let listed = unused("sup_stale_p", "sup_stale_q");
    assert_eq!(
        listed,
        [SuppressionRecord {
            from: "sup_stale_p".to_owned(),
            to: "sup_stale_q".to_owned(),
            reason: "stale: the code that took q under p is gone".to_owned(),
            hits: 0,
        }]
    );
}

static NOT_VALIDATED: LockClass = LockClass::new("sup_not_validated").not_validated();

#[test]
fn not_validated_class_never_reports() {
    let nv = LockMap::new(&NOT_VALIDATED);
    let nv2 = LockMap::new(&NOT_VALIDATED);
    let other = LockMap::new(LockClass::leak("sup_nv_other"));
    let ((tracked, held), reports) = capture(|| {
        // ABBA against a validated class.
        pair(&nv, &other);
        pair(&other, &nv);
        // The same lock twice, and two locks of the class nested.
        let h1 = nv.acquire(Mode::Write);
        let h2 = nv.acquire(Mode::Write);
        let h3 = nv2.acquire(Mode::Write);
        let tracked = h1.is_tracked() || h2.is_tracked() || h3.is_tracked();
        let held = held_locks().len();
        nv2.release(h3);
        nv.release(h2);
        nv.release(h1);
        (tracked, held)
    });
    assert!(reports.is_empty(), "{reports:#?}");
    assert!(!tracked, "a not-validated class is not tracked");
    assert_eq!(held, 0);
    let g = graph();
    assert!(
        g.classes.iter().all(|c| c.name != "sup_not_validated"),
        "a not-validated class is no graph node"
    );
}

static DECL_LATER: LockClass = LockClass::new("sup_decl_later");
static DECL_EARLIER: LockClass = LockClass::new("sup_decl_earlier").before(&[&DECL_LATER]);

#[test]
fn declared_order_is_checked_before_the_reverse_is_seen() {
    let (earlier, later) = (LockMap::new(&DECL_EARLIER), LockMap::new(&DECL_LATER));
    // The very first acquisition of either class takes them against the
    // declared order; the declared order itself was never exercised.
    let ((), reports) = capture(|| pair(&later, &earlier));
    assert_eq!(
        kinds(&reports),
        [ReportKind::OrderViolation],
        "{reports:#?}"
    );
    let r = &reports[0];
    let mut classes = r.classes();
    classes.sort_unstable();
    assert_eq!(classes, ["sup_decl_earlier", "sup_decl_later"]);
    // (Bound first: clippy takes `.edges().last()` for `Iterator::cycle`.)
    let cycle = r.edges();
    let declared: Vec<_> = cycle.iter().filter(|d| d.declared).collect();
    assert_eq!(declared.len(), 1, "{cycle:#?}");
    assert_eq!(
        (declared[0].from.as_str(), declared[0].to.as_str()),
        ("sup_decl_earlier", "sup_decl_later")
    );
    assert_eq!(declared[0].held_at, Site::Declared(DECL_EARLIER.site()));
    let closing = cycle.last().expect("a cycle");
    assert!(!closing.declared);
    assert_eq!(
        (closing.from.as_str(), closing.to.as_str()),
        ("sup_decl_later", "sup_decl_earlier")
    );

    // The declared order is a graph edge marked declared.
    let g = graph();
    assert!(g.edges.iter().any(|e| e.declared
        && g.classes[e.from].name == "sup_decl_earlier"
        && g.classes[e.to].name == "sup_decl_later"));

    // Reported once; the declared order itself is fine.
    let ((), reports) = capture(|| {
        pair(&later, &earlier);
        pair(&earlier, &later);
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

static DECL_LATER_HELD: LockClass = LockClass::new("sup_decl2_later");
static DECL_EARLIER_HELD: LockClass =
    LockClass::new("sup_decl2_earlier").before(&[&DECL_LATER_HELD]);

#[test]
fn declared_order_applies_through_other_locks() {
    // earlier < later is declared; later -> mid -> earlier breaks it
    // through a third class.
    let earlier = LockMap::new(&DECL_EARLIER_HELD);
    let later = LockMap::new(&DECL_LATER_HELD);
    let mid = LockMap::new(LockClass::leak("sup_decl2_mid"));
    let ((), reports) = capture(|| {
        let h = earlier.acquire(Mode::Write);
        earlier.release(h);
        pair(&later, &mid);
        pair(&mid, &earlier);
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::OrderViolation],
        "{reports:#?}"
    );
    assert_eq!(reports[0].edges().len(), 3);
}

static CONTRA_P: LockClass = LockClass::new("sup_contra_p").before(&[&CONTRA_Q]);
static CONTRA_Q: LockClass = LockClass::new("sup_contra_q").before(&[&CONTRA_P]);

#[test]
fn contradicting_declared_orders_are_reported_at_first_use() {
    let p = LockMap::new(&CONTRA_P);
    let ((), reports) = capture(|| {
        let h = p.acquire(Mode::Write);
        p.release(h);
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::OrderViolation],
        "{reports:#?}"
    );
    let r = &reports[0];
    assert!(r.detail().contains("contradict"), "{}", r.detail());
    assert!(r.edges().iter().all(|d| d.declared));
    let mut classes = r.classes();
    classes.sort_unstable();
    assert_eq!(classes, ["sup_contra_p", "sup_contra_q"]);
}
