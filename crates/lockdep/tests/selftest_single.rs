//! Single-threaded scenario families in the spirit of Linux's
//! `lib/locking-selftest.c`: recursive locking (AA), cycles of two to four
//! classes formed pairwise (ABBA, ABBCCA, ABBCCDDA, ABCDBDDA, ABCDBCDA), all
//! 81 read/write/recursive-read variants of ABBA judged by the strong-cycle
//! rule, trylocks, out-of-order unlocks, subclasses, nest locks, stated
//! orders, bad unlocks, upgrade/downgrade, `might_lock`, pseudo-locks,
//! declared orders and report deduplication.
//!
//! The dependency graph is one per process and the tests of this binary run
//! in parallel, so every scenario makes fresh classes and fresh (leaked)
//! lock instances.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{
    capture, held_locks, is_enabled, might_lock, DepKind, LockClass, LockMap, Mode, Report,
    ReportKind, Site,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The file every site of these scenarios must point into.
const FILE: &str = "selftest_single.rs";
const MODES: [Mode; 3] = [Mode::Write, Mode::Read, Mode::RecursiveRead];
const W: Mode = Mode::Write;
const R: Mode = Mode::Read;
const RR: Mode = Mode::RecursiveRead;

static SERIAL: AtomicUsize = AtomicUsize::new(0);

/// A fresh class, never shared with another scenario.
fn class(tag: &str, name: &str) -> &'static LockClass {
    assert!(is_enabled(), "these tests need the validator on");
    let n = SERIAL.fetch_add(1, Ordering::Relaxed);
    LockClass::leak(&format!("{tag}_{name}_{n}"))
}

/// A fresh lock of `class`, leaked so that its address (its identity) is
/// never reused by another scenario.
fn instance(class: &'static LockClass) -> &'static LockMap {
    Box::leak(Box::new(LockMap::new(class)))
}

/// One fresh lock per name, each of a fresh class of its own.
fn locks<const N: usize>(tag: &str, names: [&str; N]) -> [&'static LockMap; N] {
    names.map(|n| instance(class(tag, n)))
}

/// The reports, readably, for assertion messages.
fn show(reports: &[Report]) -> String {
    if reports.is_empty() {
        return "no report".to_owned();
    }
    reports
        .iter()
        .map(|r| format!("{r}\n"))
        .collect::<Vec<_>>()
        .join("")
}

/// Whether `site` is a line of code in this file (at `line`, if given).
fn here(site: Site, line: Option<u32>) -> bool {
    match site {
        Site::Code(l) => l.file().ends_with(FILE) && line.is_none_or(|n| l.line() == n),
        _ => false,
    }
}

/// Holds `held` in `m1` while taking `taken` in `m2` (blocking), then
/// releases both: exactly the dependency `held -> taken`. Returns the lines
/// of the two acquisitions, which every edge it adds names.
fn pair(held: &LockMap, m1: Mode, taken: &LockMap, m2: Mode) -> (u32, u32) {
    let (h1, l1) = (held.acquire(m1), line!());
    let (h2, l2) = (taken.acquire(m2), line!());
    taken.release(h2);
    held.release(h1);
    (l1, l2)
}

/// Checks that `r` is a cycle report of `kind` through `expected` (class
/// names in cycle order, starting with the lock being acquired), raised at
/// the closing acquisition, with both sites of every edge in this file (at
/// `pair`'s two lines when `lines` is given).
fn check_cycle(
    r: &Report,
    kind: ReportKind,
    expected: &[String],
    lines: Option<(u32, u32)>,
) -> Result<(), String> {
    let fail = |what: String| Err(format!("{what}\n{r}"));
    if r.kind() != kind {
        return fail(format!("kind {:?}, expected {kind:?}", r.kind()));
    }
    if r.classes() != expected {
        return fail(format!("classes {:?}, expected {expected:?}", r.classes()));
    }
    let cycle = r.edges();
    if cycle.len() != expected.len() {
        return fail(format!(
            "{} edges, expected {}",
            cycle.len(),
            expected.len()
        ));
    }
    for (i, d) in cycle.iter().enumerate() {
        let to = &expected[(i + 1) % expected.len()];
        if d.from != expected[i] || d.to != *to {
            return fail(format!(
                "edge #{i} is {d}, expected {} -> {to}",
                expected[i]
            ));
        }
        if d.declared {
            continue;
        }
        let (held_line, taken_line) = lines.unzip();
        if !here(d.held_at, held_line) || !here(d.taken_at, taken_line) {
            return fail(format!("edge #{i} has sites outside this test: {d}"));
        }
    }
    let closing = cycle.last().expect("checked non-empty");
    match r.acquiring() {
        Some(a) if a.class == expected[0] && a.site == closing.taken_at => Ok(()),
        other => fail(format!(
            "not raised at the closing acquisition: {other:?}, closing edge {closing}"
        )),
    }
}

/// Asserts `reports` is exactly one cycle report (see `check_cycle`).
#[track_caller]
fn assert_cycle<'a>(
    reports: &'a [Report],
    kind: ReportKind,
    expected: &[String],
    lines: Option<(u32, u32)>,
) -> &'a Report {
    assert_eq!(reports.len(), 1, "expected one report:\n{}", show(reports));
    if let Err(e) = check_cycle(&reports[0], kind, expected, lines) {
        panic!("{e}");
    }
    &reports[0]
}

/// Asserts `reports` is exactly one report of `kind` naming `classes`.
#[track_caller]
fn assert_one<'a>(reports: &'a [Report], kind: ReportKind, classes: &[String]) -> &'a Report {
    assert_eq!(reports.len(), 1, "expected one report:\n{}", show(reports));
    let r = &reports[0];
    assert_eq!(r.kind(), kind, "{r}");
    assert_eq!(r.classes(), classes, "{r}");
    r
}

#[track_caller]
fn assert_none(reports: &[Report]) {
    assert!(reports.is_empty(), "expected no report:\n{}", show(reports));
}

/// The learned edges `(from, to)` between the classes of `locks`.
fn edges_among(locks: &[&LockMap]) -> Vec<(String, String)> {
    let wanted = names(locks);
    let g = kernsync_lockdep::graph();
    g.edges
        .iter()
        .map(|e| (g.classes[e.from].name.clone(), g.classes[e.to].name.clone()))
        .filter(|(f, t)| wanted.contains(f) && wanted.contains(t))
        .collect()
}

fn names(locks: &[&LockMap]) -> Vec<String> {
    locks.iter().map(|l| l.class_name()).collect()
}

// ---------------------------------------------------------------------------
// AA: a second lock of a held class.

/// The rule: a second lock of a held class is fine only as a recursive read
/// of a read-held class (no annotations here).
fn second_lock_allowed(held: Mode, taken: Mode) -> bool {
    taken == Mode::RecursiveRead && held != Mode::Write
}

/// Every mode pair, taking the very same lock twice (`same`) or two locks of
/// one class.
fn aa_table(same: bool) {
    let mut wrong = Vec::new();
    for m1 in MODES {
        for m2 in MODES {
            let c = class("aa", if same { "same" } else { "other" });
            let (first, second) = (instance(c), instance(c));
            let second = if same { first } else { second };
            let ((), reports) = capture(|| {
                let h1 = first.acquire(m1);
                let h2 = second.acquire(m2);
                second.release(h2);
                first.release(h1);
            });
            let name = c.name().to_owned();
            let ok = match (second_lock_allowed(m1, m2), reports.as_slice()) {
                (true, []) => true,
                (false, [r]) => {
                    r.kind() == ReportKind::RecursiveLocking
                        && r.classes() == [name.clone(), name]
                        && r.acquiring()
                            .is_some_and(|a| a.mode == m2 && here(a.site, None))
                }
                _ => false,
            };
            if !ok {
                wrong.push(format!(
                    "held {m1:?} then {m2:?} (same instance: {same}): {}",
                    show(&reports)
                ));
            }
            assert!(held_locks().is_empty());
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn aa_same_instance_every_mode_pair() {
    // Write/Write, Read/Read, Write/RecursiveRead, RecursiveRead/Read ... are
    // recursive locking; RecursiveRead of a Read- or RecursiveRead-held lock is not.
    aa_table(true);
}

#[test]
fn aa_same_class_other_instance_every_mode_pair() {
    aa_table(false);
}

#[test]
fn aa_write_twice_names_both_acquisitions() {
    let [a] = locks("aa_named", ["A"]);
    let ((first, second), reports) = capture(|| {
        let (h1, first) = (a.acquire(W), line!());
        let (h2, second) = (a.acquire(W), line!());
        a.release(h2);
        a.release(h1);
        (first, second)
    });
    let r = assert_one(&reports, ReportKind::RecursiveLocking, &names(&[a, a]));
    let acq = r.acquiring().expect("names the acquisition");
    assert!(here(acq.site, Some(second)), "{r}");
    assert_eq!(r.held_locks().len(), 1, "{r}");
    assert!(here(r.held_locks()[0].site, Some(first)), "{r}");
    assert!(r.scenario().contains("DEADLOCK"), "{r}");
}

// ---------------------------------------------------------------------------
// Cycles formed pairwise.

/// Runs a locking-selftest shape such as `"AB CD BD DA"`: each word takes its
/// first lock (Write), then its second (Write), then releases both, inside a
/// capture of its own. Every word but the last must be silent, the last
/// must report exactly the cycle `cycle` (letters, starting at the lock the
/// last word takes). Running the shape again reports nothing more.
fn shape(tag: &str, words: &str, cycle: &str) {
    let mut by_letter: HashMap<char, &'static LockMap> = HashMap::new();
    for ch in words.chars().filter(|c| c.is_ascii_alphabetic()) {
        by_letter
            .entry(ch)
            .or_insert_with(|| instance(class(tag, &ch.to_string())));
    }
    let words: Vec<(&LockMap, &LockMap)> = words
        .split_whitespace()
        .map(|w| {
            let mut cs = w.chars();
            let (x, y) = (cs.next().unwrap(), cs.next().unwrap());
            (by_letter[&x], by_letter[&y])
        })
        .collect();
    let run = || -> Vec<(Vec<Report>, (u32, u32))> {
        words
            .iter()
            .map(|&(x, y)| {
                let (lines, reports) = capture(|| pair(x, W, y, W));
                (reports, lines)
            })
            .collect()
    };
    let first = run();
    let (last, prefix) = first.split_last().expect("a shape has words");
    for (i, (reports, _)) in prefix.iter().enumerate() {
        assert!(
            reports.is_empty(),
            "{tag}: word {i} reported before the cycle closed:\n{}",
            show(reports)
        );
    }
    let expected: Vec<String> = cycle.chars().map(|c| by_letter[&c].class_name()).collect();
    assert_cycle(
        &last.0,
        ReportKind::CircularDependency,
        &expected,
        Some(last.1),
    );
    // Closing the same cycle again: already known, reported once.
    for (reports, _) in run() {
        assert_none(&reports);
    }
    assert!(held_locks().is_empty());
}

#[test]
fn abba() {
    shape("abba", "AB BA", "AB");
}

#[test]
fn abbcca() {
    shape("abbcca", "AB BC CA", "ABC");
}

#[test]
fn abbccdda() {
    shape("abbccdda", "AB BC CD DA", "ABCD");
}

#[test]
fn abcdbdda() {
    // C -> D is learned but is not part of the cycle A -> B -> D -> A.
    shape("abcdbdda", "AB CD BD DA", "ABD");
}

#[test]
fn abcdbcda() {
    shape("abcdbcda", "AB CD BC DA", "ABCD");
}

/// One acquisition that closes cycles through two held locks (the seed
/// bug's shape: `mmap_lock` and `mm_lock` both held when the hotplug lock is
/// read) gives one report, through the lock taken last, as Linux's splat
/// does; the outer edge is still learned.
#[test]
fn one_acquisition_closing_two_cycles_reports_the_innermost_once() {
    let [hp, mmap, mm] = locks("two_cycles", ["hotplug", "mmap", "mm"]);
    // hotplug -> mmap, the long way round in the real bug.
    let ((), first) = capture(|| {
        let h = hp.acquire(W);
        let m = mmap.acquire(R);
        mmap.release(m);
        hp.release(h);
    });
    assert_none(&first);
    // mmap (write), then mm, then the hotplug lock read: closes
    // hotplug -> mmap -> hotplug and hotplug -> mmap -> mm -> hotplug.
    let ((), second) = capture(|| {
        let m = mmap.acquire(W);
        let n = mm.acquire(W);
        let h = hp.acquire(R);
        hp.release(h);
        mm.release(n);
        mmap.release(m);
    });
    assert_eq!(second.len(), 1, "{}", show(&second));
    let names = second[0].classes();
    assert_eq!(names.len(), 3, "the cycle through mm: {}", show(&second));
    assert!(
        names.iter().any(|n| n.contains("two_cycles_mm_")),
        "{}",
        show(&second)
    );
    // The outer edge mmap -> hotplug was recorded in the second run (only
    // its report was left out): the two locks on their own add no edge, so
    // report nothing (had the edge been dropped, this would close
    // hotplug -> mmap -> hotplug now).
    let ((), third) = capture(|| {
        let m = mmap.acquire(W);
        let h = hp.acquire(R);
        hp.release(h);
        mmap.release(m);
    });
    assert_none(&third);
}

#[test]
fn abba_sites_name_both_acquisitions_of_each_edge() {
    let [a, b] = locks("abba_sites", ["A", "B"]);
    let ((la, lb), first) = capture(|| {
        let (ha, la) = (a.acquire(W), line!());
        let (hb, lb) = (b.acquire(W), line!());
        b.release(hb);
        a.release(ha);
        (la, lb)
    });
    assert_none(&first);
    let ((lb2, la2), second) = capture(|| {
        let (hb, lb2) = (b.acquire(W), line!());
        let (ha, la2) = (a.acquire(W), line!());
        a.release(ha);
        b.release(hb);
        (lb2, la2)
    });
    let r = assert_cycle(
        &second,
        ReportKind::CircularDependency,
        &names(&[a, b]),
        None,
    );
    let (ab, ba) = (&r.edges()[0], &r.edges()[1]);
    assert!(
        here(ab.held_at, Some(la)) && here(ab.taken_at, Some(lb)),
        "{r}"
    );
    assert!(
        here(ba.held_at, Some(lb2)) && here(ba.taken_at, Some(la2)),
        "{r}"
    );
    assert_eq!((ab.kind(), ba.kind()), (DepKind::EN, DepKind::EN));
    assert_eq!(r.held_locks().len(), 1, "{r}");
    assert!(r.scenario().contains("DEADLOCK"), "{r}");
}

// ---------------------------------------------------------------------------
// ABBA in all read/write/recursive-read modes.

/// The verdict, from the strong-cycle rule alone: edge 1 is `A -> B` (A held
/// in `m1`, B taken in `m2`), edge 2 is `B -> A` (B held in `m3`, A taken in
/// `m4`). A node breaks the cycle when the edge entering it is `-(xR)->`
/// (taken as a recursive read) and the edge leaving it is `-(Sx)->` (held
/// shared). B is entered by edge 1 and left by edge 2; A the other way round.
fn two_cycle_is_deadlock(m1: Mode, m2: Mode, m3: Mode, m4: Mode) -> bool {
    let entered_by_r = |taken: Mode| taken == Mode::RecursiveRead;
    let left_by_s = |held: Mode| held != Mode::Write;
    let b_breaks = entered_by_r(m2) && left_by_s(m3);
    let a_breaks = entered_by_r(m4) && left_by_s(m1);
    !(a_breaks || b_breaks)
}

#[test]
fn abba_all_81_mode_combinations() {
    let mut wrong = Vec::new();
    let mut deadlocks = 0;
    for m1 in MODES {
        for m2 in MODES {
            for m3 in MODES {
                for m4 in MODES {
                    let [a, b] = locks("abba81", ["A", "B"]);
                    let combo = format!(
                        "A({m1:?}) then B({m2:?}) {}, B({m3:?}) then A({m4:?}) {}",
                        DepKind::new(m1, m2),
                        DepKind::new(m3, m4)
                    );
                    let (_, first) = capture(|| pair(a, m1, b, m2));
                    let (lines, second) = capture(|| pair(b, m3, a, m4));
                    let deadlock = two_cycle_is_deadlock(m1, m2, m3, m4);
                    deadlocks += usize::from(deadlock);
                    let verdict = if !first.is_empty() {
                        Err(format!("the first path reported:\n{}", show(&first)))
                    } else {
                        match (deadlock, second.as_slice()) {
                            (false, []) => Ok(()),
                            (true, [r]) => check_cycle(
                                r,
                                ReportKind::CircularDependency,
                                &names(&[a, b]),
                                Some(lines),
                            )
                            .and_then(|()| {
                                let kinds = (r.edges()[0].kind(), r.edges()[1].kind());
                                if kinds == (DepKind::new(m1, m2), DepKind::new(m3, m4)) {
                                    Ok(())
                                } else {
                                    Err(format!("edge kinds {kinds:?}"))
                                }
                            }),
                            (d, _) => Err(format!(
                                "expected {}, got:\n{}",
                                if d { "one report" } else { "no report" },
                                show(&second)
                            )),
                        }
                    };
                    if let Err(e) = verdict {
                        wrong.push(format!("{combo}: {e}"));
                    }
                }
            }
        }
    }
    // The rule breaks the cycle in 32 of the 81 combinations.
    assert_eq!(deadlocks, 49);
    assert!(
        wrong.is_empty(),
        "{} of 81 combinations wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn er_then_sn_is_not_a_deadlock() {
    // A -(ER)-> B -(SN)-> A: B is entered by R and left by S.
    let [a, b] = locks("er_sn", ["A", "B"]);
    let (_, reports) = capture(|| {
        pair(a, W, b, RR);
        pair(b, R, a, W);
    });
    assert_none(&reports);
}

#[test]
fn all_er_cycle_is_a_deadlock() {
    // A -(ER)-> B -(ER)-> A: each lock held exclusively while the other is read.
    let [a, b] = locks("er_er", ["A", "B"]);
    let (_, first) = capture(|| pair(a, W, b, RR));
    assert_none(&first);
    let (lines, second) = capture(|| pair(b, W, a, RR));
    let r = assert_cycle(
        &second,
        ReportKind::CircularDependency,
        &names(&[a, b]),
        Some(lines),
    );
    assert!(r.edges().iter().all(|d| d.kind() == DepKind::ER), "{r}");
}

// ---------------------------------------------------------------------------
// Trylock.

#[test]
fn trylock_adds_no_edge_into_the_trylocked_lock() {
    let [a, b] = locks("try_into", ["A", "B"]);
    let (held, reports) = capture(|| {
        let ha = a.acquire(W);
        let hb = b.try_acquired(W);
        let held = held_locks().len();
        b.release(hb);
        a.release(ha);
        // B then A, blocking: no A -> B edge exists to close a cycle with.
        pair(b, W, a, W);
        held
    });
    assert_none(&reports);
    assert_eq!(held, 2);
}

#[test]
fn trylock_adds_edges_out_of_the_trylocked_lock() {
    let [a, b] = locks("try_out", ["A", "B"]);
    let (try_line, first) = capture(|| {
        let (ha, line) = (a.try_acquired(W), line!());
        let hb = b.acquire(W);
        b.release(hb);
        a.release(ha);
        line
    });
    assert_none(&first);
    let (lines, second) = capture(|| pair(b, W, a, W));
    let r = assert_cycle(
        &second,
        ReportKind::CircularDependency,
        &names(&[a, b]),
        None,
    );
    let ab = &r.edges()[0];
    assert!(here(ab.held_at, Some(try_line)), "{r}");
    let ba = &r.edges()[1];
    assert!(here(ba.held_at, Some(lines.0)) && here(ba.taken_at, Some(lines.1)));
}

#[test]
fn trylock_of_a_held_lock_or_class_is_not_reported() {
    // A trylock cannot wait, so it cannot deadlock: the docs of
    // `try_acquired` and the slow path skip every check for it.
    let c = class("try_held", "C");
    let (c1, c2) = (instance(c), instance(c));
    let (held, reports) = capture(|| {
        let h1 = c1.acquire(W);
        let h2 = c1.try_acquired(W);
        let h3 = c2.try_acquired(R);
        let held = held_locks().len();
        c2.release(h3);
        c1.release(h2);
        c1.release(h1);
        held
    });
    assert_none(&reports);
    assert_eq!(held, 3);
    assert!(held_locks().is_empty());
}

// ---------------------------------------------------------------------------
// Out-of-order unlock.

#[test]
fn out_of_order_unlock_is_fine() {
    let [a, b, c] = locks("ooo", ["A", "B", "C"]);
    let ((after_b, after_a), reports) = capture(|| {
        let ha = a.acquire(W);
        let hb = b.acquire(W);
        let hc = c.acquire(W);
        b.release(hb);
        let after_b: Vec<String> = held_locks().into_iter().map(|h| h.class).collect();
        a.release(ha);
        let after_a: Vec<String> = held_locks().into_iter().map(|h| h.class).collect();
        c.release(hc);
        (after_b, after_a)
    });
    assert_none(&reports);
    assert_eq!(after_b, names(&[a, c]));
    assert_eq!(after_a, names(&[c]));
    assert!(held_locks().is_empty());
}

#[test]
fn out_of_order_unlock_keeps_the_held_chain_right() {
    let [a, b, c, d] = locks("ooo_chain", ["A", "B", "C", "D"]);
    let (_, reports) = capture(|| {
        let ha = a.acquire(W);
        let hb = b.acquire(W);
        let hc = c.acquire(W);
        b.release(hb);
        // Holding A and C: D gains A -> D and C -> D, not B -> D.
        let hd = d.acquire(W);
        d.release(hd);
        c.release(hc);
        a.release(ha);
    });
    assert_none(&reports);
    assert!(held_locks().is_empty());
    let mut learned = edges_among(&[a, b, c, d]);
    learned.sort();
    let [na, nb, nc, nd] = [a, b, c, d].map(|l| l.class_name());
    let mut expected = vec![
        (na.clone(), nb.clone()),
        (na.clone(), nc.clone()),
        (nb, nc.clone()),
        (na, nd.clone()),
        (nc, nd),
    ];
    expected.sort();
    assert_eq!(learned, expected, "B -> D must not be learned");
    // The edges into D close cycles through A and through C.
    let (_, da) = capture(|| pair(d, W, a, W));
    assert_cycle(&da, ReportKind::CircularDependency, &names(&[a, d]), None);
    let (_, dc) = capture(|| pair(d, W, c, W));
    assert_cycle(&dc, ReportKind::CircularDependency, &names(&[c, d]), None);
}

#[test]
fn out_of_order_unlock_rekeys_the_held_chain() {
    // The chain A, B, D is validated and cached first. Then, holding A, B, C,
    // B is released: the held chain is A, C now, and taking D is the new
    // chain A, C, D (with the new edge C -> D), not a hit on A, B, D.
    let [a, b, c, d] = locks("ooo_rekey", ["A", "B", "C", "D"]);
    let (_, cached) = capture(|| {
        let ha = a.acquire(W);
        let hb = b.acquire(W);
        let hd = d.acquire(W);
        d.release(hd);
        b.release(hb);
        a.release(ha);
    });
    assert_none(&cached);
    let (_, reports) = capture(|| {
        let ha = a.acquire(W);
        let hb = b.acquire(W);
        let hc = c.acquire(W);
        b.release(hb);
        let hd = d.acquire(W);
        d.release(hd);
        c.release(hc);
        a.release(ha);
    });
    assert_none(&reports);
    let (_, dc) = capture(|| pair(d, W, c, W));
    assert_cycle(&dc, ReportKind::CircularDependency, &names(&[c, d]), None);
}

// ---------------------------------------------------------------------------
// Same-class nesting: subclasses.

#[test]
fn subclasses_order_nested_locks_of_one_class() {
    let c = class("nested", "inode");
    let (parent, child) = (instance(c), instance(c));
    let name = c.name().to_owned();
    let sub1 = format!("{name}/1");
    // Parent (subclass 0) then child (subclass 1): ordered, not recursive.
    let (held, first) = capture(|| {
        let hp = parent.acquire_nested(W, 0);
        let hc = child.acquire_nested(W, 1);
        let held: Vec<String> = held_locks().into_iter().map(|h| h.class).collect();
        child.release(hc);
        parent.release(hp);
        held
    });
    assert_none(&first);
    assert_eq!(held, [name.clone(), sub1.clone()]);
    // The reverse order of the subclasses closes a cycle.
    let (_, second) = capture(|| {
        let hc = child.acquire_nested(W, 1);
        let hp = parent.acquire(W);
        parent.release(hp);
        child.release(hc);
    });
    assert_cycle(
        &second,
        ReportKind::CircularDependency,
        &[name.clone(), sub1],
        None,
    );
    // Without a subclass: possible recursive locking.
    let (_, third) = capture(|| {
        let hp = parent.acquire(W);
        let hc = child.acquire(W);
        child.release(hc);
        parent.release(hp);
    });
    assert_one(&third, ReportKind::RecursiveLocking, &[name.clone(), name]);
}

// ---------------------------------------------------------------------------
// Nest locks and stated orders.

#[test]
fn nest_lock_allows_many_locks_of_one_class() {
    let outer = instance(class("nest", "mm"));
    let c = class("nest", "anon_vma");
    let inner: Vec<&LockMap> = (0..10).map(|_| instance(c)).collect();
    let (classes, reports) = capture(|| {
        let ho = outer.acquire(W);
        let held: Vec<_> = inner
            .iter()
            .map(|l| l.acquire_nest_lock(W, outer))
            .collect();
        let classes: Vec<String> = held_locks().into_iter().map(|h| h.class).collect();
        for (l, h) in inner.iter().zip(held).rev() {
            l.release(h);
        }
        outer.release(ho);
        classes
    });
    assert_none(&reports);
    // They share one held-stack entry.
    assert_eq!(classes, [outer.class_name(), c.name().to_owned()]);
    assert!(held_locks().is_empty());
}

#[test]
fn nest_lock_release_in_acquisition_order() {
    // mm_drop_all_locks releases in the order mm_take_all_locks took.
    let outer = instance(class("nest_fifo", "mm"));
    let c = class("nest_fifo", "anon_vma");
    let inner: Vec<&LockMap> = (0..3).map(|_| instance(c)).collect();
    let (_, reports) = capture(|| {
        let ho = outer.acquire(W);
        let held: Vec<_> = inner
            .iter()
            .map(|l| l.acquire_nest_lock(W, outer))
            .collect();
        for (l, h) in inner.iter().zip(held) {
            l.release(h);
        }
        let left = held_locks();
        outer.release(ho);
        left
    });
    let leaked = held_locks();
    // Leave the thread clean for whoever runs next on it, whatever happened.
    for _ in 0..leaked.len() {
        inner[0].release_unpaired();
    }
    assert_none(&reports);
    assert!(leaked.is_empty(), "entries leaked: {leaked:?}");
}

#[test]
fn nest_lock_not_held_is_reported() {
    let outer = instance(class("nest_missing", "mm"));
    let c = class("nest_missing", "anon_vma");
    let inner = instance(c);
    let (_, reports) = capture(|| {
        let h = inner.acquire_nest_lock(W, outer);
        inner.release(h);
    });
    assert_one(
        &reports,
        ReportKind::RecursiveLocking,
        &[c.name().to_owned()],
    );
}

#[test]
fn stated_order_increasing_keys_is_fine() {
    let c = class("ordered_up", "bucket");
    let buckets: Vec<&LockMap> = (0..4).map(|_| instance(c)).collect();
    let (_, reports) = capture(|| {
        let held: Vec<_> = buckets
            .iter()
            .enumerate()
            .map(|(i, l)| l.acquire_ordered(W, i as u64 * 10))
            .collect();
        for (l, h) in buckets.iter().zip(held).rev() {
            l.release(h);
        }
    });
    assert_none(&reports);
}

#[test]
fn stated_order_decreasing_keys_is_recursive_locking() {
    let c = class("ordered_down", "bucket");
    let (x, y) = (instance(c), instance(c));
    let ((), reports) = capture(|| {
        let hx = x.acquire_ordered(W, 5);
        let hy = y.acquire_ordered(W, 3);
        y.release(hy);
        x.release(hx);
    });
    let name = c.name().to_owned();
    assert_one(
        &reports,
        ReportKind::RecursiveLocking,
        &[name.clone(), name],
    );
}

// ---------------------------------------------------------------------------
// Bad unlocks.

#[test]
fn release_with_nothing_held_is_a_bad_unlock() {
    let [a] = locks("bad_unlock_none", ["A"]);
    let (_, reports) = capture(|| a.release_unpaired());
    assert_one(&reports, ReportKind::BadUnlock, &names(&[a]));
}

#[test]
fn second_release_is_a_bad_unlock() {
    let [a, b] = locks("bad_unlock_twice", ["A", "B"]);
    let (held, reports) = capture(|| {
        let hb = b.acquire(W);
        let ha = a.acquire(W);
        a.release(ha);
        a.release_unpaired(); // A released a second time
        let held: Vec<String> = held_locks().into_iter().map(|h| h.class).collect();
        b.release(hb);
        held
    });
    assert_one(&reports, ReportKind::BadUnlock, &names(&[a]));
    assert_eq!(held, names(&[b]));
    assert!(held_locks().is_empty());
}

#[test]
fn bad_unlock_names_the_callers_line() {
    let [a] = locks("bad_unlock_site", ["A"]);
    let (line, reports) = capture(|| {
        let h = a.acquire(W);
        a.release(h);
        let line = line!() + 1;
        a.release_unpaired();
        line
    });
    let r = assert_one(&reports, ReportKind::BadUnlock, &names(&[a]));
    let site = format!("{FILE}:{line}:");
    assert!(r.detail().contains(&site), "expected {site} in: {r}");
}

// ---------------------------------------------------------------------------
// Downgrade and upgrade.

#[test]
fn downgrade_adds_no_edge_and_later_edges_leave_a_read() {
    let [a, b, c] = locks("downgrade", ["A", "B", "C"]);
    let (modes, first) = capture(|| {
        let mut ha = a.acquire(W);
        let hb = b.acquire(W);
        // An edge B -> A here would close A -> B -> A at once.
        a.downgrade(&mut ha);
        let modes = (ha.mode(), held_locks()[0].mode);
        b.release(hb);
        // A is now held shared: C gains A -(SN)-> C.
        let hc = c.acquire(W);
        c.release(hc);
        a.release(ha);
        modes
    });
    assert_none(&first);
    assert_eq!(modes, (R, R));
    // C -(ER)-> A -(SN)-> C: A is entered by R and left by S, no deadlock.
    let (_, second) = capture(|| pair(c, W, a, RR));
    assert_none(&second);
}

#[test]
fn without_downgrade_the_same_scenario_is_a_deadlock() {
    // The control of the test above: A stays write-held, so A -(EN)-> C.
    let [a, c] = locks("no_downgrade", ["A", "C"]);
    let (_, first) = capture(|| pair(a, W, c, W));
    assert_none(&first);
    let (lines, second) = capture(|| pair(c, W, a, RR));
    assert_cycle(
        &second,
        ReportKind::CircularDependency,
        &names(&[a, c]),
        Some(lines),
    );
}

/// Holds `a` for read, takes `b` for write, and upgrades `a` when `upgrade`.
/// Returns the reports and the line of the upgrade.
fn upgrade_scenario(a: &LockMap, b: &LockMap, upgrade: bool) -> (Vec<Report>, u32) {
    let ((line, mode), reports) = capture(|| {
        let mut ha = a.acquire(R);
        let hb = b.acquire(W);
        let line = line!() + 2;
        if upgrade {
            a.upgrade(&mut ha);
        }
        let mode = ha.mode();
        b.release(hb);
        a.release(ha);
        (line, mode)
    });
    assert_eq!(mode, if upgrade { W } else { R });
    (reports, line)
}

#[test]
fn upgrade_adds_edges_from_locks_taken_after_it() {
    // The upgrade waits for A's other readers while holding B: B -(EN)-> A,
    // and A -(SN)-> B was learned when B was taken.
    let [a, b] = locks("upgrade", ["A", "B"]);
    let (reports, _) = upgrade_scenario(a, b, true);
    let r = assert_one(&reports, ReportKind::CircularDependency, &names(&[a, b]));
    let (ab, ba) = (&r.edges()[0], &r.edges()[1]);
    assert_eq!((ab.from.as_str(), ab.kind()), (r.classes()[0], DepKind::SN));
    assert_eq!((ba.from.as_str(), ba.kind()), (r.classes()[1], DepKind::EN));
    assert_eq!(ba.taken_mode, W);
    assert!(here(ab.held_at, None) && here(ab.taken_at, None), "{r}");
    assert!(here(ba.held_at, None), "{r}");
    // Without the upgrade, the same locks are fine.
    let [a2, b2] = locks("no_upgrade", ["A", "B"]);
    let (reports, _) = upgrade_scenario(a2, b2, false);
    assert_none(&reports);
}

#[test]
fn upgrade_edge_names_the_upgrade_site() {
    let [a, b] = locks("upgrade_site", ["A", "B"]);
    let (reports, line) = upgrade_scenario(a, b, true);
    assert_eq!(reports.len(), 1, "{}", show(&reports));
    let r = &reports[0];
    let deps = r.edges();
    let closing = deps.last().expect("a cycle");
    assert!(here(closing.taken_at, Some(line)), "{r}");
    assert!(
        r.acquiring().is_some_and(|h| h.site == closing.taken_at),
        "{r}"
    );
}

// ---------------------------------------------------------------------------
// Annotations.

#[test]
fn might_lock_learns_the_order_without_taking_the_lock() {
    let a = instance(class("might_lock", "A"));
    let b_class = class("might_lock", "B");
    let b = instance(b_class);
    let ((line, held), first) = capture(|| {
        let ha = a.acquire(W);
        let line = line!() + 1;
        might_lock(b_class, W);
        let held = held_locks().len();
        a.release(ha);
        (line, held)
    });
    assert_none(&first);
    assert_eq!(held, 1, "might_lock must not leave B held");
    let (_, second) = capture(|| pair(b, W, a, W));
    let r = assert_cycle(
        &second,
        ReportKind::CircularDependency,
        &names(&[a, b]),
        None,
    );
    assert!(here(r.edges()[0].taken_at, Some(line)), "{r}");
}

#[test]
fn pseudo_lock_models_a_flush() {
    // The worker runs the work (which takes L) holding the pseudo-lock; the
    // waiter flushes (acquires and releases the pseudo-lock) holding L.
    let [work, l] = locks("flush", ["work", "L"]);
    let (_, worker) = capture(|| {
        work.with(W, || {
            let h = l.acquire(W);
            l.release(h);
        })
    });
    assert_none(&worker);
    let (_, waiter) = capture(|| {
        let h = l.acquire(W);
        work.acquire_release(W);
        l.release(h);
    });
    assert_cycle(
        &waiter,
        ReportKind::CircularDependency,
        &names(&[work, l]),
        None,
    );
}

static DECLARED_INNER: LockClass = LockClass::new("selftest_single_declared_inner");
static DECLARED_OUTER: LockClass =
    LockClass::new("selftest_single_declared_outer").before(&[&DECLARED_INNER]);

#[test]
fn declared_order_is_reported_on_first_reverse_use() {
    let (outer, inner) = (instance(&DECLARED_OUTER), instance(&DECLARED_INNER));
    let (_, right) = capture(|| pair(outer, W, inner, W));
    assert_none(&right);
    let (lines, wrong) = capture(|| pair(inner, W, outer, W));
    let expected = [
        DECLARED_OUTER.name().to_owned(),
        DECLARED_INNER.name().to_owned(),
    ];
    let r = assert_cycle(&wrong, ReportKind::OrderViolation, &expected, None);
    let (declared, observed) = (&r.edges()[0], &r.edges()[1]);
    assert!(declared.declared, "{r}");
    assert_eq!(declared.held_at, Site::Declared(DECLARED_OUTER.site()));
    assert!(!observed.declared, "{r}");
    assert!(here(observed.held_at, Some(lines.0)) && here(observed.taken_at, Some(lines.1)));
}

static DECLARED_ONLY_INNER: LockClass = LockClass::new("selftest_single_declared_only_inner");
static DECLARED_ONLY_OUTER: LockClass =
    LockClass::new("selftest_single_declared_only_outer").before(&[&DECLARED_ONLY_INNER]);

#[test]
fn declared_order_needs_no_observed_forward_order() {
    // The forward order is never exercised: the declaration alone suffices.
    let (outer, inner) = (
        instance(&DECLARED_ONLY_OUTER),
        instance(&DECLARED_ONLY_INNER),
    );
    let (_, reports) = capture(|| pair(inner, W, outer, W));
    let expected = [
        DECLARED_ONLY_OUTER.name().to_owned(),
        DECLARED_ONLY_INNER.name().to_owned(),
    ];
    assert_cycle(&reports, ReportKind::OrderViolation, &expected, None);
}

// ---------------------------------------------------------------------------
// Deduplication.

#[test]
fn a_cycle_is_reported_once() {
    let [a, b] = locks("dedup", ["A", "B"]);
    let (_, reports) = capture(|| {
        for _ in 0..3 {
            pair(a, W, b, W);
            pair(b, W, a, W);
        }
        // Closed again from another site, in the same modes.
        let hb = b.acquire(W);
        let ha = a.acquire(W);
        a.release(ha);
        b.release(hb);
    });
    assert_cycle(
        &reports,
        ReportKind::CircularDependency,
        &names(&[a, b]),
        None,
    );
}
