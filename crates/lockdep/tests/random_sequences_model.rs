//! Random single-thread lock sequences against a brute-force reference model
//! of the validator's rules (DESIGN.md, "The validator").
//!
//! `strong_cycle_model.rs` checks the strong-cycle rule on "paths" (distinct
//! classes taken nested, all blocking, released in reverse). This file takes
//! the same differential approach to richer sequences: one thread performs
//! random operations over 3 to 5 fresh classes (one lock instance each),
//!
//! - `Acquire(c, mode)`: a blocking acquisition (`LockMap::acquire`),
//! - `TryAcquired(c, mode)`: a trylock that succeeded (`LockMap::try_acquired`),
//! - `Release(c)`: the release of *any* held lock, not only the top one
//!   (out-of-order release),
//!
//! in `Write`, `Read` and `RecursiveRead` modes, and releases whatever is
//! still held at the end. Each operation runs under a `capture` of its own,
//! so every report is attributed to the operation that raised it.
//!
//! The reference model shares no code with the validator (not even
//! `DepKind`). It keeps the held locks and the set of typed edges:
//!
//! - a blocking acquisition of `L` while the thread holds `H1..Hk` adds the
//!   edge `Hi -> L` for *every* held `Hi` (trylock-acquired or not), typed by
//!   (is `Hi` held shared?, is `L` taken as a recursive read?);
//! - a trylock adds no edge into the trylocked lock; it stays held, and later
//!   blocking acquisitions add edges out of it;
//! - a release removes the lock from the held set wherever it sits.
//!
//! A deadlock is due exactly when an acquisition makes an edge that lies on a
//! *strong* simple cycle: one in which no node is entered by an edge whose
//! taken end is a recursive read and left by an edge whose held end is shared
//! (`Read` or `RecursiveRead`). Parallel edges of different kinds are
//! distinct edges. The reference finds such cycles by enumerating every
//! simple path from `L` back to `Hi` over the typed edges and checking each
//! closed cycle node by node.
//!
//! The first property (`validator_agrees_on_random_sequences`), operation by
//! operation:
//!
//! - the validator raises a `CircularDependency` report during the operation
//!   exactly when the reference finds a strong simple cycle through an edge
//!   that operation made (such a cycle is new, so the once-per-cycle
//!   deduplication cannot hide it);
//! - every reported cycle (`Report::edges`) is a closed walk over the
//!   reference's edges, strong at every node, through an edge the operation
//!   made;
//! - no report of any other kind appears (trylocks and releases report
//!   nothing).
//!
//! The second property (`validator_agrees_on_recursion`) lets a blocking
//! acquisition take a class that is already held (its very instance), and
//! checks in addition DESIGN.md's same-class rule: taking a held class is
//! `RecursiveLocking` unless it is a `RecursiveRead` and every held
//! acquisition of the class is `Read` or `RecursiveRead`. DESIGN.md leaves a
//! trylock of a held lock undefined, so those are not generated; a second
//! report of recursive locking on the same instance from the same call site
//! may be deduplicated ("each distinct problem is reported once"), so only
//! the first one per instance is required. The edge and cycle rules stay as
//! above, read literally: taking a held class adds an edge from every
//! *other* held class (none from the class to itself), even for a recursive
//! read of a read-held class, as Linux lockdep has done since 5.10 (its
//! `check_deadlock` lets the recursive read through and the new lock's
//! dependencies are still added: the next lock of the class may be another
//! instance, which a writer can hold). A release
//! of a lock held twice releases its most recent acquisition (which one a
//! token names is not defined by DESIGN.md, so scenarios never depend on it).
//!
//! Coverage counters make sure neither property passes vacuously. Fixed
//! scenarios at the end pin the interesting shapes (trylocks, out-of-order
//! releases, recursive reads).
//!
//! Every case takes fresh classes and fresh (leaked) lock instances: the
//! graph, the chain cache and the report deduplication are per process.
#![cfg(any(debug_assertions, feature = "lockdep"))]

mod common;

use common::model::{case_prefix, is_closed, is_strong, reported_walk, setup, show, Edge, Kind};
use kernsync_lockdep::{capture, is_enabled, Held, LockClass, LockMap, Mode, ReportKind};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Instant;

const W: Mode = Mode::Write;
const R: Mode = Mode::Read;
const RR: Mode = Mode::RecursiveRead;

/// One operation of a scenario. Classes are indices; each class has one lock.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    /// A blocking acquisition.
    Acquire(usize, Mode),
    /// A trylock that succeeded.
    TryAcquired(usize, Mode),
    /// The release of the most recent held acquisition of this class.
    Release(usize),
}

// ---------------------------------------------------------------------------
// The reference model.

/// Whether the closed walk `walk` passes every node once.
fn is_simple(walk: &[Edge]) -> bool {
    let nodes: BTreeSet<usize> = walk.iter().map(|e| e.0).collect();
    nodes.len() == walk.len()
}

/// Every simple cycle of `edges` through `e`, as its edge sequence starting
/// with `e`, passed to `found` until it returns true (then true).
fn cycles_through(edges: &BTreeSet<Edge>, e: Edge, found: &mut dyn FnMut(&[Edge]) -> bool) -> bool {
    fn extend(
        edges: &BTreeSet<Edge>,
        target: usize,
        at: usize,
        visited: &mut Vec<usize>,
        cycle: &mut Vec<Edge>,
        found: &mut dyn FnMut(&[Edge]) -> bool,
    ) -> bool {
        for &f in edges.iter().filter(|f| f.0 == at) {
            if f.1 == target {
                cycle.push(f);
                let stop = found(cycle);
                cycle.pop();
                if stop {
                    return true;
                }
            } else if !visited.contains(&f.1) {
                visited.push(f.1);
                cycle.push(f);
                let stop = extend(edges, target, f.1, visited, cycle, found);
                cycle.pop();
                visited.pop();
                if stop {
                    return true;
                }
            }
        }
        false
    }
    assert_ne!(e.0, e.1, "no self-edges");
    extend(edges, e.0, e.1, &mut vec![e.0, e.1], &mut vec![e], found)
}

/// A strong simple cycle of `edges` through `e`, if there is one.
fn strong_cycle_through(edges: &BTreeSet<Edge>, e: Edge) -> Option<Vec<Edge>> {
    let mut witness = None;
    cycles_through(edges, e, &mut |c| {
        let strong = is_strong(c);
        if strong {
            witness = Some(c.to_vec());
        }
        strong
    });
    witness
}

/// Any simple cycle of `edges` through `e`, strong or not.
fn any_cycle_through(edges: &BTreeSet<Edge>, e: Edge) -> bool {
    cycles_through(edges, e, &mut |_| true)
}

/// How the reference treats the trylocks of a scenario: as the rules say,
/// or (for the coverage counters only) as blocking acquisitions, or as if
/// they never happened.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Trylocks {
    ByTheRules,
    Blocking,
    Absent,
}

/// What the reference says about one operation.
#[derive(Clone, Debug, Default)]
struct Expected {
    /// The edges this operation made (not there before it).
    new: BTreeSet<Edge>,
    /// Every edge after this operation.
    edges: BTreeSet<Edge>,
    /// A strong simple cycle through an edge this operation made.
    strong: Option<Vec<Edge>>,
    /// Whether some simple cycle (strong or not) goes through a new edge.
    cycle: bool,
    /// For a blocking acquisition of a class already held: whether the
    /// same-class rule is violated (`RecursiveLocking` due).
    recursion: Option<bool>,
    /// A release of a lock that was not the most recent one held.
    out_of_order: bool,
    /// How many locks were held before the operation.
    held_before: usize,
}

/// Runs the reference model over `ops`.
fn reference(ops: &[Op], trylocks: Trylocks) -> Vec<Expected> {
    // (class, mode held in), outermost first.
    let mut held: Vec<(usize, Mode)> = Vec::new();
    let mut edges: BTreeSet<Edge> = BTreeSet::new();
    let mut out = Vec::new();
    for &op in ops {
        let mut x = Expected {
            held_before: held.len(),
            ..Expected::default()
        };
        let blocking = match op {
            Op::Acquire(c, m) => Some((c, m)),
            Op::TryAcquired(c, m) => match trylocks {
                Trylocks::ByTheRules => {
                    held.push((c, m));
                    None
                }
                Trylocks::Blocking => Some((c, m)),
                Trylocks::Absent => None,
            },
            Op::Release(c) => {
                if let Some(i) = held.iter().rposition(|h| h.0 == c) {
                    x.out_of_order = i + 1 != held.len();
                    held.remove(i);
                }
                None
            }
        };
        if let Some((c, m)) = blocking {
            let same: Vec<Mode> = held.iter().filter(|h| h.0 == c).map(|h| h.1).collect();
            if !same.is_empty() {
                let fine = m == Mode::RecursiveRead
                    && same
                        .iter()
                        .all(|&h| matches!(h, Mode::Read | Mode::RecursiveRead));
                x.recursion = Some(!fine);
            }
            x.new = held
                .iter()
                .filter(|h| h.0 != c)
                .map(|&(h, hm)| (h, c, Kind::of(hm, m)))
                .filter(|e| !edges.contains(e))
                .collect();
            edges.extend(x.new.iter().copied());
            x.strong = x.new.iter().find_map(|&e| strong_cycle_through(&edges, e));
            x.cycle = x.new.iter().any(|&e| any_cycle_through(&edges, e));
            held.push((c, m));
        }
        x.edges = edges.clone();
        out.push(x);
    }
    out
}

// ---------------------------------------------------------------------------
// The validator's side.

/// A scenario as Rust, ready to paste into a fixed test.
fn listing(ops: &[Op]) -> String {
    let mut s = String::from("[");
    for (i, op) in ops.iter().enumerate() {
        let _ = write!(s, "{}{op:?}", if i == 0 { "" } else { ", " });
    }
    s.push(']');
    s
}

/// What the validator did during one operation.
#[derive(Clone, Debug, Default)]
struct Observed {
    /// `CircularDependency` reports.
    cycles: usize,
    /// `RecursiveLocking` reports.
    recursions: usize,
    /// Whether a reported cycle was a walk through some node twice.
    non_simple: bool,
}

/// The locks a scenario still holds when it stops early (a disagreement):
/// released on drop, so that the next case (a shrinking step) starts with
/// nothing held.
struct Leftovers<'a> {
    maps: &'a [&'static LockMap],
    tokens: Vec<(usize, Held)>,
}

impl Drop for Leftovers<'_> {
    fn drop(&mut self) {
        let ((), _) = capture(|| {
            while let Some((c, h)) = self.tokens.pop() {
                self.maps[c].release(h);
            }
        });
    }
}

/// Runs `ops` over `classes` fresh classes through the validator and checks
/// each operation against the reference (see the module docs). Returns both
/// sides, operation by operation.
fn run(classes: usize, ops: &[Op]) -> Result<Vec<(Expected, Observed)>, String> {
    setup();
    if !is_enabled() {
        return Err("the validator is off (a bound was reached?)".to_owned());
    }
    let prefix = case_prefix("rs");
    let maps: Vec<&'static LockMap> = (0..classes)
        .map(|i| {
            let class = LockClass::leak(&format!("{prefix}{i}"));
            // Leaked: a lock's address is its identity, and the report of
            // recursive locking is deduplicated by it.
            &*Box::leak(Box::new(LockMap::new(class)))
        })
        .collect();
    let names: Vec<String> = maps.iter().map(|m| m.class_name()).collect();

    let expected = reference(ops, Trylocks::ByTheRules);
    let mut held = Leftovers {
        maps: &maps,
        tokens: Vec::new(),
    };
    let tokens = &mut held.tokens;
    let mut recursion_reported = vec![false; classes];
    let mut out = Vec::new();
    for (k, (&op, x)) in ops.iter().zip(expected).enumerate() {
        let ((), reports) = capture(|| match op {
            Op::Acquire(c, m) => tokens.push((c, maps[c].acquire(m))),
            Op::TryAcquired(c, m) => tokens.push((c, maps[c].try_acquired(m))),
            Op::Release(c) => {
                let i = tokens
                    .iter()
                    .rposition(|t| t.0 == c)
                    .expect("releases only held locks");
                let (_, h) = tokens.remove(i);
                maps[c].release(h);
            }
        });
        let context = || {
            format!(
                "operation {k} ({op:?}) of {classes} classes, {}\nedges after it: {:?}\nnew edges: {:?}\nreference's strong cycle: {:?}\nreports:\n{}",
                listing(ops),
                x.edges,
                x.new,
                x.strong,
                show(&reports)
            )
        };
        let mut seen = Observed::default();
        for r in &reports {
            match r.kind() {
                ReportKind::CircularDependency => {
                    seen.cycles += 1;
                    // The reported cycle: a closed strong walk over the
                    // reference's edges, through an edge this operation made.
                    let walk = reported_walk(r, &prefix, classes)?;
                    if !is_closed(&walk)
                        || !walk.iter().all(|e| x.edges.contains(e))
                        || !walk.iter().any(|e| x.new.contains(e))
                        || !is_strong(&walk)
                    {
                        return Err(format!(
                            "reported cycle {walk:?} is not a strong closed walk over the reference's edges through a new edge; {}",
                            context()
                        ));
                    }
                    seen.non_simple |= !is_simple(&walk);
                }
                ReportKind::RecursiveLocking => {
                    seen.recursions += 1;
                    let Op::Acquire(c, m) = op else {
                        return Err(format!(
                            "recursive locking reported by a trylock or release; {}",
                            context()
                        ));
                    };
                    if r.classes() != [names[c].as_str(), names[c].as_str()]
                        || r.acquiring().map(|a| a.mode) != Some(m)
                    {
                        return Err(format!(
                            "the recursive-locking report does not name {:?} taken {m:?}; {}",
                            names[c],
                            context()
                        ));
                    }
                }
                other => {
                    return Err(format!("unexpected {other:?} report; {}", context()));
                }
            }
        }
        // The strong-cycle rule.
        if (seen.cycles != 0) != x.strong.is_some() {
            return Err(format!(
                "the validator {} but the reference finds {}; {}",
                if seen.cycles != 0 {
                    "reported a circular dependency"
                } else {
                    "stayed silent"
                },
                if x.strong.is_some() {
                    "a strong simple cycle through an edge this operation made"
                } else if x.cycle {
                    "cycles through the edges this operation made, none of them strong"
                } else {
                    "no cycle through an edge this operation made"
                },
                context()
            ));
        }
        // The same-class rule (deduplicated per instance: the call site is
        // always the same line of `run`).
        let recursion_ok = match (op, x.recursion) {
            (Op::Acquire(c, _), Some(true)) => {
                let ok = if recursion_reported[c] {
                    seen.recursions <= 1
                } else {
                    seen.recursions == 1
                };
                recursion_reported[c] |= seen.recursions != 0;
                ok
            }
            _ => seen.recursions == 0,
        };
        if !recursion_ok {
            return Err(format!(
                "{} recursive-locking report(s), but the same-class rule says {}; {}",
                seen.recursions,
                match x.recursion {
                    Some(true) => "possible recursive locking",
                    Some(false) => "a recursive read of a read-held class is fine",
                    None => "the class is not held",
                },
                context()
            ));
        }
        out.push((x, seen));
    }
    assert!(held.tokens.is_empty(), "scenarios release everything");
    Ok(out)
}

// ---------------------------------------------------------------------------
// Scenario generation.

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(W), Just(R), Just(RR)]
}

/// An operation before it is fitted to the held set: `what` picks acquire
/// (0..9), trylock (9..13) or release (13..20); `class` the class to take
/// (modulo the class count); `pick` the held lock to release.
type RawOp = (u8, usize, Mode, Index);

fn raw_op() -> impl Strategy<Value = RawOp> {
    (0u8..20, 0usize..5, mode(), any::<Index>())
}

/// The most raw operations of a scenario.
const MAX_OPS: usize = 20;

/// The most locks held at once in the recursion property.
const MAX_HELD: usize = 8;

/// Fits raw operations to the held set: a release with nothing held becomes
/// an acquisition; an acquisition of a held class takes the next free class
/// instead (unless `recursion` allows it: blocking only, never a trylock,
/// which DESIGN.md leaves undefined on a held lock), or becomes a release when
/// none is free. Whatever is still held at the end is released, innermost
/// first.
fn fit(classes: usize, raw: &[RawOp], recursion: bool) -> Vec<Op> {
    let mut held: Vec<usize> = Vec::new();
    let mut ops = Vec::new();
    for &(what, class, mode, pick) in raw {
        let class = class % classes;
        let release = |held: &mut Vec<usize>, ops: &mut Vec<Op>| {
            let c = held[pick.index(held.len())];
            // The most recent acquisition of that class (it may be held twice).
            let i = held.iter().rposition(|&h| h == c).unwrap();
            held.remove(i);
            ops.push(Op::Release(c));
        };
        if what >= 13 && !held.is_empty() {
            release(&mut held, &mut ops);
            continue;
        }
        let trylock = (9..13).contains(&what);
        let target = if recursion && !trylock && held.len() < MAX_HELD {
            Some(class)
        } else {
            (0..classes)
                .map(|i| (class + i) % classes)
                .find(|c| !held.contains(c))
        };
        match target {
            Some(c) => {
                held.push(c);
                ops.push(if trylock {
                    Op::TryAcquired(c, mode)
                } else {
                    Op::Acquire(c, mode)
                });
            }
            None => release(&mut held, &mut ops),
        }
    }
    while let Some(c) = held.pop() {
        ops.push(Op::Release(c));
    }
    ops
}

/// A scenario: the class count and its fitted operations.
fn scenario(recursion: bool) -> impl Strategy<Value = (usize, Vec<Op>)> {
    (3usize..=5, vec(raw_op(), 2..=MAX_OPS)).prop_map(move |(n, raw)| (n, fit(n, &raw, recursion)))
}

/// The per-operation verdicts (a strong cycle due?) of the reference.
fn verdicts(ops: &[Op], trylocks: Trylocks) -> Vec<bool> {
    reference(ops, trylocks)
        .iter()
        .map(|x| x.strong.is_some())
        .collect()
}

/// Coverage counters of a property.
#[derive(Default, Debug)]
struct Coverage {
    cases: u32,
    /// Cases with a circular-dependency report.
    reported: u32,
    /// Cases where an operation made a cycle, none of it strong.
    weak_only: u32,
    /// Cases with a trylock.
    with_trylock: u32,
    /// Cases whose verdicts change if the trylocks were blocking (the missing
    /// edge into the trylocked lock matters).
    trylock_into_matters: u32,
    /// Cases whose verdicts change if the trylocks never happened (the edges
    /// out of the trylocked lock matter).
    trylock_out_matters: u32,
    /// Cases with an out-of-order release.
    out_of_order: u32,
    /// Cases where, after an out-of-order release, an acquisition made new
    /// edges while locks were still held.
    out_of_order_then_edges: u32,
    /// ... and the first report came after an out-of-order release.
    out_of_order_then_report: u32,
    /// Cases that take a held class again as a recursive read that is fine.
    recursion_fine: u32,
    /// Cases that take a held class again against the rule.
    recursion_reported: u32,
    /// Cases where an acquisition of a held class also closed a strong cycle.
    recursion_and_cycle: u32,
    /// Reported cycles that pass a node twice (not simple).
    non_simple_reports: u32,
    /// Blocking acquisitions made with a lock held: a bound on the
    /// chain-cache entries used (at most 65536 per process).
    chains: u32,
}

impl Coverage {
    fn count(&mut self, ops: &[Op], seen: &[(Expected, Observed)], trylock_variants: bool) {
        self.cases += 1;
        let bump = |c: &mut u32, b: bool| *c += u32::from(b);
        bump(&mut self.reported, seen.iter().any(|(_, o)| o.cycles != 0));
        bump(
            &mut self.weak_only,
            seen.iter().any(|(x, _)| x.cycle && x.strong.is_none()),
        );
        let trylocks = ops.iter().any(|op| matches!(op, Op::TryAcquired(..)));
        bump(&mut self.with_trylock, trylocks);
        if trylocks && trylock_variants {
            let real = verdicts(ops, Trylocks::ByTheRules);
            bump(
                &mut self.trylock_into_matters,
                real != verdicts(ops, Trylocks::Blocking),
            );
            bump(
                &mut self.trylock_out_matters,
                real != verdicts(ops, Trylocks::Absent),
            );
        }
        let first_ooo = seen.iter().position(|(x, _)| x.out_of_order);
        bump(&mut self.out_of_order, first_ooo.is_some());
        if let Some(i) = first_ooo {
            bump(
                &mut self.out_of_order_then_edges,
                seen[i..]
                    .iter()
                    .any(|(x, _)| !x.new.is_empty() && x.held_before != 0),
            );
            bump(
                &mut self.out_of_order_then_report,
                seen.iter().position(|(_, o)| o.cycles != 0) > Some(i),
            );
        }
        bump(
            &mut self.recursion_fine,
            seen.iter().any(|(x, _)| x.recursion == Some(false)),
        );
        bump(
            &mut self.recursion_reported,
            seen.iter().any(|(x, _)| x.recursion == Some(true)),
        );
        bump(
            &mut self.recursion_and_cycle,
            seen.iter()
                .any(|(x, _)| x.recursion.is_some() && x.strong.is_some()),
        );
        self.non_simple_reports += seen.iter().filter(|(_, o)| o.non_simple).count() as u32;
        self.chains += ops
            .iter()
            .zip(seen)
            .filter(|(op, (x, _))| matches!(op, Op::Acquire(..)) && x.held_before != 0)
            .count() as u32;
    }
}

/// Runs a property over `cases` random scenarios and returns its coverage.
fn property(cases: u32, recursion: bool) -> Coverage {
    assert!(is_enabled(), "these tests need the validator on");
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        // Each case costs at most `MAX_OPS` chain-cache entries, about 3 on
        // average (bounded at 65536 per process, shared by every test of this
        // binary): keep cases plus shrinking well inside it.
        max_shrink_iters: 1024,
        ..Config::default()
    });
    let coverage = std::cell::RefCell::new(Coverage::default());
    let start = Instant::now();
    let result = runner.run(&scenario(recursion), |(n, ops)| {
        let seen = run(n, &ops).map_err(TestCaseError::fail)?;
        coverage.borrow_mut().count(&ops, &seen, !recursion);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let coverage = coverage.into_inner();
    println!(
        "{} property: {coverage:#?}\n(in {:?})",
        if recursion { "recursion" } else { "sequence" },
        start.elapsed()
    );
    coverage
}

#[test]
fn validator_agrees_on_random_sequences() {
    const CASES: u32 = 3000;
    let c = property(CASES, false);
    assert_eq!(c.cases, CASES);
    assert!(c.reported >= CASES / 10, "too few reports: {c:?}");
    assert!(c.weak_only >= CASES / 50, "too few weak cycles: {c:?}");
    assert!(
        c.trylock_into_matters >= CASES / 100,
        "too few cases where the missing edge into a trylock matters: {c:?}"
    );
    assert!(
        c.trylock_out_matters >= CASES / 50,
        "too few cases where the edges out of a trylock matter: {c:?}"
    );
    assert!(
        c.out_of_order_then_edges >= CASES / 10,
        "too few out-of-order releases followed by new edges: {c:?}"
    );
    assert!(
        c.out_of_order_then_report >= CASES / 20,
        "too few reports after an out-of-order release: {c:?}"
    );
    assert_eq!(c.recursion_fine + c.recursion_reported, 0, "{c:?}");
    assert!(c.chains <= 8 * CASES, "{c:?}");
}

#[test]
fn validator_agrees_on_recursion() {
    const CASES: u32 = 2000;
    let c = property(CASES, true);
    assert_eq!(c.cases, CASES);
    assert!(c.reported >= CASES / 10, "too few reports: {c:?}");
    assert!(c.weak_only >= CASES / 50, "too few weak cycles: {c:?}");
    assert!(
        c.recursion_fine >= CASES / 20,
        "too few recursive reads of read-held classes: {c:?}"
    );
    assert!(
        c.recursion_reported >= CASES / 5,
        "too few recursive-locking cases: {c:?}"
    );
    assert!(
        c.recursion_and_cycle >= CASES / 20,
        "too few strong cycles closed by taking a held class: {c:?}"
    );
    assert!(c.out_of_order >= CASES / 10, "{c:?}");
    assert!(c.chains <= 8 * CASES, "{c:?}");
}

// ---------------------------------------------------------------------------
// Fixed scenarios: per operation, is a circular dependency / recursive
// locking report due? Both sides are checked (`run` against the reference,
// and the reference against the expectation).

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;

#[track_caller]
fn fixed(ops: &[Op], cycle_at: &[usize], recursion_at: &[usize]) {
    assert!(is_enabled(), "these tests need the validator on");
    let classes = ops
        .iter()
        .map(|op| match *op {
            Op::Acquire(c, _) | Op::TryAcquired(c, _) | Op::Release(c) => c + 1,
        })
        .max()
        .unwrap_or(0);
    let seen = run(classes, ops).unwrap_or_else(|e| panic!("{e}"));
    let at = |f: &dyn Fn(&Observed) -> bool| -> Vec<usize> {
        (0..seen.len()).filter(|&i| f(&seen[i].1)).collect()
    };
    assert_eq!(at(&|o| o.cycles != 0), cycle_at, "{seen:#?}");
    assert_eq!(at(&|o| o.recursions != 0), recursion_at, "{seen:#?}");
}

use Op::{Acquire as Acq, Release as Rel, TryAcquired as Try};

#[test]
fn out_of_order_release_then_the_reverse_order() {
    // A, B; release A (not the top); A again while B is held: B -> A closes
    // A -> B -> A.
    fixed(
        &[Acq(A, W), Acq(B, W), Rel(A), Acq(A, W), Rel(A), Rel(B)],
        &[3],
        &[],
    );
}

#[test]
fn out_of_order_release_drops_exactly_the_released_lock() {
    // A, B, C (read); release B (the middle one). B again, under A and C,
    // makes C -(SN)-> B only (A -> B is old): B -(EN)-> C -(SN)-> B is strong.
    fixed(
        &[
            Acq(A, W),
            Acq(B, W),
            Acq(C, R),
            Rel(B),
            Acq(B, W),
            Rel(C),
            Rel(B),
            Rel(A),
        ],
        &[4],
        &[],
    );
}

#[test]
fn trylock_adds_no_edge_into_the_lock_but_edges_out_of_it() {
    // A, try B: no A -> B. Then B, A blocking: B -> A, no cycle.
    fixed(
        &[Acq(A, W), Try(B, W), Rel(A), Acq(A, W), Rel(A), Rel(B)],
        &[],
        &[],
    );
    // Try A, then B: A -> B. Then B, A blocking: B -> A closes the cycle.
    fixed(
        &[Try(A, W), Acq(B, W), Rel(A), Acq(A, W), Rel(A), Rel(B)],
        &[3],
        &[],
    );
}

#[test]
fn er_cycle_through_out_of_order_release_is_reported() {
    // A write, B recursive read: A -(ER)-> B. Release A, take A as a
    // recursive read under B (held as a recursive read): B -(SR)-> A.
    // A -(ER)-> B -(SR)-> A: B is entered by R and left by S: not strong.
    fixed(
        &[Acq(A, W), Acq(B, RR), Rel(A), Acq(A, RR), Rel(B), Rel(A)],
        &[],
        &[],
    );
    // With B taken for write instead, B -(ER)-> A: A -(EN)-> B -(ER)-> A is
    // strong (A is entered by R but left by E).
    fixed(
        &[Acq(A, W), Acq(B, W), Rel(A), Acq(A, RR), Rel(B), Rel(A)],
        &[3],
        &[],
    );
}

#[test]
fn recursive_read_of_a_read_held_class_is_fine() {
    fixed(&[Acq(A, R), Acq(A, RR), Rel(A), Rel(A)], &[], &[]);
    fixed(&[Acq(A, RR), Acq(A, RR), Rel(A), Rel(A)], &[], &[]);
    fixed(
        &[Acq(A, R), Acq(B, W), Acq(A, RR), Rel(A), Rel(B), Rel(A)],
        &[],
        &[],
    );
}

#[test]
fn other_second_acquisitions_are_recursive_locking() {
    fixed(&[Acq(A, W), Acq(A, RR), Rel(A), Rel(A)], &[], &[1]);
    fixed(&[Acq(A, R), Acq(A, R), Rel(A), Rel(A)], &[], &[1]);
    fixed(&[Acq(A, RR), Acq(A, W), Rel(A), Rel(A)], &[], &[1]);
    // Held by a trylock is held.
    fixed(&[Try(A, W), Acq(A, W), Rel(A), Rel(A)], &[], &[1]);
    // Held twice, once for write: a recursive read is not fine either, but
    // it is the same problem (this instance, this call site of `run`)
    // reported once: `run` accepts silence for it.
    fixed(
        &[Acq(A, R), Acq(A, W), Acq(A, RR), Rel(A), Rel(A), Rel(A)],
        &[],
        &[1],
    );
}
