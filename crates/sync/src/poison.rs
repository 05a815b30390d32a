//! The poison flag of a lock and the panic state of a guard, as std keeps
//! them: a guard dropped while its thread panics (and that was taken while
//! it did not) poisons its lock.

use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LockResult, PoisonError};
use std::thread;

/// Whether a lock was released by a panicking holder.
pub(crate) struct Flag {
    failed: AtomicBool,
}

/// Whether the thread was already panicking when a guard was taken.
pub(crate) struct Guard {
    panicking: bool,
}

impl Flag {
    #[inline]
    pub(crate) const fn new() -> Flag {
        Flag {
            failed: AtomicBool::new(false),
        }
    }

    /// The panic state now, for a guard just taken.
    #[inline]
    pub(crate) fn guard(&self) -> Guard {
        Guard {
            panicking: thread::panicking(),
        }
    }

    /// Poisons the lock if the thread began panicking since `guard` was taken.
    #[inline]
    pub(crate) fn done(&self, guard: &Guard) {
        if !guard.panicking && thread::panicking() {
            self.failed.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the lock is poisoned.
    #[inline]
    pub(crate) fn get(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Clears the poison.
    #[inline]
    pub(crate) fn clear(&self) {
        self.failed.store(false, Ordering::Relaxed);
    }
}

/// `Ok(value)`, or `Err(PoisonError::new(value))` if `flag` is poisoned.
#[inline]
pub(crate) fn map_result<T>(flag: &Flag, value: T) -> LockResult<T> {
    if flag.get() {
        Err(PoisonError::new(value))
    } else {
        Ok(value)
    }
}
