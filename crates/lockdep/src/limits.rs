//! The bounds of the validator's memory, shared by both twins (the disabled
//! one accepts and ignores them).

/// The depth of each thread's held-lock stack (lockdep's `MAX_LOCK_DEPTH`).
/// Holding more locks at once reports [`ReportKind::DepthExceeded`](crate::ReportKind::DepthExceeded) and turns
/// validation off. Locks taken under a nest lock share one entry.
pub const MAX_DEPTH: usize = 48;

/// The bounds of the validator's memory. Reaching one reports
/// [`ReportKind::CapacityExhausted`](crate::ReportKind::CapacityExhausted) once and turns validation off; the locks
/// keep working.
///
/// At the defaults the graph costs at most about 1 MiB for classes, 7 MiB for
/// edges (about 100 bytes each with their indexes), 1.5 MiB for the chain
/// cache (a fixed table, paid only for the pages touched) and a transient
/// 5 MiB for one cycle search; each thread's held stack costs 2.7 KiB.
///
/// With `KERNSYNC_LOCKDEP_BACKTRACE=1`, and only then, every edge also keeps
/// the backtrace of its birth, trimmed to at most 16 frames and stored
/// compactly: each distinct frame (function and location) once, each
/// distinct trace once as 4-byte frame ids, edges born at the same stack
/// sharing one. A distinct 16-frame trace costs about 175 bytes (measured by
/// `tests/backtrace_memory.rs`: bytes requested, 2048 edges each born at a
/// stack of its own, less 2048 sharing one), so up to about 11 MiB at the
/// default edge bound if every edge has a stack of its own, plus each
/// distinct frame once (a few hundred bytes each, bounded by the program's
/// call sites). Stored as text, the same traces would take about 1.3 KiB
/// each, 84 MiB. The edge record itself does not grow: the trace's id fits
/// in its padding. Taking a backtrace is slow (a fraction of a millisecond
/// in a debug build), paid once per edge, under the graph lock.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Limits {
    /// Classes and subclasses (graph nodes). Default 16384.
    pub classes: usize,
    /// Dependency edges. Default 65536.
    pub edges: usize,
    /// Validated chains in the cache. Default 65536, at most 65536.
    pub chains: usize,
    /// States one cycle search may enqueue. Default 65536.
    pub search: usize,
}

impl Limits {
    /// The default bounds.
    pub const DEFAULT: Limits = Limits {
        classes: 16384,
        edges: 65536,
        chains: 65536,
        search: 65536,
    };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::DEFAULT
    }
}

/// Why [`set_limits`](crate::set_limits) refused new bounds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LimitsError {
    /// A bound is below what the graph already uses.
    BelowUse,
    /// A bound is above what the validator can hold (the named bound, its maximum).
    TooLarge(&'static str, usize),
}

impl core::fmt::Display for LimitsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LimitsError::BelowUse => f.write_str("a bound is below what the graph already uses"),
            LimitsError::TooLarge(what, max) => {
                write!(f, "the {what} bound is above its maximum {max}")
            }
        }
    }
}

impl std::error::Error for LimitsError {}
