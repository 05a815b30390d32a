//! What the tests of the public API used wrongly share (`bad_unlock_reports`,
//! `upgrade_downgrade_reports`, `held_lock_assertions`,
//! `capture_handler_and_scope_unwinding`, `odd_classes_and_large_graphs`):
//! fresh classes per scenario, the reading of reports and of the held stack,
//! and the check that a thread's state is still sound after a misuse.
//!
//! Every scenario takes fresh classes (the graph is one per process and the
//! tests run in parallel), validation stays on for the whole binary (no test
//! using these helpers turns it off or reaches a bound), and every scenario
//! releases what it took before it asserts: an entry left on a test thread
//! would be reported at the thread's exit, which aborts the binary in the
//! default `Panic` action.

use kernsync_lockdep::{
    capture, held_locks, is_enabled, LockClass, LockMap, Mode, Report, ReportKind,
};
use std::panic::resume_unwind;

pub const W: Mode = Mode::Write;
pub const R: Mode = Mode::Read;
pub const RR: Mode = Mode::RecursiveRead;

/// A fresh class named `misuse.<tag>`.
pub fn class(tag: &str) -> &'static LockClass {
    assert!(is_enabled(), "these tests need the validator on");
    LockClass::leak(&format!("misuse.{tag}"))
}

/// A lock handle of a fresh class named `misuse.<tag>`.
pub fn lock(tag: &str) -> LockMap {
    LockMap::new(class(tag))
}

/// A leaked lock handle of a fresh class, for threads to share.
pub fn shared(tag: &str) -> &'static LockMap {
    Box::leak(Box::new(lock(tag)))
}

pub fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

pub fn show(reports: &[Report]) -> String {
    match reports {
        [] => "no report".to_owned(),
        _ => reports.iter().map(|r| format!("{r}\n")).collect(),
    }
}

/// The classes of the locks this thread holds, outermost first.
pub fn held_names() -> Vec<String> {
    held_locks().into_iter().map(|h| h.class).collect()
}

/// The modes of the locks this thread holds, outermost first.
pub fn held_modes() -> Vec<Mode> {
    held_locks().into_iter().map(|h| h.mode).collect()
}

/// Takes `first` then `second` and releases both: the edge `first -> second`.
pub fn nest(first: &LockMap, second: &LockMap) {
    let a = first.acquire(W);
    let b = second.acquire(W);
    second.release(b);
    first.release(a);
}

/// Checks that a fresh ordinary acquire/release pair (and an ordered pair
/// of two fresh locks) raises nothing and leaves the held stack as it was:
/// the thread's state is still sound after a misuse.
#[track_caller]
pub fn assert_still_sound(tag: &str) {
    let before = held_names();
    let (x, y) = (
        lock(&format!("{tag}.sound.x")),
        lock(&format!("{tag}.sound.y")),
    );
    let ((), reports) = capture(|| {
        nest(&x, &y);
        let h = x.acquire(R);
        x.assert_held();
        y.assert_not_held();
        x.release(h);
    });
    assert!(reports.is_empty(), "after {tag}: {}", show(&reports));
    assert_eq!(held_names(), before, "after {tag}: the held stack changed");
}

pub const EXPECTED: &str = "expected test panic";

/// Panics without running the panic hook (keeps the output quiet).
pub fn boom() -> ! {
    resume_unwind(Box::new(EXPECTED))
}

pub fn payload_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}
