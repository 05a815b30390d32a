//! The kernsync guide: eleven chapters, read in order, that teach the whole
//! API. Each chapter is a file under `docs/guide/` in the repository, and
//! every code block in it is a doctest that runs (with validation on in
//! debug builds and compiled out in release builds, so the examples hold
//! either way).
//!
//! 1. [`quick_start`]: a potential deadlock found from one thread's run.
//! 2. [`classes_and_reports`]: lock classes, and reading a report line by
//!    line.
//! 3. [`read_write_rules`]: which cycles through read locks are deadlocks,
//!    and why.
//! 4. [`seed_story`]: the `cpu_hotplug_lock` / `mmap_lock` deadlock, and
//!    preallocation as its fix.
//! 5. [`choosing_a_lock`]: `RwSem`, `Mutex`, `PercpuRwSem`, `Srcu`,
//!    `Checked<R>`, parking_lot and std: costs, guarantees, measured numbers,
//!    a decision table.
//! 6. [`notifier_chains`]: `prepare`, `register`, calls, rollback and
//!    removal.
//! 7. [`annotations`]: `might_lock`, pseudo-locks for waits, no-alloc
//!    scopes, atomic sections, `CheckedAlloc`.
//! 8. [`in_ci`]: checks on in CI and off in release, environment variables,
//!    graph export and merge, suppressions, bounds, and a clippy check for
//!    guards held across `.await`.
//! 9. [`limits`]: what is not tracked, known false positives and negatives,
//!    and what validation costs.
//! 10. [`adopting`]: putting existing `std::sync` and parking_lot code under
//!     the validator (a path swap, a `[patch]`), triaging the first reports,
//!     and moving to kernsync's own types.
//! 11. [`async_tasks`]: the async `Mutex` and `RwSem`, tracked tasks whose
//!     held locks follow them across threads and awaits, `HeldAcrossAwait`,
//!     and what an untracked future gets.
//!
//! Each chapter's title carries its number; the module list below is in
//! rustdoc's alphabetical order, not reading order.

pub mod quick_start {
    #![doc = include_str!("../docs/guide/01-quick-start.md")]
}

pub mod classes_and_reports {
    #![doc = include_str!("../docs/guide/02-classes-and-reports.md")]
}

pub mod read_write_rules {
    #![doc = include_str!("../docs/guide/03-read-write-rules.md")]
}

pub mod seed_story {
    #![doc = include_str!("../docs/guide/04-seed-story.md")]
}

pub mod choosing_a_lock {
    #![doc = include_str!("../docs/guide/05-choosing-a-lock.md")]
}

pub mod notifier_chains {
    #![doc = include_str!("../docs/guide/06-notifier-chains.md")]
}

pub mod annotations {
    #![doc = include_str!("../docs/guide/07-annotations.md")]
}

pub mod in_ci {
    #![doc = include_str!("../docs/guide/08-in-ci.md")]
}

pub mod limits {
    #![doc = include_str!("../docs/guide/09-limits.md")]
}

pub mod adopting {
    #![doc = include_str!("../docs/guide/10-adopting.md")]
}

pub mod async_tasks {
    #![doc = include_str!("../docs/guide/11-async.md")]
}
