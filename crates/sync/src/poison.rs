//! The poison flag of a lock and the panic state of a guard, as std keeps
//! them: a guard dropped while its thread panics (and that was taken while
//! it did not) poisons its lock.

use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LockResult, PoisonError};
use std::thread;

/// A lock's data with its poison flag beside it, inside the kernsync lock.
///
/// A guard keeps one address, the kernsync lock's, and reaches the raw lock,
/// the flag and the data at fixed offsets from it, as std's guard does from
/// its `&Mutex`. (With the flag outside the kernsync lock, before it, a
/// guard had two addresses to keep, and a compiled pair a register to save
/// and restore for the second: a read pair cost 34 instructions against
/// std's 30; it costs 31, `RwSem`'s 28 and the flag test std makes too.)
///
/// The flag is atomic and only ever borrowed shared: the data is reached
/// through [`Data::value_mut`], never through a `&mut Data` while the lock
/// is shared, so `is_poisoned` may read the flag while another thread holds
/// the data mutably.
pub(crate) struct Data<T: ?Sized> {
    pub(crate) flag: Flag,
    /// Last, so `Mutex<[T; N]>` coerces to `Mutex<[T]>`.
    pub(crate) value: T,
}

impl<T> Data<T> {
    #[inline]
    pub(crate) const fn new(value: T) -> Data<T> {
        Data {
            flag: Flag::new(),
            value,
        }
    }

    /// The value, consuming the data; `Err` (holding it) if poisoned.
    #[inline]
    pub(crate) fn into_result(self) -> LockResult<T> {
        let poisoned = self.flag.get();
        if poisoned {
            Err(PoisonError::new(self.value))
        } else {
            Ok(self.value)
        }
    }
}

impl<T: ?Sized> Data<T> {
    /// The value through the unique borrow; `Err` (holding it) if poisoned.
    #[inline]
    pub(crate) fn get_mut(&mut self) -> LockResult<&mut T> {
        map_result(&self.flag, &mut self.value)
    }

    /// The flag of the data at `data`.
    ///
    /// # Safety
    ///
    /// `data` points to a live `Data` (a lock's `data_ptr`) that outlives
    /// `'a`.
    #[inline]
    pub(crate) unsafe fn flag<'a>(data: *const Data<T>) -> &'a Flag {
        // SAFETY: `data` is live for `'a` (the caller's contract); the flag
        // is atomic, and no `&mut` to it exists while the lock is shared
        // (only `get_mut` and `into_inner` make one, from a unique borrow).
        unsafe { &*ptr::addr_of!((*data).flag) }
    }

    /// The value of the data at `data`, mutably, without borrowing the flag.
    ///
    /// # Safety
    ///
    /// `data` points to a live `Data` that outlives `'a`, whose lock this
    /// thread holds exclusively for `'a`.
    #[inline]
    pub(crate) unsafe fn value_mut<'a>(data: *mut Data<T>) -> &'a mut T {
        // SAFETY: live for `'a`, and the exclusive lock makes this the only
        // reference to the value (the caller's contract); the projection
        // leaves the flag, which other threads may read, unborrowed.
        unsafe { &mut *ptr::addr_of_mut!((*data).value) }
    }
}

/// Whether a lock was released by a panicking holder.
pub(crate) struct Flag {
    failed: AtomicBool,
}

/// Whether the thread was already panicking when a guard was taken.
pub(crate) struct Guard {
    panicking: bool,
}

impl Guard {
    /// The panic state now, for a guard just taken.
    #[inline]
    pub(crate) fn new() -> Guard {
        Guard {
            panicking: thread::panicking(),
        }
    }

    /// Whether the thread began panicking since the guard was taken: the
    /// lock is then to be poisoned as the guard drops.
    #[inline]
    pub(crate) fn panicked(&self) -> bool {
        !self.panicking && thread::panicking()
    }
}

impl Flag {
    #[inline]
    pub(crate) const fn new() -> Flag {
        Flag {
            failed: AtomicBool::new(false),
        }
    }

    /// Poisons the lock.
    #[inline]
    pub(crate) fn poison(&self) {
        self.failed.store(true, Ordering::Relaxed);
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

/// What `Mutex` and `RwLock` share around their kernsync lock (`inner`, of
/// a [`Data`]): the flag's address, `is_poisoned`, `clear_poison`,
/// `get_mut`, `into_inner`, and `Default`/`From` of the caller's line.
macro_rules! poisoning_lock {
    ($Lock:ident) => {
        impl<T> $Lock<T> {
            /// The data, consuming the lock; `Err` (holding it) if poisoned.
            #[inline]
            pub fn into_inner(self) -> LockResult<T> {
                self.inner.into_inner().into_result()
            }
        }

        impl<T: ?Sized> $Lock<T> {
            /// The poison flag.
            #[inline]
            fn flag(&self) -> &$crate::poison::Flag {
                // SAFETY: `data_ptr` points into `self.inner`, which lives
                // as long as the borrow of `self`.
                unsafe { $crate::poison::Data::flag(self.inner.data_ptr()) }
            }

            /// Whether a holder (of the write side) panicked while holding it.
            #[inline]
            pub fn is_poisoned(&self) -> bool {
                self.flag().get()
            }

            /// Clears the poison.
            #[inline]
            pub fn clear_poison(&self) {
                self.flag().clear();
            }

            /// The data, through the unique borrow; `Err` (holding it) if
            /// poisoned.
            #[inline]
            pub fn get_mut(&mut self) -> LockResult<&mut T> {
                self.inner.get_mut().get_mut()
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
