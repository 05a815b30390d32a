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
