//! \[Experimental\] Deadlock detection, parking_lot 0.12's API
//! (`deadlock_detection` feature).
//!
//! parking_lot finds threads that *are* deadlocked, from a background
//! thread. kernsync's validator reports a deadlock that *can* happen, from
//! the first run that takes the locks in both orders, before any thread
//! hangs: the acquisition that closes a cycle reports (and, in the default
//! `panic` mode, panics) instead of blocking. So [`check_deadlock`] has
//! nothing left to find and always returns an empty list; it exists so that
//! code written for parking_lot's `deadlock_detection` builds and runs
//! unchanged. The validator's reports are the way to see deadlocks here
//! (`KERNSYNC_LOCKDEP=warn` prints them without panicking).

use std::backtrace::Backtrace;

/// A thread found deadlocked by [`check_deadlock`] (which never finds one:
/// see the module docs). parking_lot_core's type holds a `backtrace` crate
/// `Backtrace`; this one holds std's.
#[derive(Debug)]
pub struct DeadlockedThread {
    thread_id: usize,
    backtrace: Backtrace,
}

impl DeadlockedThread {
    /// The system thread id of the deadlocked thread.
    pub fn thread_id(&self) -> usize {
        self.thread_id
    }

    /// The backtrace of the deadlocked thread when it was blocked.
    pub fn backtrace(&self) -> &Backtrace {
        &self.backtrace
    }
}

/// The sets of deadlocked threads parking_lot would find; always empty
/// here, because kernsync's validator reports each potential deadlock at the
/// acquisition that could hang, before it hangs (module docs).
pub fn check_deadlock() -> Vec<Vec<DeadlockedThread>> {
    Vec::new()
}
