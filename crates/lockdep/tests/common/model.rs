//! What the differential tests against a reference model share: fresh
//! class names per case, raised bounds, and reports printed for a failure.

use kernsync_lockdep::{set_limits, Limits, Mode, Report};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

/// A prefix for one case's class names, unique in the process: the graph
/// is shared by the whole test binary, so every case takes fresh classes.
pub fn case_prefix(tag: &str) -> String {
    static CASE: AtomicUsize = AtomicUsize::new(0);
    format!("{tag}{}_", CASE.fetch_add(1, Ordering::Relaxed))
}

/// Raises the class and edge bounds once: shrinking a failure runs many more
/// cases, each with fresh classes, and a bound reached would turn validation
/// off (which the checks flag, not hide).
pub fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        set_limits(Limits {
            classes: 1 << 20,
            edges: 1 << 20,
            ..Limits::DEFAULT
        })
        .expect("raising the bounds");
    });
}

/// The reports, one per line, for a failure message.
pub fn show(reports: &[Report]) -> String {
    reports.iter().map(|r| format!("{r}\n")).collect()
}

/// The reference's own edge type: how the held end was held and how the
/// taken end was taken (deliberately not the validator's `DepKind`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Kind {
    /// The held lock was held shared (`Read` or `RecursiveRead`).
    pub held_shared: bool,
    /// The new lock was taken as a recursive read.
    pub taken_recursive: bool,
}

impl Kind {
    /// The edge from a lock held in `held` to one taken in `taken`.
    pub fn of(held: Mode, taken: Mode) -> Kind {
        Kind {
            held_shared: matches!(held, Mode::Read | Mode::RecursiveRead),
            taken_recursive: matches!(taken, Mode::RecursiveRead),
        }
    }
}
