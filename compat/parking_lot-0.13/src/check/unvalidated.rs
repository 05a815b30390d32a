//! `Map` under `send_guard`: nothing is validated, every token untracked.

use kernsync_lockdep::{Held, Mode};

/// No handle: guards may be released on another thread (see the parent
/// module).
pub(crate) struct Map;

impl Map {
    #[inline]
    pub(crate) const fn first_use() -> Map {
        Map
    }

    #[inline]
    pub(crate) fn acquire(&self, _mode: Mode) -> Held {
        Held::UNTRACKED
    }

    #[inline]
    pub(crate) fn try_acquired(&self, _mode: Mode) -> Held {
        Held::UNTRACKED
    }

    #[inline]
    pub(crate) fn release(&self, _held: Held) {}

    #[inline]
    pub(crate) fn upgrade(&self, _held: &mut Held) {}

    #[inline]
    pub(crate) fn try_upgraded(&self, _held: &mut Held) {}

    #[inline]
    pub(crate) fn downgrade(&self, _held: &mut Held) {}

    #[inline]
    pub(crate) fn around_wait<R>(&self, _held: &mut Held, wait: impl FnOnce() -> R) -> R {
        wait()
    }
}
