//! A thread that exits holding a read guard (leaked with `mem::forget`) is
//! reported — locks held at thread exit, naming the line of the read — and
//! its read stays counted: writers keep waiting for it (its `&T` may still be
//! in use), and its slot is not handed to the next thread.
//!
//! One test in its own binary: it sets the validator's process-wide action
//! and handler.
#![cfg(not(loom))]

use kernsync_lockdep::{set_action, set_handler, Action, Report, ReportKind};
use kernsync_percpu::PercpuRwSem;
use std::sync::Mutex as StdMutex;
use std::thread;
use std::time::Duration;

static SEEN: StdMutex<Vec<(ReportKind, String)>> = StdMutex::new(Vec::new());

fn collect(r: &Report) {
    SEEN.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((r.kind(), r.to_string()));
}

#[test]
fn a_leaked_read_is_reported_at_thread_exit_and_writers_keep_waiting() {
    // A report at thread exit cannot unwind: warn, through a handler.
    set_action(Action::Warn);
    set_handler(Some(collect));
    static LOCK: PercpuRwSem<u32> = PercpuRwSem::new(1);
    let line = line!() + 2;
    thread::spawn(|| {
        std::mem::forget(LOCK.read());
    })
    .join()
    .unwrap();
    assert_eq!(LOCK.readers(), 1, "the leaked read stays counted");
    assert!(LOCK.try_write().is_none());
    assert!(LOCK.try_write_for(Duration::from_millis(50)).is_none());
    // Readers are not blocked by it, and the abandoned slot is not reused.
    thread::spawn(|| assert_eq!(*LOCK.read(), 1))
        .join()
        .unwrap();
    assert_eq!(LOCK.reader_slots(), 2);
    if kernsync_lockdep::is_enabled() {
        let seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        let leaks: Vec<_> = seen
            .iter()
            .filter(|(k, _)| *k == ReportKind::LocksHeldAtExit)
            .collect();
        assert_eq!(leaks.len(), 1, "{seen:?}");
        let site = format!("leaked_read_guard.rs:{line}");
        assert!(leaks[0].1.contains(&site), "{} lacks {site}", leaks[0].1);
    }
}
