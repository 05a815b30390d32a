//! Parking: the part of parking_lot_core's API the locks use, with the same
//! contract. `validate`, `timed_out` and the unpark callbacks run while the
//! queue is locked (so a state change made there is atomic with the enqueue
//! or dequeue); `before_sleep` runs after the enqueue and before the sleep.
//!
//! The functions here are written once; what they call is chosen once, in
//! `imp`: parking_lot_core in a build, the parking lot of `model.rs` under
//! `--cfg loom`.

use std::time::Instant;

pub use parking_lot_core::{FilterOp, ParkResult, ParkToken, RequeueOp, UnparkToken};

pub use imp::SpinWait;

/// parking_lot_core, each call run as the lock's own internals for the
/// validator ([`kernsync_lockdep::lock_internals`]): parking_lot_core
/// allocates its hash table on the first park or unpark in a process and
/// grows it as threads come, and those allocations belong to the lock, not
/// to whatever no-alloc class or `no_alloc` scope the caller is in.
#[cfg(not(loom))]
mod imp {
    pub(crate) use kernsync_lockdep::lock_internals as internals;
    pub use parking_lot_core::SpinWait;
    pub(crate) use parking_lot_core::{park, unpark_filter, unpark_one, unpark_requeue};
}

#[cfg(loom)]
#[path = "park/model.rs"]
mod imp;

/// What an unpark operation did: parking_lot_core's `UnparkResult`, which
/// cannot be built outside that crate, made constructible so the loom model
/// can build one.
#[derive(Clone, Copy, Default, Debug)]
pub struct UnparkResult {
    /// How many threads were woken.
    pub unparked_threads: usize,
    /// How many threads were moved to another queue.
    pub requeued_threads: usize,
    /// Whether threads are left in the queue.
    pub have_more_threads: bool,
}

#[cfg(not(loom))]
impl From<parking_lot_core::UnparkResult> for UnparkResult {
    #[inline]
    fn from(r: parking_lot_core::UnparkResult) -> UnparkResult {
        UnparkResult {
            unparked_threads: r.unparked_threads,
            requeued_threads: r.requeued_threads,
            have_more_threads: r.have_more_threads,
        }
    }
}

/// `parking_lot_core::park`.
///
/// # Safety
/// As `parking_lot_core::park`: `key` is an address the caller owns; the
/// callbacks do not unwind or call into the parking lot (`before_sleep`
/// may unpark).
#[inline]
pub unsafe fn park(
    key: usize,
    validate: impl FnOnce() -> bool,
    before_sleep: impl FnOnce(),
    timed_out: impl FnOnce(usize, bool),
    park_token: ParkToken,
    timeout: Option<Instant>,
) -> ParkResult {
    // SAFETY: the caller upholds `park`'s contract, forwarded unchanged.
    imp::internals(|| unsafe {
        imp::park(key, validate, before_sleep, timed_out, park_token, timeout)
    })
}

/// `parking_lot_core::unpark_one`.
///
/// # Safety
/// As `parking_lot_core::unpark_one`.
#[inline]
pub unsafe fn unpark_one(
    key: usize,
    callback: impl FnOnce(UnparkResult) -> UnparkToken,
) -> UnparkResult {
    // SAFETY: forwarded unchanged; see the caller's contract.
    imp::internals(|| unsafe { imp::unpark_one(key, |r| callback(r.into())) }).into()
}

/// `parking_lot_core::unpark_filter`.
///
/// # Safety
/// As `parking_lot_core::unpark_filter`.
#[inline]
pub unsafe fn unpark_filter(
    key: usize,
    filter: impl FnMut(ParkToken) -> FilterOp,
    callback: impl FnOnce(UnparkResult) -> UnparkToken,
) -> UnparkResult {
    // SAFETY: forwarded unchanged; see the caller's contract.
    imp::internals(|| unsafe { imp::unpark_filter(key, filter, |r| callback(r.into())) }).into()
}

/// `parking_lot_core::unpark_requeue`.
///
/// # Safety
/// As `parking_lot_core::unpark_requeue`.
#[inline]
pub unsafe fn unpark_requeue(
    key_from: usize,
    key_to: usize,
    validate: impl FnOnce() -> RequeueOp,
    callback: impl FnOnce(RequeueOp, UnparkResult) -> UnparkToken,
) -> UnparkResult {
    // SAFETY: forwarded unchanged; see the caller's contract.
    imp::internals(|| unsafe {
        imp::unpark_requeue(key_from, key_to, validate, |op, r| callback(op, r.into()))
    })
    .into()
}
