#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn)]

mod class;
mod cycle;
pub mod export;
mod json;
mod kind;
mod limits;
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
    action, allocation_path, allow_order, assert_no_locks_held, atomic_section, capture,
    capture_all, dump, graph, held_locks, in_tracked_task, is_enabled, lock_internals, might_alloc,
    might_lock, might_sleep, no_alloc, set_action, set_handler, set_limits, task_end, task_name,
    task_poll_begin, task_poll_end, tracked, tracked_named, unused_suppressions, CheckedAlloc,
    Held, HeldAs, Holding, LockMap, Tracked, COMPILED_IN,
};
pub use kind::LockKind;
pub use limits::{Limits, LimitsError, MAX_DEPTH};
pub use mode::{DepKind, Mode};
pub use report::{Action, Dependency, HeldLock, Report, ReportKind, Site};
