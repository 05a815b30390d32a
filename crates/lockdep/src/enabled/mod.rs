//! The validator, compiled in (`debug_assertions` or the `lockdep` feature).
//!
//! # Layers
//!
//! Each module uses only the modules listed above it (bottom first here is
//! top first in the import graph); a lower layer returns what it found (a
//! cycle, a bound reached, a finding) and never calls up to report it.
//!
//! | layer | module | holds | may use |
//! |---|---|---|---|
//! | 1 | `entry` | the held-entry format: `EntryId`'s bit table, `ClassBits`, `Acq`, `Held` | — |
//! | 1 | `chains` | the chain cache (validated held sequences) | — |
//! | 1 | `backtrace` | backtraces trimmed to the user's code, their store (one per edge) | — |
//! | 2 | `thread` | the per-thread held stack, its fast push and pop, scopes | 1 |
//! | 2 | `deferred` | acquisitions kept from inside the allocator | 1, 2 `thread` |
//! | 3 | `graph` | classes, nodes, edges, suppressions, reported-once set, bounds | 1–2 |
//! | 3 | `classes` | from a `LockMap`'s key to a class (registration, site cache) | 1–3 `graph` |
//! | 4 | `rules` | one function per rule, returning `Finding`s | 1–3 |
//! | 4 | `persist` | the allow file and the graph dump | 3 |
//! | 5 | `config` | on/off, action, handler, bounds, environment | 1 `backtrace`, 3–4 `persist` |
//! | 5 | `reports` | the one builder: `Finding` → `Report` | 1–4, `config` |
//! | 5 | `emit` | delivery: `capture`, handler or stderr, then the action | `config`, 2 |
//! | 6 | `validate` | the engine: one fast-or-slow decision, slow paths, raising | 1–5 |
//! | 7 | `map` | `LockMap`, the per-lock public API | 1–6 |
//! | 7 | `alloc` | the allocation pseudo-lock and `CheckedAlloc` | 1–6, `map` |
//! | 7 | `annotate` | `might_*`, scopes, assertions, `LockMap::around_wait` | 1–6, `map`, `alloc` |
//! | 7 | `task` | tracked tasks: held entries swapped in around each poll | 1–6 |
//! | 8 | `hooks` | tasks tracked by an executor's poll hooks, by id | 1–6, `task` |
//!
//! `mod.rs` only declares and re-exports.

mod alloc;
mod annotate;
mod backtrace;
mod chains;
mod classes;
mod config;
mod deferred;
mod emit;
mod entry;
mod graph;
mod hooks;
mod map;
mod persist;
mod reports;
mod rules;
mod task;
mod thread;
mod validate;

pub use alloc::CheckedAlloc;
pub use annotate::{
    allocation_path, assert_no_locks_held, atomic_section, held_locks, is_enabled, lock_internals,
    might_alloc, might_lock, might_sleep, no_alloc,
};
pub use config::{action, dump, set_action, set_handler, set_limits};
pub use emit::{capture, capture_all};
pub use entry::{Held, HeldAs};
pub use hooks::{task_end, task_name, task_poll_begin, task_poll_end};
pub use map::{Holding, LockMap};
pub use persist::{allow_order, graph, unused_suppressions};
pub use task::{in_tracked_task, tracked, tracked_named, Tracked};

/// Whether validation is compiled into this build.
pub const COMPILED_IN: bool = true;
