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

/// What `Mutex` and `RwLock` share around their poison flag (`poison`) and
/// kernsync lock (`inner`): `is_poisoned`, `clear_poison`, `get_mut`,
/// `into_inner`, and `Default`/`From` of the caller's line.
macro_rules! poisoning_lock {
    ($Lock:ident) => {
        impl<T> $Lock<T> {
            /// The data, consuming the lock; `Err` (holding it) if poisoned.
            #[inline]
            pub fn into_inner(self) -> LockResult<T> {
                $crate::poison::map_result(&self.poison, self.inner.into_inner())
            }
        }

        impl<T: ?Sized> $Lock<T> {
            /// Whether a holder (of the write side) panicked while holding it.
            #[inline]
            pub fn is_poisoned(&self) -> bool {
                self.poison.get()
            }

            /// Clears the poison.
            #[inline]
            pub fn clear_poison(&self) {
                self.poison.clear();
            }

            /// The data, through the unique borrow; `Err` (holding it) if
            /// poisoned.
            #[inline]
            pub fn get_mut(&mut self) -> LockResult<&mut T> {
                $crate::poison::map_result(&self.poison, self.inner.get_mut())
            }
        }

        impl<T: Default> Default for $Lock<T> {
            /// A lock of `T::default()`, of the class named by the caller's line.
            #[inline]
            #[track_caller]
            fn default() -> $Lock<T> {
                $Lock::new(T::default())
            }
        }

        impl<T> From<T> for $Lock<T> {
            /// A lock of `t`, of the class named by the caller's line.
            #[inline]
            #[track_caller]
            fn from(t: T) -> $Lock<T> {
                $Lock::new(t)
            }
        }
    };
}
pub(crate) use poisoning_lock;
