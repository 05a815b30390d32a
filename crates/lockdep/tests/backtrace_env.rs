//! `KERNSYNC_LOCKDEP_BACKTRACE=1` adds backtraces that start at the user's
//! code: one to every report, one to every edge of a reported cycle, and
//! the function that took a lock beside its site.
//!
//! The variable is read once, at the validator's first use, so every test
//! here sets it first thing (through `on`). (Without it reports carry none:
//! see `backtrace_off`.)
//!
//! Frame locations need debug info: under `cargo test --release` there is
//! none (and inlining merges frames), so the assertions on frames are
//! skipped there, with the reason printed, and only the trimming is checked
//! (something is kept, and it is not the validator's).
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{capture, is_enabled, LockClass, LockMap, Mode, Report, ReportKind};
use std::sync::Once;

fn on() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("KERNSYNC_LOCKDEP_BACKTRACE", "1");
        std::env::remove_var("KERNSYNC_LOCKDEP");
        assert!(is_enabled());
    });
}

fn lock(name: &str) -> LockMap {
    LockMap::new(LockClass::leak(name))
}

/// Frame 0 of a trimmed backtrace: its function, and its location if the
/// build has line info.
fn frame0(bt: &str) -> (&str, Option<&str>) {
    let mut lines = bt.lines();
    let first = lines.next().expect("a frame");
    let function = first.split_once(": ").expect("frame 0 is a frame").1;
    let at = lines
        .next()
        .and_then(|l| l.trim_start().strip_prefix("at "));
    (function, at)
}

/// The trimming kept something, and frame 0 is not the validator's; true
/// if the frames have line info to assert on (else says why not).
fn trimmed(bt: &str) -> bool {
    assert!(!bt.trim().is_empty(), "trimming lost everything");
    let (function, at) = frame0(bt);
    assert!(
        !function.starts_with("kernsync") && !function.starts_with("<kernsync"),
        "frame 0 is the validator's:\n{bt}"
    );
    if at.is_none() {
        eprintln!("no line info in this build (release?): frame assertions skipped\n{bt}");
    }
    at.is_some()
}

#[inline(never)]
fn pair(outer: &LockMap, inner: &LockMap) {
    let ho = outer.acquire(Mode::Write);
    let hi = inner.acquire(Mode::Write);
    inner.release(hi);
    outer.release(ho);
}

#[inline(never)]
fn take_ab(a: &LockMap, b: &LockMap) {
    pair(a, b);
}

#[inline(never)]
fn take_bc(b: &LockMap, c: &LockMap) {
    let hb = b.acquire(Mode::Write);
    let hc = c.acquire(Mode::Write);
    c.release(hc);
    b.release(hb);
}

#[inline(never)]
fn take_ca(c: &LockMap, a: &LockMap) {
    let hc = c.acquire(Mode::Write);
    let ha = a.acquire(Mode::Write);
    a.release(ha);
    c.release(hc);
}

/// Takes `x`, `y`, `z` nested, in this order.
#[inline(never)]
fn nest3(x: &LockMap, y: &LockMap, z: &LockMap) {
    let hx = x.acquire(Mode::Write);
    let hy = y.acquire(Mode::Write);
    let hz = z.acquire(Mode::Write);
    z.release(hz);
    y.release(hy);
    x.release(hx);
}

fn one_cycle(reports: Vec<Report>) -> Report {
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let r = reports.into_iter().next().unwrap();
    assert_eq!(r.kind(), ReportKind::CircularDependency, "{r}");
    r
}

#[test]
fn report_backtrace_starts_in_the_test_file() {
    on();
    let (a, b) = (lock("bt_a"), lock("bt_b"));
    let ((), reports) = capture(|| {
        pair(&a, &b);
        pair(&b, &a);
    });
    let r = one_cycle(reports);
    let bt = r.backtrace().expect("a backtrace");
    assert!(r.to_string().contains("stack backtrace:\n   0: "), "{r}");
    if trimmed(bt) {
        let (function, at) = frame0(bt);
        assert_eq!(function, "backtrace_env::pair", "{bt}");
        let at = at.unwrap();
        assert!(at.contains("tests/backtrace_env.rs:"), "{bt}");
        // The line of `inner.acquire(..)`, where the report was raised.
        let site = r.site().and_then(|s| s.location()).expect("a site");
        assert!(
            at.ends_with(&format!(
                "backtrace_env.rs:{}:{}",
                site.line(),
                site.column()
            )),
            "{at} is not {site}"
        );
    }
    // Renumbered from 0, at most 16 frames and the count of the others.
    let numbered = bt.lines().filter(|l| !l.starts_with("      ")).count();
    assert!(numbered <= 17, "{bt}");
}

#[test]
fn each_edge_of_a_cycle_carries_its_backtrace() {
    on();
    let (a, b, c) = (lock("bt3_a"), lock("bt3_b"), lock("bt3_c"));
    let ((), reports) = capture(|| {
        take_ab(&a, &b);
        take_bc(&b, &c);
        take_ca(&c, &a);
    });
    let r = one_cycle(reports);
    let edges = r.edges();
    assert_eq!(edges.len(), 3, "{r}");
    let text = r.to_string();
    for d in edges {
        let bt = d.backtrace().expect("each edge has a backtrace");
        if !trimmed(bt) {
            continue;
        }
        // The function that took the edge's `to` lock, at the edge's site.
        let want = match (d.from.as_str(), d.to.as_str()) {
            ("bt3_a", "bt3_b") => "backtrace_env::pair",
            ("bt3_b", "bt3_c") => "backtrace_env::take_bc",
            ("bt3_c", "bt3_a") => "backtrace_env::take_ca",
            other => panic!("unexpected edge {other:?}"),
        };
        let (function, at) = frame0(bt);
        assert_eq!(function, want, "{bt}");
        assert_eq!(d.taken_in(), Some(want));
        let site = d.taken_at.location().unwrap();
        assert!(at
            .unwrap()
            .ends_with(&format!("{}:{}", site.line(), site.column())));
        if want == "backtrace_env::pair" {
            // take_ab called pair: the frame below names the caller.
            assert!(bt.contains("   1: backtrace_env::take_ab\n"), "{bt}");
        }
        // Printed under its edge (the closing one's is the report's own).
        if Some(bt) == r.backtrace() {
            assert!(text.contains("its stack: the stack backtrace below"));
        } else {
            let indented: String = bt.lines().map(|l| format!("      {l}\n")).collect();
            assert!(text.contains(&indented), "{text}");
        }
    }
}

#[test]
fn function_names_appear_beside_sites() {
    on();
    let (x, a, c) = (lock("btn_x"), lock("btn_a"), lock("btn_c"));
    let b = lock("btn_b");
    let ((), reports) = capture(|| {
        // a -> b, a -> c, b -> c: c's site in nest3 (third line) is learned
        // as nest3's, and b's (second line) too.
        nest3(&a, &b, &c);
        // x, then c at nest3's second line, then a: c -> a closes a -> c.
        nest3(&x, &c, &a);
    });
    let r = one_cycle(reports);
    let text = r.to_string();
    if !trimmed(r.backtrace().unwrap()) {
        return;
    }
    let edge = |from: &str| {
        r.edges()
            .iter()
            .find(|d| d.from == from)
            .unwrap_or_else(|| panic!("{r}"))
    };
    let (ac, ca) = (edge("btn_a"), edge("btn_c"));
    // a was taken at nest3's first line: no backtrace was ever taken there.
    assert_eq!(ac.held_in(), None, "{r}");
    assert_eq!(ac.taken_in(), Some("backtrace_env::nest3"));
    // c at nest3's second line: learned from the edge a -> b born there.
    assert_eq!(ca.held_in(), Some("backtrace_env::nest3"), "{r}");
    assert_eq!(ca.taken_in(), Some("backtrace_env::nest3"));
    assert!(
        text.contains(&format!(
            "       taken at {} (in backtrace_env::nest3)\n",
            ac.taken_at
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "       held at  {} (in backtrace_env::nest3)\n",
            ca.held_at
        )),
        "{text}"
    );
    // The held list: x (nest3's first line, unknown), c (second, known).
    let held: Vec<&str> = r.held_locks().iter().map(|h| h.class.as_str()).collect();
    assert_eq!(held, ["btn_x", "btn_c"], "{r}");
    assert_eq!(r.held_in(0), None);
    assert_eq!(r.held_in(1), Some("backtrace_env::nest3"));
    assert!(
        text.contains(&format!(
            " #1: {} (in backtrace_env::nest3)\n",
            r.held_locks()[1]
        )),
        "{text}"
    );
    assert!(text.contains(&format!(" #0: {}\n", r.held_locks()[0])));
}
