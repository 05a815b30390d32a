//! The strong-cycle rule against a brute-force reference model.
//!
//! Random scenarios: a few classes, and a few "paths", each a sequence of
//! distinct classes taken nested (each in a random mode) and released in
//! reverse. The validator sees them on one thread under `capture`. The
//! reference model keeps the set of typed edges the same acquisitions make
//! (every held lock to every newly taken one), enumerates every simple cycle
//! of that small graph (parallel edges of different kinds included) and
//! checks strongness by the rule's own words: no node entered by an edge
//! whose taken end is a recursive read and left by an edge whose held end is
//! shared. It shares no code with the validator's search (`src/cycle.rs`),
//! nor even `DepKind::new`.
//!
//! The property, path by path:
//!
//! - *Complete*: when path `k` makes an edge that lies on a strong simple
//!   cycle (a strong cycle that did not exist after path `k - 1`), the
//!   validator reports during path `k`. Such a cycle is new to the validator
//!   too, so its once-per-cycle deduplication cannot hide it.
//! - *Sound*: when the validator reports during path `k`, a strong cycle
//!   exists after path `k`. Together: the first report comes during exactly
//!   the path after which a strong cycle first exists, and none before.
//! - Every reported cycle is a closed walk, strong at every node, over edges
//!   the reference has, through an edge path `k` made.
//!
//! The random property and the fixed scenarios check the strict form: a
//! report during path `k` exactly when path `k` closes a strong simple cycle.
//! (A closed walk that splices an old strong cycle onto a new cycle that is
//! not strong is no new deadlock: see `spliced_old_cycle_is_not_a_new_deadlock`.)
//!
//! Every case takes fresh classes: the graph is shared by the whole binary.
#![cfg(any(debug_assertions, feature = "lockdep"))]

mod common;

use common::model::{case_prefix, is_closed, is_strong, reported_walk, setup, show, Edge, Kind};
use kernsync_lockdep::{capture, is_enabled, LockClass, LockMap, Mode, ReportKind};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::subsequence;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::cell::Cell;
use std::collections::BTreeSet;

const W: Mode = Mode::Write;
const R: Mode = Mode::Read;
const RR: Mode = Mode::RecursiveRead;

/// One acquisition of a path: (class index, mode).
type Step = (usize, Mode);

/// The edges a path makes: from every held lock to each newly taken one.
fn path_edges(path: &[Step]) -> Vec<Edge> {
    let mut out = Vec::new();
    for (j, &(to, taken)) in path.iter().enumerate() {
        for &(from, held) in &path[..j] {
            assert_ne!(from, to, "paths use distinct classes");
            out.push((from, to, Kind::of(held, taken)));
        }
    }
    out
}

/// Every simple cycle of `edges`, as its edge sequence, each once (it starts
/// at its smallest node). Parallel edges of different kinds give different
/// cycles.
fn simple_cycles(edges: &BTreeSet<Edge>) -> Vec<Vec<Edge>> {
    fn extend(
        edges: &BTreeSet<Edge>,
        start: usize,
        at: usize,
        visited: &mut Vec<usize>,
        path: &mut Vec<Edge>,
        out: &mut Vec<Vec<Edge>>,
    ) {
        for &e in edges.iter().filter(|e| e.0 == at) {
            if e.1 == start {
                let mut c = path.clone();
                c.push(e);
                assert!(c.len() >= 2, "no self-edges: {c:?}");
                out.push(c);
            } else if e.1 > start && !visited.contains(&e.1) {
                visited.push(e.1);
                path.push(e);
                extend(edges, start, e.1, visited, path, out);
                path.pop();
                visited.pop();
            }
        }
    }
    let nodes: BTreeSet<usize> = edges.iter().flat_map(|e| [e.0, e.1]).collect();
    let mut out = Vec::new();
    for &start in &nodes {
        extend(
            edges,
            start,
            start,
            &mut vec![start],
            &mut Vec::new(),
            &mut out,
        );
    }
    out
}

/// What the reference and the validator said about one path.
#[derive(Debug)]
struct PathVerdict {
    /// The reference: a strong cycle through an edge this path made.
    new_strong: bool,
    /// The reference: any cycle (strong or not) through an edge this path made.
    new_cycle: bool,
    /// The validator: a circular-dependency report during this path.
    reported: bool,
    /// The reference: a strong cycle exists after this path.
    strong_exists: bool,
}

/// Runs `paths` over `classes` fresh classes through the validator and the
/// reference, and checks they agree path by path (see the module docs;
/// `strict`: a report exactly when the path closes a strong simple cycle).
fn run(classes: usize, paths: &[Vec<Step>], strict: bool) -> Result<Vec<PathVerdict>, String> {
    setup();
    if !is_enabled() {
        return Err("the validator is off (a bound was reached?)".to_owned());
    }
    let prefix = case_prefix("pc");
    let maps: Vec<LockMap> = (0..classes)
        .map(|i| LockMap::new(LockClass::leak(&format!("{prefix}{i}"))))
        .collect();

    let mut edges = BTreeSet::new();
    let mut verdicts = Vec::new();
    for (k, path) in paths.iter().enumerate() {
        let ((), reports) = capture(|| {
            let held: Vec<_> = path.iter().map(|&(c, m)| maps[c].acquire(m)).collect();
            for (&(c, _), h) in path.iter().zip(held).rev() {
                maps[c].release(h);
            }
        });

        let new: BTreeSet<Edge> = path_edges(path)
            .into_iter()
            .filter(|e| !edges.contains(e))
            .collect();
        edges.extend(new.iter().copied());
        let cycles = simple_cycles(&edges);
        let through_new = |c: &&Vec<Edge>| c.iter().any(|e| new.contains(e));
        let new_cycle = cycles.iter().any(|c| through_new(&c));
        let new_strong = cycles.iter().filter(through_new).any(|c| is_strong(c));
        let strong_exists = cycles.iter().any(|c| is_strong(c));

        let context = || {
            format!(
                "path {k} of {paths:?}\nedges after it: {edges:?}\nreports:\n{}",
                show(&reports)
            )
        };
        for r in &reports {
            if r.kind() != ReportKind::CircularDependency {
                return Err(format!("unexpected {:?} report; {}", r.kind(), context()));
            }
            // The reported cycle: a closed strong walk over the reference's
            // edges, through an edge this path made.
            let walk = reported_walk(r, &prefix, classes)?;
            if !is_closed(&walk)
                || !walk.iter().all(|e| edges.contains(e))
                || !walk.iter().any(|e| new.contains(e))
                || !is_strong(&walk)
            {
                return Err(format!(
                    "reported cycle {walk:?} is not a strong cycle of the reference through a new edge; {}",
                    context()
                ));
            }
        }
        let reported = !reports.is_empty();
        let agrees = if strict {
            reported == new_strong
        } else {
            (reported || !new_strong) && (!reported || strong_exists)
        };
        if !agrees {
            return Err(format!(
                "validator {} but the reference finds {} (and {}); {}",
                if reported {
                    "reported"
                } else {
                    "stayed silent"
                },
                if new_strong {
                    "a strong cycle through an edge of this path"
                } else {
                    "no strong cycle through an edge of this path"
                },
                if strong_exists {
                    "some strong cycle"
                } else {
                    "no strong cycle at all"
                },
                context()
            ));
        }
        verdicts.push(PathVerdict {
            new_strong,
            new_cycle,
            reported,
            strong_exists,
        });
    }
    Ok(verdicts)
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(W), Just(R), Just(RR)]
}

/// A path over `n` classes: 2..=4 distinct classes in random order, each in
/// a random mode.
fn path(n: usize) -> impl Strategy<Value = Vec<Step>> {
    (
        subsequence((0..n).collect::<Vec<_>>(), 2..=n.min(4)).prop_shuffle(),
        vec(mode(), 4),
    )
        .prop_map(|(classes, modes)| classes.into_iter().zip(modes).collect())
}

fn scenario() -> impl Strategy<Value = (usize, Vec<Vec<Step>>)> {
    (3usize..=5).prop_flat_map(|n| (Just(n), vec(path(n), 2..=6)))
}

#[test]
fn validator_reports_exactly_the_strong_cycles_of_the_reference() {
    const CASES: u32 = 2048;
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        // Each case costs up to ~18 chain-cache entries (bounded at 65536 per
        // process): keep cases plus shrinking well inside it.
        max_shrink_iters: 4096,
        ..Config::default()
    });
    // Coverage, so the property cannot pass vacuously.
    let with_report = Cell::new(0u32);
    let weak_only = Cell::new(0u32);
    let result = runner.run(&scenario(), |(n, paths)| {
        let verdicts = run(n, &paths, true).map_err(TestCaseError::fail)?;
        let first_report = verdicts.iter().position(|v| v.reported);
        let first_strong = verdicts.iter().position(|v| v.strong_exists);
        prop_assert_eq!(first_report, first_strong, "{:?}", verdicts);
        if first_report.is_some() {
            with_report.set(with_report.get() + 1);
        }
        if verdicts.iter().any(|v| v.new_cycle && !v.new_strong) {
            weak_only.set(weak_only.get() + 1);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (reported, weak) = (with_report.get(), weak_only.get());
    println!(
        "{CASES} cases: {reported} with a report, {weak} with a new cycle that was not strong"
    );
    assert!(
        reported >= CASES / 10,
        "too few cases with a strong cycle: {reported}"
    );
    assert!(
        weak >= CASES / 50,
        "too few cases with a cycle that is not strong: {weak}"
    );
}

/// Runs a fixed scenario and checks both sides against `expected` (per path:
/// is a new strong cycle reported?).
#[track_caller]
fn fixed(paths: &[&[Step]], expected: &[bool]) {
    assert!(is_enabled(), "these tests need the validator on");
    let classes = paths
        .iter()
        .flat_map(|p| p.iter().map(|s| s.0 + 1))
        .max()
        .unwrap_or(0);
    let paths: Vec<Vec<Step>> = paths.iter().map(|p| p.to_vec()).collect();
    let verdicts = run(classes, &paths, true).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<bool> = verdicts.iter().map(|v| v.reported).collect();
    assert_eq!(got, expected, "{verdicts:?}");
}

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;

#[test]
fn er_er_cycle_is_reported() {
    // A -(ER)-> B -(ER)-> A: each held exclusively while the other is read
    // recursively. B and A are entered by R edges but left by E edges.
    fixed(&[&[(A, W), (B, RR)], &[(B, W), (A, RR)]], &[false, true]);
}

#[test]
fn er_then_sn_is_not_reported() {
    // A -(ER)-> B -(SN)-> A: B is entered by R and left by S. Either order.
    fixed(&[&[(A, W), (B, RR)], &[(B, R), (A, W)]], &[false, false]);
    fixed(&[&[(B, R), (A, W)], &[(A, W), (B, RR)]], &[false, false]);
}

#[test]
fn three_cycle_broken_at_one_node_is_not_reported() {
    // A -(ER)-> B -(SN)-> C -(EN)-> A: only B breaks strongness.
    fixed(
        &[&[(A, W), (B, RR)], &[(B, R), (C, W)], &[(C, W), (A, W)]],
        &[false, false, false],
    );
    // The same with B taken non-recursively (A -(EN)-> B): strong.
    fixed(
        &[&[(A, W), (B, W)], &[(B, R), (C, W)], &[(C, W), (A, W)]],
        &[false, false, true],
    );
}

#[test]
fn cycle_strong_only_through_a_parallel_edge_is_reported() {
    // A -(ER)-> B -(SN)-> A is not strong; the later parallel A -(EN)-> B
    // makes A -(EN)-> B -(SN)-> A, which is.
    fixed(
        &[&[(A, W), (B, RR)], &[(B, R), (A, W)], &[(A, W), (B, W)]],
        &[false, false, true],
    );
}

#[test]
fn edges_from_every_held_lock_count() {
    // A, B, C nested: A -> C is an edge too (not only B -> C). C write then
    // A write closes A -(EN)-> C -(EN)-> A even though B is never involved.
    fixed(
        &[&[(A, W), (B, R), (C, W)], &[(C, W), (A, W)]],
        &[false, true],
    );
}

#[test]
fn spliced_old_cycle_is_not_a_new_deadlock() {
    // A -(EN)-> B -(EN)-> A: a deadlock, reported (path 1). Then
    // A -(SN)-> C and C -(SR)-> A: the cycle A -> C -> A is not strong (A is
    // entered by the R edge C -(SR)-> A and left by the S edge A -(SN)-> C),
    // and no other simple cycle goes through C. The validator's walk search,
    // entering A by the R edge, detours through the old cycle to re-enter A
    // by an N edge and reports "A -> B -> A -> C -> A" while path 3 runs: the
    // A/B deadlock again, blamed on an acquisition that closes no strong cycle.
    fixed(
        &[
            &[(A, W), (B, W)],
            &[(B, W), (A, W)],
            &[(A, R), (C, W)],
            &[(C, R), (A, RR)],
        ],
        &[false, true, false, false],
    );
}
