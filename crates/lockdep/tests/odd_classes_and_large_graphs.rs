//! Classes and graphs at their edges: classes leaked twice with one name,
//! empty and ten-thousand-character names, names with quotes, newlines and
//! controls (exported and parsed back), declared orders that contradict or
//! point at themselves, a 5,000-class declared chain (in a child process),
//! a forty-class cycle, a full held stack released out of order, sixteen
//! threads taking fresh chains at once and snapshots while the graph grows.
//!
//! Each misuse must end in a clear report or panic, never a hang, a crash, a
//! silent wrong answer or a held stack that no longer matches what the
//! thread holds. Every scenario takes fresh classes and releases what it
//! took before it asserts (see `common/misuse.rs`); no test here turns
//! validation off or reaches a bound.
//
//! (These docs come before the `cfg`: a crate-level `cfg` that is false
//! strips everything after it, docs included, and `missing_docs` would fire.)
#![cfg(any(debug_assertions, feature = "lockdep"))]

mod common;

use common::misuse::*;
use kernsync_lockdep::export::GraphSnapshot;
use kernsync_lockdep::{
    capture, graph, held_locks, is_enabled, Held, LockClass, LockMap, ReportKind, MAX_DEPTH,
};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

// ------------------------------------------------------------ odd classes

#[test]
fn classes_leaked_twice_with_one_name_stay_distinct() {
    let name = "misuse.dup.same_name";
    let (c1, c2) = (LockClass::leak(name), LockClass::leak(name));
    assert!(!std::ptr::eq(c1, c2));
    let (l1, l2) = (LockMap::new(c1), LockMap::new(c2));
    let ((), reports) = capture(|| nest(&l1, &l2));
    // Not one class taken twice.
    assert!(reports.is_empty(), "{}", show(&reports));
    let ((), reports) = capture(|| nest(&l2, &l1));
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency],
        "{}",
        show(&reports)
    );
    assert_eq!(reports[0].classes(), [name, name]);
    // The rendered report still tells them apart by the sites of the edges.
    let text = reports[0].to_string();
    assert!(text.contains("Chain exists of"), "{text}");
    let snap = graph();
    let same: Vec<_> = snap.classes.iter().filter(|c| c.name == name).collect();
    assert_eq!(same.len(), 2, "two nodes: {same:?}");
}

#[test]
fn empty_and_ten_thousand_character_names_render() {
    let long_name: String = "L".repeat(10_000);
    let (empty, long) = (
        LockMap::new(LockClass::leak("")),
        LockMap::new(LockClass::leak(&long_name)),
    );
    let ((), reports) = capture(|| {
        let he = empty.acquire(W);
        let hl = long.acquire(R);
        empty.assert_not_held();
        let again = long.acquire(R); // the same lock read twice: recursive
        long.release(again);
        long.release(hl);
        empty.release(he);
        // Reverse order: a cycle between the two.
        let hl = long.acquire(W);
        let he = empty.acquire(W);
        empty.release(he);
        long.release(hl);
        long.release_unpaired();
        empty.release_unpaired();
    });
    assert!(held_locks().is_empty());
    assert_eq!(
        kinds(&reports),
        [
            ReportKind::AssertionFailed,
            ReportKind::RecursiveLocking,
            ReportKind::CircularDependency,
            ReportKind::BadUnlock,
            ReportKind::BadUnlock,
        ]
    );
    for r in &reports {
        let text = r.to_string();
        assert!(text.starts_with(&"=".repeat(60)), "{text}");
        assert!(text.ends_with(&"=".repeat(60)));
        let _ = r.scenario();
        let _ = format!("{r:?}");
    }
    let cycle = &reports[2];
    assert_eq!(cycle.classes(), ["", long_name.as_str()]);
    assert!(cycle.to_string().contains(&long_name));
    assert!(cycle.scenario().contains("DEADLOCK"));
    assert!(reports[1].scenario().contains(&long_name));
    // The graph export quotes both.
    let snap = graph();
    let json = snap.to_json();
    let back = GraphSnapshot::from_json(&json).expect("the export parses");
    assert_eq!(back, snap);
    assert!(snap.to_dot().contains(&long_name));
}

#[test]
fn class_names_with_quotes_newlines_and_controls_export_and_parse() {
    let names = [
        "misuse.esc.\"quoted\"",
        "misuse.esc.back\\slash",
        "misuse.esc.new\nline",
        "misuse.esc.tab\tand\u{1}ctl",
        "misuse.esc.unicode é ✓ \u{10FFFF}",
    ];
    let locks: Vec<LockMap> = names
        .iter()
        .map(|n| LockMap::new(LockClass::leak(n)))
        .collect();
    let ((), reports) = capture(|| {
        for w in locks.windows(2) {
            nest(&w[0], &w[1]);
        }
        nest(&locks[4], &locks[0]);
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    let _ = reports[0].to_string();
    let snap = graph();
    let back = GraphSnapshot::from_json(&snap.to_json()).expect("the export parses");
    assert_eq!(back, snap);
    for n in names {
        assert!(back.classes.iter().any(|c| c.name == n), "{n:?} lost");
    }
    let dot = snap.to_dot();
    assert!(!dot.contains("new\nline"), "raw newline in DOT");
}

#[test]
fn declared_orders_that_contradict_or_point_at_themselves() {
    static SELF_FIRST: LockClass = LockClass::new("misuse.decl.self").before(&[&SELF_FIRST]);
    static MUT_A: LockClass = LockClass::new("misuse.decl.mut_a").before(&[&MUT_B]);
    static MUT_B: LockClass = LockClass::new("misuse.decl.mut_b").before(&[&MUT_A]);
    let (s1, s2) = (LockMap::new(&SELF_FIRST), LockMap::new(&SELF_FIRST));
    let ((), reports) = capture(|| {
        let h = s1.acquire(W);
        s1.release(h);
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    let ((), reports) = capture(|| nest(&s1, &s2));
    assert_eq!(
        kinds(&reports),
        [ReportKind::RecursiveLocking],
        "{}",
        show(&reports)
    );
    let (a, b) = (LockMap::new(&MUT_A), LockMap::new(&MUT_B));
    let ((), reports) = capture(|| {
        let h = a.acquire(W);
        a.release(h);
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::OrderViolation],
        "{}",
        show(&reports)
    );
    assert!(reports[0].detail().contains("contradict"), "{}", reports[0]);
    assert!(held_locks().is_empty());
    let ((), reports) = capture(|| nest(&b, &a));
    // Both orders are declared; taking one is a violation of the other.
    assert!(
        kinds(&reports)
            .iter()
            .all(|k| *k == ReportKind::OrderViolation),
        "{}",
        show(&reports)
    );
    assert!(held_locks().is_empty());
}

// ------------------------------------------------------------ sizes

/// Set in the child process that runs one scenario that may abort.
const CHILD: &str = "KERNSYNC_MISUSE_CHILD";

/// A declared order `c0 before c1 before ... before c{n-1}`, made at run
/// time (`LockClass::before` is a `const fn`, callable at run time too).
fn declared_chain(n: usize) -> &'static LockClass {
    let site = core::panic::Location::caller();
    let mut next: Option<&'static LockClass> = None;
    for i in (0..n).rev() {
        let name: &'static str = Box::leak(format!("misuse.deepdecl.{i}").into_boxed_str());
        let mut c = LockClass::new_at(name, site);
        if let Some(later) = next {
            c = c.before(Box::leak(vec![later].into_boxed_slice()));
        }
        next = Some(Box::leak(Box::new(c)));
    }
    next.expect("n > 0")
}

/// A class's declared order is registered on its first use with a work
/// list: a chain 5,000 classes deep (well under the class bound of 16384)
/// registers on a spawned thread's default 2 MiB stack. A recursion as deep
/// as the chain overflowed it and aborted the process (about 3,500 deep in
/// a debug build). Run in a child process so that an abort does not take
/// this binary down.
#[test]
fn deep_declared_order_chain_registers_without_overflowing_the_stack() {
    const DEPTH: usize = 5000;
    const NAME: &str = "deep_declared_order_chain_registers_without_overflowing_the_stack";
    if std::env::var_os(CHILD).is_some() {
        let reports = thread::Builder::new()
            .stack_size(2 << 20) // a spawned thread's default
            .spawn(|| {
                let first = LockMap::new(declared_chain(DEPTH));
                capture(|| {
                    let h = first.acquire(W);
                    first.release(h);
                })
                .1
            })
            .expect("spawn")
            .join()
            .expect("the registering thread");
        assert!(reports.is_empty(), "{}", show(&reports));
        assert!(is_enabled());
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            NAME,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the child ({DEPTH}-deep declared chain) ended with {}: {}",
        out.status,
        stderr.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
    );
}

#[test]
fn a_forty_class_cycle_is_reported_and_renders() {
    const N: usize = 40;
    let locks: Vec<LockMap> = (0..N).map(|i| lock(&format!("long.{i:02}"))).collect();
    let ((), quiet) = capture(|| {
        for w in locks.windows(2) {
            nest(&w[0], &w[1]);
        }
    });
    assert!(quiet.is_empty(), "{}", show(&quiet));
    let ((), reports) = capture(|| nest(&locks[N - 1], &locks[0]));
    assert!(held_locks().is_empty());
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency],
        "{}",
        show(&reports)
    );
    let r = &reports[0];
    assert_eq!(r.edges().len(), N);
    assert_eq!(r.classes().len(), N);
    for i in 0..N {
        assert_eq!(r.edges()[i].to, r.edges()[(i + 1) % N].from);
    }
    let text = r.to_string();
    assert!(text.contains("-> #39 "), "{text}");
    assert!(text.contains("T39: "), "{text}");
    assert!(text.contains("*** DEADLOCK ***"));
    for i in 0..N {
        assert!(text.contains(&format!("misuse.long.{i:02}")));
    }
}

#[test]
fn a_full_held_stack_in_mixed_modes_released_out_of_order() {
    let nested_class = class("full.nested");
    let locks: Vec<LockMap> = (0..MAX_DEPTH - 2)
        .map(|i| lock(&format!("full.{i:02}")))
        .collect();
    let (n0, n1) = (LockMap::new(nested_class), LockMap::new(nested_class));
    let ((depth, enabled_while_full), reports) = capture(|| {
        let mut hs: Vec<(usize, Held)> = locks
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let h = match i % 4 {
                    0 => l.acquire(W),
                    1 => l.acquire(R),
                    2 => l.acquire(RR),
                    _ => l.try_acquired(W),
                };
                (i, h)
            })
            .collect();
        let h0 = n0.acquire_nested(W, 0);
        let h1 = n1.acquire_nested(W, 1); // the 48th entry: the bound, not past it
        let depth = held_locks().len();
        let enabled = is_enabled();
        locks[MAX_DEPTH / 2].assert_held();
        n1.release(h1);
        // Odd indices first, then the even ones from the top down.
        let (odd, even): (Vec<_>, Vec<_>) = hs.drain(..).partition(|(i, _)| i % 2 == 1);
        for (i, h) in odd {
            locks[i].release(h);
        }
        n0.release(h0);
        for (i, h) in even.into_iter().rev() {
            locks[i].release(h);
        }
        (depth, enabled)
    });
    assert!(held_locks().is_empty());
    assert!(reports.is_empty(), "{}", show(&reports));
    assert_eq!(depth, MAX_DEPTH);
    assert!(enabled_while_full && is_enabled());
    // The same chain again hits the chain cache: still quiet.
    let ((), reports) = capture(|| {
        let hs: Vec<Held> = locks.iter().map(|l| l.acquire(W)).collect();
        for (l, h) in locks.iter().zip(hs).rev() {
            l.release(h);
        }
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert_still_sound("full");
}

#[test]
fn sixteen_threads_each_take_a_fresh_chain_at_once() {
    const THREADS: usize = 16;
    const LEN: usize = 6;
    const ROUNDS: usize = 50;
    // A chain shared by every thread, always in one order, and one of each
    // thread's own, nested inside it.
    let common: Vec<&'static LockMap> = (0..LEN)
        .map(|i| shared(&format!("threads.common.{i}")))
        .collect();
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let common = common.clone();
            let start = Arc::clone(&start);
            let own: Vec<LockMap> = (0..LEN)
                .map(|i| lock(&format!("threads.own.{t}.{i}")))
                .collect();
            thread::Builder::new()
                .name(format!("misuse-{t}"))
                .spawn(move || {
                    start.wait();
                    capture(|| {
                        for round in 0..ROUNDS {
                            let mut hs: Vec<(&LockMap, Held)> = Vec::new();
                            for (i, l) in common.iter().enumerate() {
                                let mode = if (round + i) % 3 == 0 { R } else { W };
                                hs.push((l, l.acquire(mode)));
                                if i % 2 == t % 2 {
                                    let o = &own[i];
                                    hs.push((o, o.acquire(W)));
                                }
                            }
                            if round % 2 == 0 {
                                hs.reverse();
                            }
                            for (l, h) in hs {
                                l.release(h);
                            }
                            assert!(held_locks().is_empty());
                        }
                    })
                    .1
                })
                .expect("spawn")
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().expect("a chain thread panicked"));
    }
    assert!(all.is_empty(), "{}", show(&all));
    assert!(is_enabled());
    let snap = graph();
    let ix = |n: &str| snap.classes.iter().position(|c| c.name == n);
    for i in 0..LEN - 1 {
        let (f, t) = (
            ix(&format!("misuse.threads.common.{i}")).expect("class"),
            ix(&format!("misuse.threads.common.{}", i + 1)).expect("class"),
        );
        assert!(snap.edges.iter().any(|e| e.from == f && e.to == t));
    }
}

#[test]
fn snapshots_while_another_thread_adds_edges() {
    const N: usize = 300;
    let locks: Vec<LockMap> = (0..N).map(|i| lock(&format!("snap.{i:03}"))).collect();
    let done = AtomicBool::new(false);
    let snapshots = AtomicUsize::new(0);
    let reports = thread::scope(|s| {
        let writer = s.spawn(|| {
            let ((), reports) = capture(|| {
                for w in locks.windows(2) {
                    nest(&w[0], &w[1]);
                }
                for i in (0..N - 10).step_by(10) {
                    nest(&locks[i], &locks[i + 10]);
                }
            });
            done.store(true, Ordering::Release);
            reports
        });
        let reader = s.spawn(|| {
            let mut last_edges = 0;
            loop {
                let finished = done.load(Ordering::Acquire);
                let snap = graph();
                assert!(snap.edges.len() >= last_edges, "the graph shrank");
                last_edges = snap.edges.len();
                for e in &snap.edges {
                    assert!(e.from < snap.classes.len() && e.to < snap.classes.len());
                }
                let json = snap.to_json();
                let back = GraphSnapshot::from_json(&json).expect("a snapshot's JSON parses");
                assert_eq!(back, snap);
                let dot = snap.to_dot();
                assert!(dot.starts_with("digraph lockdep {") && dot.ends_with("}\n"));
                assert_eq!(
                    dot.matches(" -> n").count(),
                    snap.edges.len(),
                    "one DOT arrow per edge"
                );
                snapshots.fetch_add(1, Ordering::Relaxed);
                if finished {
                    break;
                }
            }
        });
        reader.join().expect("the snapshot thread");
        writer.join().expect("the writer thread")
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert!(snapshots.load(Ordering::Relaxed) >= 1);
    let snap = graph();
    let ix = |n: &str| snap.classes.iter().position(|c| c.name == n);
    let (first, last) = (
        ix("misuse.snap.000").expect("class"),
        ix(&format!("misuse.snap.{:03}", N - 1)).expect("class"),
    );
    assert!(snap.edges.iter().any(|e| e.from == first));
    assert!(snap.edges.iter().any(|e| e.to == last));
}
