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

/// `from -> to` of `kind`, over a case's class indices.
pub type Edge = (usize, usize, Kind);

/// Whether the closed walk `cycle` (each edge entering the node the next one
/// leaves, the last entering the first's) is strong: no node entered by an
/// `-(xR)->` edge and left by an `-(Sx)->` edge.
pub fn is_strong(cycle: &[Edge]) -> bool {
    let n = cycle.len();
    (0..n).all(|i| {
        let (into, out) = (cycle[(i + n - 1) % n], cycle[i]);
        assert_eq!(into.1, out.0, "not a closed walk: {cycle:?}");
        !(into.2.taken_recursive && out.2.held_shared)
    })
}

/// Whether `walk` is a closed walk: each edge leaves the node the previous
/// one entered, and the last enters the node the first leaves.
pub fn is_closed(walk: &[Edge]) -> bool {
    !walk.is_empty() && (0..walk.len()).all(|i| walk[i].1 == walk[(i + 1) % walk.len()].0)
}

/// The cycle a report names, as edges over the indices of the case's
/// `classes` classes (named `{prefix}{index}`).
pub fn reported_walk(r: &Report, prefix: &str, classes: usize) -> Result<Vec<Edge>, String> {
    let index = |name: &str| -> Result<usize, String> {
        name.strip_prefix(prefix)
            .and_then(|i| i.parse().ok())
            .filter(|&i: &usize| i < classes)
            .ok_or_else(|| format!("a report names class {name:?}, not one of this case's"))
    };
    r.edges()
        .iter()
        .map(|d| {
            Ok((
                index(&d.from)?,
                index(&d.to)?,
                Kind::of(d.held_mode, d.taken_mode),
            ))
        })
        .collect()
}
