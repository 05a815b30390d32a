#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn)]

mod class;
mod cycle;
pub mod export;
mod json;
mod mode;
mod report;
#[cfg(any(debug_assertions, feature = "lockdep"))]
mod sync;
#[cfg(any(debug_assertions, feature = "lockdep"))]
mod table;

// The twin modules: one implementation of the hooks with validation compiled
// in, one of empty inline functions and zero-sized handles. Callers never
// write `cfg`.
#[cfg(any(debug_assertions, feature = "lockdep"))]
mod enabled;
#[cfg(any(debug_assertions, feature = "lockdep"))]
use enabled as imp;
#[cfg(not(any(debug_assertions, feature = "lockdep")))]
mod disabled;
#[cfg(not(any(debug_assertions, feature = "lockdep")))]
use disabled as imp;

pub use class::LockClass;
pub use export::GraphSnapshot;
pub use imp::{
    action, allocation_path, allow_order, assert_no_locks_held, atomic_section, capture, dump,
    graph, held_locks, is_enabled, lock_internals, might_alloc, might_lock, might_sleep, no_alloc,
    set_action, set_handler, set_limits, unused_suppressions, CheckedAlloc, Held, LockMap,
    COMPILED_IN,
};
pub use mode::{DepKind, Mode};
pub use report::{Dependency, HeldLock, Report, ReportKind, Site};

/// The depth of each thread's held-lock stack (lockdep's `MAX_LOCK_DEPTH`).
/// Holding more locks at once reports [`ReportKind::DepthExceeded`] and turns
/// validation off. Locks taken under a nest lock share one entry.
pub const MAX_DEPTH: usize = 48;

/// What the validator does with a report (outside [`capture`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Action {
    /// Print the report and panic: a potential deadlock fails the test that
    /// found it. Where a panic cannot unwind (inside the allocator, in a
    /// thread-exit destructor, in a `Drop` during unwinding) the process
    /// aborts after printing. The default; `KERNSYNC_LOCKDEP=panic`.
    Panic = 0,
    /// Print the report and go on. `KERNSYNC_LOCKDEP=warn`.
    Warn = 1,
    /// Validate nothing: locks are not tracked. `KERNSYNC_LOCKDEP=off`.
    Off = 2,
}

/// The bounds of the validator's memory. Reaching one reports
/// [`ReportKind::CapacityExhausted`] once and turns validation off; the locks
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

/// Why [`set_limits`] refused new bounds.
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
