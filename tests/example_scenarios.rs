//! What the examples claim, checked: their scenarios (the example files,
//! included as modules) run here under assertions that hold in every build.
//! Validation is on in debug builds and compiled out in release builds
//! unless the `lockdep` feature keeps it, so every assertion about reports
//! holds when `is_enabled()` is false too.
//!
//! - `examples/lockdep_report.rs`: each case of the gallery raises exactly
//!   the reports it shows, naming the classes it shows.
//! - `examples/notifier_chain.rs`: registering under a lock allocates
//!   nothing; priority order; `Stop`; `call_robust`'s reverse rollback; a
//!   callback unregistering itself from inside a call.
//! - `examples/read_mostly.rs`: readers of both locks see every update
//!   whole, in order, and the last one (a short run: bounded in time).
//!
//! `CheckedAlloc` is the global allocator here, as in the two examples that
//! install it. Each scenario runs once per process: the validator's graph is
//! one per process and reports each problem once.

use std::alloc::System;
use std::time::Duration;

use kernsync::lockdep::DepKind::{self, EN, ER, SN};
use kernsync::lockdep::{is_enabled, CheckedAlloc, Report, ReportKind};
use kernsync::percpu::PercpuRwSem;

#[global_allocator]
static ALLOC: CheckedAlloc = CheckedAlloc::new(System);

#[allow(dead_code)] // `main` and what only it uses
#[path = "../examples/lockdep_report.rs"]
mod lockdep_report;

#[allow(dead_code)]
#[path = "../examples/notifier_chain.rs"]
mod notifier_chain;

#[allow(dead_code)]
#[path = "../examples/read_mostly.rs"]
mod read_mostly;

// ------------------------------------------------------------ lockdep_report

/// What one report of the gallery names: its classes, and for a cycle the
/// types of its edges.
struct Names {
    classes: &'static [&'static str],
    edges: &'static [DepKind],
}

const fn names(classes: &'static [&'static str], edges: &'static [DepKind]) -> Names {
    Names { classes, edges }
}

/// Each case's reports, in the gallery's order.
const GALLERY_NAMES: &[&[Names]] = &[
    &[names(&["mutex_a", "mutex_b"], &[EN, EN])],
    &[names(&["config", "config"], &[])],
    &[],
    // Strong: B is entered by an N edge.
    &[names(&["rw1.A", "rw1.B"], &[EN, SN])],
    // A -(ER)-> B -(SN)-> A: B entered by R and left by S, no report.
    &[],
    // Strong: B is entered by R but left by E.
    &[names(&["rw3.A", "rw3.B"], &[ER, ER])],
    &[names(&["inode", "inode"], &[])],
    &[],
    &[names(&["devices", "irq_desc"], &[EN, EN])],
    &[names(&["pool_lock"], &[])],
    &[names(&[], &[])],
    &[names(&[], &[])],
    &[names(&["stats"], &[])],
    &[names(&["raw_lock"], &[])],
    &[names(&["queue_lock"], &[])],
    &[names(&["leaked_mutex"], &[])],
    &[names(&["task_stats"], &[])],
];

#[test]
fn lockdep_gallery_raises_exactly_the_reports_it_shows() {
    use lockdep_report::GALLERY;
    assert_eq!(GALLERY.len(), GALLERY_NAMES.len());
    for (i, (case, expected)) in GALLERY.iter().zip(GALLERY_NAMES).enumerate() {
        let what = format!("case {} ({})", i + 1, case.does);
        let reports = (case.run)();
        if !is_enabled() {
            assert!(reports.is_empty(), "{what}: {reports:?}");
            continue;
        }
        let kinds: Vec<ReportKind> = reports.iter().map(Report::kind).collect();
        assert_eq!(kinds, case.expect, "{what}");
        assert_eq!(reports.len(), expected.len(), "{what}");
        for (r, names) in reports.iter().zip(expected.iter()) {
            let shown = r.to_string();
            assert!(shown.contains(r.title()), "{what}: {shown}");
            assert_eq!(r.classes(), names.classes, "{what}: {shown}");
            let edges = r.edges();
            let types: Vec<DepKind> = edges.iter().map(|d| d.kind()).collect();
            assert_eq!(types, names.edges, "{what}: {shown}");
            // A cycle's edges chain, and the last one closes it.
            for pair in edges.windows(2) {
                assert_eq!(pair[0].to, pair[1].from, "{what}: {shown}");
            }
            if let (Some(first), Some(last)) = (edges.first(), edges.last()) {
                assert_eq!(last.to, first.from, "{what}: {shown}");
            }
        }
    }
}

// ------------------------------------------------------------ notifier_chain

#[test]
fn notifier_register_under_a_lock_allocates_nothing_and_calls_by_priority() {
    let (outcome, log, reports) = notifier_chain::prepare_then_register();
    notifier_chain::check_prepare_then_register(outcome, &log, &reports);
}

#[test]
fn notifier_stop_ends_the_walk() {
    let (outcome, log) = notifier_chain::stop();
    notifier_chain::check_stop(outcome, &log);
}

#[test]
fn notifier_call_robust_rolls_back_in_reverse() {
    let (outcome, log) = notifier_chain::robust_rollback();
    notifier_chain::check_robust_rollback(outcome, &log);
}

#[test]
fn notifier_callback_unregistering_itself_is_not_called_again() {
    notifier_chain::check_self_unregister(&notifier_chain::self_unregister());
}

// --------------------------------------------------------------- read_mostly

#[test]
fn read_mostly_readers_see_every_update_whole_bounded() {
    use read_mostly::{check, run, Table};
    let (time, every) = (Duration::from_millis(100), Duration::from_millis(1));
    let percpu = run::<PercpuRwSem<Table>>(2, time, every);
    check("PercpuRwSem", &percpu);
    let rwlock = run::<parking_lot::RwLock<Table>>(2, time, every);
    check("parking_lot::RwLock", &rwlock);
}
