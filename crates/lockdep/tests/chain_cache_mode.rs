//! The chain cache must not hide a chain that differs from a cached one only
//! in a lock's mode or subclass (Linux once left the read state out of its
//! chain key and missed such deadlocks), nor in a nesting annotation.
//!
//! Every scenario uses fresh classes: the graph and the chain cache are
//! shared by the whole test binary, whose tests run in parallel.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{capture, is_enabled, LockClass, LockMap, Mode, Report, ReportKind, Site};
use std::sync::atomic::{AtomicUsize, Ordering};

const FILE: &str = "chain_cache_mode.rs";
const W: Mode = Mode::Write;
const R: Mode = Mode::Read;
const RR: Mode = Mode::RecursiveRead;

static SERIAL: AtomicUsize = AtomicUsize::new(0);

fn class(tag: &str, name: &str) -> &'static LockClass {
    assert!(is_enabled(), "these tests need the validator on");
    let n = SERIAL.fetch_add(1, Ordering::Relaxed);
    LockClass::leak(&format!("{tag}_{name}_{n}"))
}

fn instance(class: &'static LockClass) -> &'static LockMap {
    Box::leak(Box::new(LockMap::new(class)))
}

fn show(reports: &[Report]) -> String {
    match reports {
        [] => "no report".to_owned(),
        _ => reports.iter().map(|r| format!("{r}\n")).collect(),
    }
}

/// One acquisition of a chain: a lock, its mode and its subclass.
type Step<'a> = (&'a LockMap, Mode, u8);

/// Takes `steps` in order (blocking), then releases them in reverse.
fn chain(steps: &[Step<'_>]) {
    let held: Vec<_> = steps
        .iter()
        .map(|&(l, mode, sub)| l.acquire_nested(mode, sub))
        .collect();
    for (&(l, _, _), h) in steps.iter().zip(held).rev() {
        l.release(h);
    }
}

/// Runs every chain in `cached` `times` times: they must stay silent.
#[track_caller]
fn cache(cached: &[&[Step<'_>]], times: usize) {
    let ((), reports) = capture(|| {
        for _ in 0..times {
            for c in cached {
                chain(c);
            }
        }
    });
    assert!(
        reports.is_empty(),
        "cached chains reported:\n{}",
        show(&reports)
    );
}

/// Asserts `reports` is one circular dependency through `classes` (in cycle
/// order from the lock being acquired), with every edge's sites in this file.
#[track_caller]
fn assert_cycle(reports: &[Report], classes: &[String]) {
    assert_eq!(reports.len(), 1, "expected one report:\n{}", show(reports));
    let r = &reports[0];
    assert_eq!(r.kind(), ReportKind::CircularDependency, "{r}");
    assert_eq!(r.classes(), classes, "{r}");
    assert_eq!(r.edges().len(), classes.len(), "{r}");
    let here = |s: Site| matches!(s, Site::Code(l) if l.file().ends_with(FILE));
    for d in r.edges() {
        assert!(here(d.held_at) && here(d.taken_at), "{r}");
    }
}

/// X recursive-read then Y write, and Y write then X recursive-read: X is
/// entered by an R edge and left by an S edge, so no deadlock, and both
/// chains get cached (`times` runs). Then Y write, X write: the same classes
/// in the same order as a cached chain, but X's mode differs, so the chain
/// is new and closes X -(SN)-> Y -(EN)-> X.
fn mode_differs(tag: &str, times: usize) {
    let (x, y) = (instance(class(tag, "X")), instance(class(tag, "Y")));
    cache(&[&[(x, RR, 0), (y, W, 0)], &[(y, W, 0), (x, RR, 0)]], times);
    let ((), reports) = capture(|| chain(&[(y, W, 0), (x, W, 0)]));
    assert_cycle(&reports, &[x.class_name(), y.class_name()]);
    let kinds: Vec<String> = reports[0]
        .edges()
        .iter()
        .map(|d| d.kind().to_string())
        .collect();
    assert_eq!(kinds, ["-(SN)->", "-(EN)->"]);
}

#[test]
fn chain_differing_only_in_mode_is_validated() {
    mode_differs("mode_once", 1);
}

#[test]
fn chain_differing_only_in_mode_is_validated_after_many_hits() {
    mode_differs("mode_many", 1000);
}

#[test]
fn chain_differing_only_in_the_outer_mode_is_validated() {
    // Here the held lock's mode is what differs: X -(SN)-> Y and
    // Y -(ER)-> X are cached, then X write, Y write: the new edge
    // X -(EN)-> Y closes Y -(ER)-> X -(EN)-> Y, a deadlock (X is entered by
    // an R edge but left by an E edge).
    let (x, y) = (instance(class("outer", "X")), instance(class("outer", "Y")));
    cache(&[&[(x, RR, 0), (y, W, 0)], &[(y, W, 0), (x, RR, 0)]], 10);
    let ((), reports) = capture(|| chain(&[(x, W, 0), (y, W, 0)]));
    assert_cycle(&reports, &[y.class_name(), x.class_name()]);
}

#[test]
fn chain_differing_only_in_subclass_is_validated() {
    let (xc, yc) = (class("subclass", "X"), class("subclass", "Y"));
    let (x, y) = (instance(xc), instance(yc));
    // X read then Y/1 write: X -(SN)-> Y/1. Y/0 write then X read:
    // Y/0 -(EN)-> X. Different nodes: no cycle.
    cache(&[&[(x, R, 0), (y, W, 1)], &[(y, W, 0), (x, R, 0)]], 10);
    // Y/1 write then X read differs from a cached chain only in Y's
    // subclass, and closes X -(SN)-> Y/1 -(EN)-> X.
    let ((), reports) = capture(|| chain(&[(y, W, 1), (x, R, 0)]));
    assert_cycle(
        &reports,
        &[xc.name().to_owned(), format!("{}/1", yc.name())],
    );
}

#[test]
fn chain_differing_only_in_annotation_is_validated() {
    let c = class("annotation", "bucket");
    let (b1, b2) = (instance(c), instance(c));
    // Two locks of one class in a stated order: fine, and cached.
    let ((), ordered) = capture(|| {
        for _ in 0..10 {
            let h1 = b1.acquire_ordered(W, 1);
            let h2 = b2.acquire_ordered(W, 2);
            b2.release(h2);
            b1.release(h1);
        }
    });
    assert!(ordered.is_empty(), "{}", show(&ordered));
    // The same two locks with no annotation: possible recursive locking,
    // as it is when no ordered chain was seen before (see the next test).
    let ((), plain) = capture(|| {
        let h1 = b1.acquire(W);
        let h2 = b2.acquire(W);
        b2.release(h2);
        b1.release(h1);
    });
    assert_eq!(plain.len(), 1, "{}", show(&plain));
    assert_eq!(plain[0].kind(), ReportKind::RecursiveLocking);
}

#[test]
fn unannotated_same_class_nesting_is_recursive_locking() {
    // The control of the test above, with no ordered chain cached first.
    let c = class("no_annotation", "bucket");
    let (b1, b2) = (instance(c), instance(c));
    let ((), plain) = capture(|| {
        let h1 = b1.acquire(W);
        let h2 = b2.acquire(W);
        b2.release(h2);
        b1.release(h1);
    });
    assert_eq!(plain.len(), 1, "{}", show(&plain));
    assert_eq!(plain[0].kind(), ReportKind::RecursiveLocking);
    assert_eq!(plain[0].classes(), [c.name(), c.name()]);
}
