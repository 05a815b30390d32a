//! The validator's view of the shim's locks, chosen once: [`Map`] is a
//! lock's handle and [`GuardState`] the per-acquisition state lock_api keeps
//! in each guard.
//!
//! Without `send_guard`, a `Map` is a kernsync [`LockMap`] in the class of
//! the lock's first acquisition site, and a guard carries the validator's
//! token, `!Send` (the held-lock stack is per thread). With `send_guard`,
//! guards are `Send`, so a guard may be released by another thread than the
//! one that took it; the validator could not tell that from a bad unlock and
//! would keep a lock "held" forever on the first thread, so the shim's locks
//! are not validated at all: `Map` is empty and every token untracked.
//! Callers (the raw lock files) never write `cfg`.

use kernsync_lockdep::Held;

#[cfg(not(feature = "send_guard"))]
mod validated;
#[cfg(not(feature = "send_guard"))]
pub(crate) use validated::Map;

#[cfg(feature = "send_guard")]
mod unvalidated;
#[cfg(feature = "send_guard")]
pub(crate) use unvalidated::Map;

/// The state lock_api keeps in a guard of this crate's raw locks: the
/// validator's token for the acquisition.
///
/// `!Send` by default, as parking_lot's guard state (`GuardNoSend`) is;
/// `Send` with the `send_guard` feature (`GuardSend`), when the locks are not
/// validated. Upstream's guard state is lock_api's `GuardNoSend`/`GuardSend`
/// itself; this one carries a token beside it.
pub struct GuardState {
    pub(crate) held: Held,
    _marker: crate::GuardMarker,
}

impl GuardState {
    #[inline]
    pub(crate) const fn new(held: Held) -> GuardState {
        GuardState {
            held,
            _marker: crate::GuardMarker::new(),
        }
    }
}

impl core::fmt::Debug for GuardState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("GuardState")
    }
}
