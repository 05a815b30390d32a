//! [`RawMutex`]: kernsync's mutex under the validator, with parking_lot
//! 0.12's raw traits (lock_api 0.4's `RawMutex`, `RawMutexFair`,
//! `RawMutexTimed`).
//!
//! Every method forwards to [`Checked`]'s lock_api 0.4 impl (acquisitions
//! checked before they block, releases with `release_unpaired`), or, with
//! `send_guard` ([`VALIDATED`](crate::VALIDATED) false), to kernsync's raw
//! mutex directly. The methods are `#[track_caller]`, as lock_api 0.4.14's
//! `Mutex::lock` is, so a lock built from `INIT` takes the class of the
//! user's line that first locks it.

use std::time::{Duration, Instant};

use kernsync_rwsem::Checked;

/// kernsync's raw mutex.
type Inner = kernsync_rwsem::RawMutex;

/// Raw mutex type backed by kernsync's validated mutex.
///
/// Built from `INIT` (`Mutex::new`, `const_mutex`, `Default`), it is in the
/// class of its first acquisition's site: the report reads `lock first
/// taken at src/foo.rs:12:34`.
pub struct RawMutex {
    inner: Checked<Inner>,
}

impl RawMutex {
    /// The checked lock (its validator handle, for the condvar's wait).
    #[inline]
    pub(crate) fn checked(&self) -> &Checked<Inner> {
        &self.inner
    }
}

/// Calls `$m` of lock_api 0.4's trait `$tr` on the checked lock, or on the
/// bare raw lock when the shim does not validate.
macro_rules! forward {
    ($self:ident, $tr:ident :: $m:ident ( $($a:expr),* )) => {
        if crate::VALIDATED {
            <Checked<Inner> as lock_api::$tr>::$m(&$self.inner $(, $a)*)
        } else {
            <Inner as lock_api::$tr>::$m($self.inner.raw() $(, $a)*)
        }
    };
}
pub(crate) use forward;

// SAFETY: `Checked<Inner>` and `Inner` are lock_api 0.4 raw mutexes (their
// impls argue it); every method forwards to one of them, always the same
// one for a given build (`VALIDATED` is a constant), so each unlock
// releases the acquisition the matching lock made. The guard marker is
// parking_lot's: `Send` only with `send_guard`, when nothing per-thread is
// tracked.
unsafe impl lock_api::RawMutex for RawMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawMutex = RawMutex {
        inner: Checked::first_use(<Inner as lock_api::RawMutex>::INIT),
    };

    type GuardMarker = crate::GuardMarker;

    #[inline]
    #[track_caller]
    fn lock(&self) {
        forward!(self, RawMutex::lock())
    }

    #[inline]
    #[track_caller]
    fn try_lock(&self) -> bool {
        forward!(self, RawMutex::try_lock())
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock(&self) {
        // SAFETY: the caller holds the mutex (the trait's contract).
        unsafe { forward!(self, RawMutex::unlock()) }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.inner.raw().is_locked()
    }
}

// SAFETY: as for `RawMutex`.
unsafe impl lock_api::RawMutexFair for RawMutex {
    #[inline]
    #[track_caller]
    unsafe fn unlock_fair(&self) {
        // SAFETY: the caller holds the mutex.
        unsafe { forward!(self, RawMutexFair::unlock_fair()) }
    }

    #[inline]
    #[track_caller]
    unsafe fn bump(&self) {
        // SAFETY: the caller holds the mutex; it holds it again on return.
        unsafe { forward!(self, RawMutexFair::bump()) }
    }
}

// SAFETY: as for `RawMutex`.
unsafe impl lock_api::RawMutexTimed for RawMutex {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    #[track_caller]
    fn try_lock_for(&self, timeout: Duration) -> bool {
        forward!(self, RawMutexTimed::try_lock_for(timeout))
    }

    #[inline]
    #[track_caller]
    fn try_lock_until(&self, timeout: Instant) -> bool {
        forward!(self, RawMutexTimed::try_lock_until(timeout))
    }
}
