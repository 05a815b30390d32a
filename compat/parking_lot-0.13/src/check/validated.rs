//! `Map` when the locks are validated: a kernsync `LockMap`.

use kernsync_lockdep::{Held, LockMap, Mode};

/// A lock's handle on the validator: the class of its first acquisition's
/// site (lock_api's lock methods are `#[track_caller]`, so that is the
/// user's line), bounded by the program's acquisition sites however many
/// locks it makes.
pub(crate) struct Map(LockMap);

impl Map {
    #[inline]
    pub(crate) const fn first_use() -> Map {
        Map(LockMap::first_use())
    }

    /// A blocking (or timed) acquisition in `mode`, before it can block.
    #[inline]
    #[track_caller]
    pub(crate) fn acquire(&self, mode: Mode) -> Held {
        self.0.acquire(mode)
    }

    /// An immediate attempt that succeeded (adds no edge into the lock).
    #[inline]
    #[track_caller]
    pub(crate) fn try_acquired(&self, mode: Mode) -> Held {
        self.0.try_acquired(mode)
    }

    /// The release of `held`, after the raw unlock.
    #[inline]
    #[track_caller]
    pub(crate) fn release(&self, held: Held) {
        self.0.release(held)
    }

    #[inline]
    #[track_caller]
    pub(crate) fn upgrade(&self, held: &mut Held) {
        self.0.upgrade(held)
    }

    #[inline]
    #[track_caller]
    pub(crate) fn try_upgraded(&self, held: &mut Held) {
        self.0.try_upgraded(held)
    }

    #[inline]
    #[track_caller]
    pub(crate) fn downgrade(&self, held: &mut Held) {
        self.0.downgrade(held)
    }

    /// A condvar wait on this (held) mutex: the validator sees the release
    /// and a blocking re-acquisition at the wait's site, taken as it was held
    /// (before the wait, since re-taking is what may block). Returns the new
    /// token for the guard.
    #[inline]
    #[track_caller]
    pub(crate) fn around_wait<R>(&self, held: &mut Held, wait: impl FnOnce() -> R) -> R {
        let (r, again) = self.0.around_wait(wait);
        // Not tracked (validation was off when it was taken): nothing was
        // redone. Else the guard's old token stood for the acquisition just
        // released.
        if let Some(again) = again {
            *held = again;
        }
        r
    }
}
