//! The scenarios of `examples/hotplug_deadlock.rs` and
//! `examples/hotplug_fixed.rs`, run as tests: the same code (each example is
//! included as a module), checked through the reports each path's thread
//! captured. Each run boots a kernel with fresh lock classes, so the two
//! tests share no graph node. With validation compiled out (`--release`
//! without the `lockdep` feature) both run and report nothing.

// Each example brings its own copy of `examples/hotplug/mod.rs`, as it does
// when built alone.
#![allow(clippy::duplicate_mod)]

use kernsync::lockdep::{is_enabled, Report, ReportKind};

#[path = "../examples/hotplug_deadlock.rs"]
#[allow(dead_code)] // the example's `main`
mod hotplug_deadlock;

#[path = "../examples/hotplug_fixed.rs"]
#[allow(dead_code)] // the example's `main`
mod hotplug_fixed;

const CYCLE: [&str; 5] = [
    "cpu_hotplug_lock",
    "(complete)req.done",
    "inode->i_rwsem",
    "mm->mmap_lock",
    "dev_priv->mm_lock",
];

/// The file and line of a site.
fn at(site: kernsync::lockdep::Site) -> (&'static str, u32) {
    let l = site.location().expect("a code site");
    (l.file(), l.line())
}

#[test]
fn work_queue_allocated_under_mmap_lock_closes_the_five_lock_cycle() {
    let reports = hotplug_deadlock::run();
    if !is_enabled() {
        assert!(reports.is_empty(), "{reports:#?}");
        return;
    }
    let five: Vec<&Report> = reports
        .iter()
        .filter(|r| hotplug_deadlock::names_the_cycle(r))
        .collect();
    assert_eq!(five.len(), 1, "{reports:#?}");
    let r = five[0];
    assert_eq!(r.classes(), CYCLE);
    // Closed where the splat closed it: prime_mmap, holding mmap_lock and
    // mm_lock, reads cpu_hotplug_lock in alloc_workqueue.
    assert_eq!(r.thread(), "prime_mmap");
    let closing = r.edges().last().expect("a cycle");
    assert_eq!(
        (closing.from.as_str(), closing.to.as_str()),
        ("dev_priv->mm_lock", "cpu_hotplug_lock")
    );
    // (The files are named as rustc saw them: `tests/../examples/..` here.)
    assert!(at(closing.held_at)
        .0
        .ends_with("examples/hotplug_deadlock.rs"));
    assert!(at(closing.taken_at).0.ends_with("examples/hotplug/mod.rs"));
    let held: Vec<&str> = r.held_locks().iter().map(|h| h.class.as_str()).collect();
    assert_eq!(held, ["mm->mmap_lock", "dev_priv->mm_lock"]);
    // Every edge names both its sites, in the examples' code; and the
    // printed report shows each of them as file:line:col.
    let text = r.to_string();
    for d in r.edges() {
        for site in [d.held_at, d.taken_at] {
            let (file, line) = at(site);
            assert!(file.contains("examples/"), "{d}");
            assert!(
                text.contains(&format!("{file}:{line}:")),
                "{site} in\n{text}"
            );
        }
    }
    // Anything else reported is a cycle among the same locks, closed by the
    // same acquisition (prime_mmap holds mmap_lock as well as mm_lock, and
    // the validator adds an edge from each lock held: the shorter cycle
    // straight from mmap_lock is reported too).
    for other in reports.iter().filter(|o| !std::ptr::eq(*o, r)) {
        assert_eq!(other.kind(), ReportKind::CircularDependency, "{other}");
        assert_eq!(other.thread(), "prime_mmap", "{other}");
        assert!(other.classes().iter().all(|c| CYCLE.contains(c)), "{other}");
    }
}

#[test]
fn preallocated_notifier_breaks_the_cycle() {
    let reports = hotplug_fixed::run();
    assert!(reports.is_empty(), "{reports:#?}");
}
