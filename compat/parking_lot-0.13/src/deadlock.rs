//! \[Experimental\] Deadlock detection, upstream's API.
//!
//! Upstream's `check_deadlock` looks for threads that are deadlocked *now*
//! (parked in a cycle of waits). This shim has no such detector: kernsync's
//! lock-order validator reports a *potential* deadlock at the acquisition
//! that closes a cycle in the lock-order graph, before any thread blocks
//! (a panic in debug builds, by default). So here `check_deadlock` always
//! returns an empty list: an honest "no deadlock detected by this API", not
//! a claim that none exists. Use the validator's reports instead.
//!
//! ```
//! # #[cfg(feature = "deadlock_detection")]
//! assert!(parking_lot::deadlock::check_deadlock().is_empty());
//! ```

use std::backtrace::Backtrace;
use std::thread::ThreadId;

/// Representation of a deadlocked thread (upstream's is parking_lot_core's
/// type, with a `backtrace::Backtrace`; this one has std's).
///
/// None is ever made by this shim (see the module docs).
#[derive(Debug)]
pub struct DeadlockedThread {
    thread_id: ThreadId,
    backtrace: Backtrace,
}

impl DeadlockedThread {
    /// The identifier of the deadlocked thread.
    pub fn thread_id(&self) -> ThreadId {
        self.thread_id
    }

    /// The backtrace captured on the deadlocked thread.
    pub fn backtrace(&self) -> &Backtrace {
        &self.backtrace
    }
}

/// Acquire a deadlock report (always empty here: see the module docs).
///
/// Returns all deadlocks detected *since* the last call. Each cycle consist of
/// a vector of `DeadlockedThread`.
pub fn check_deadlock() -> Vec<Vec<DeadlockedThread>> {
    Vec::new()
}
