//! Readying a thread for the chains' `register` and `call`, from `prepare`.
//!
//! `register` runs under the caller's locks and must allocate nothing, and a
//! call should not either; what they would allocate on a thread's first use
//! is set up by `prepare`, which may allocate:
//!
//! - parking_lot_core's hash table (made on the process's first park or
//!   unpark, by the chain's write side when it wakes readers) and the
//!   thread's parking data (a thread-local with a destructor, and the table
//!   grown for one more thread, on the thread's first park: a `register`
//!   that waits for a call in flight, or for another writer): one
//!   [`thread_parking`] per thread;
//! - the thread's reader slot of the chain's lock (a first read or SRCU
//!   section on a thread claims it): the chain's own warm-up takes one
//!   read that cannot wait.
//!
//! What is left: a `call` on a thread that never prepared on that chain
//! claims its reader slot there (kernsync-percpu: one 128-byte slot per
//! thread and lock, reused after the thread exits) — the read-mostly
//! lock's design, which the chain does not change.

use std::cell::Cell;

thread_local! {
    /// Whether this thread has parked once (const, no destructor: touching
    /// it never allocates).
    static PARKED: Cell<bool> = const { Cell::new(false) };
}

/// Makes parking_lot_core's hash table and this thread's parking data, once
/// per thread: a park whose validation fails, so it never sleeps.
pub(crate) fn thread_parking() {
    #[cfg(not(loom))]
    if !PARKED.with(|p| p.replace(true)) {
        /// An address of ours that nobody parks on.
        static KEY: u8 = 0;
        // SAFETY: `KEY` is this module's and never parked on otherwise; the
        // callbacks do nothing (so neither unwind nor touch the parking
        // lot), and `validate` answering false returns at once.
        unsafe {
            kernsync_primitive::park(
                &KEY as *const u8 as usize,
                || false,
                || {},
                |_, _| {},
                kernsync_primitive::ParkToken(0),
                None,
            );
        }
    }
}
