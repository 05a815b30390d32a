//! `Once`: one-time initialisation with parking_lot's API (poisoning,
//! `state()`, `call_once_force`), whose waits the validator sees.
//!
//! Each `Once` embeds a pseudo-lock (a kernsync `LockMap` with no lock
//! behind it), as kernsync's own once-cells do: `call_once`,
//! `call_once_force`, `wait` and `wait_force` take and release it, and the
//! closure runs holding it. A closure that takes a lock `L` records
//! *once → L*; a thread that reaches the `Once` while holding `L` records
//! *L → once*: the cycle is reported from a run in which the two never
//! raced. The pseudo-lock is taken as the next subclass of its class on the
//! thread (`acquire_by_depth`), so nested initialisation of different
//! `Once`s made at one line is never reported as recursion on its own.
//!
//! The state word is parking_lot's shape; waiters park on the `Once`'s
//! address.

use core::fmt;
use core::panic::Location;
use core::sync::atomic::{AtomicU8, Ordering};

use kernsync_lockdep::{LockMap, Mode};
use parking_lot_core::{DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN};

/// Set when a call completed: the `Once` is done for good.
const DONE_BIT: u8 = 1;
/// Set when a call panicked and no call completed since.
const POISON_BIT: u8 = 2;
/// Set while a call runs.
const LOCKED_BIT: u8 = 4;
/// Set when threads may be parked on the address, waiting for a call.
const PARKED_BIT: u8 = 8;

/// Current state of a `Once`.
#[derive(Copy, Clone, Eq, PartialEq, Debug)]
pub enum OnceState {
    /// A closure has not been executed yet
    New,

    /// A closure was executed but panicked.
    Poisoned,

    /// A thread is currently executing a closure.
    InProgress,

    /// A closure has completed successfully.
    Done,
}

impl OnceState {
    /// Returns whether the associated `Once` has been poisoned.
    ///
    /// Once an initialization routine for a `Once` has panicked it will forever
    /// indicate to future forced initialization routines that it is poisoned.
    #[inline]
    pub const fn is_poisoned(self) -> bool {
        matches!(self, OnceState::Poisoned)
    }

    /// Returns whether the associated `Once` has been poisoned (an alias of
    /// [`is_poisoned`](OnceState::is_poisoned)).
    #[inline]
    pub const fn poisoned(self) -> bool {
        self.is_poisoned()
    }

    /// Returns whether the associated `Once` has successfully executed a
    /// closure.
    #[inline]
    pub const fn is_completed(self) -> bool {
        matches!(self, OnceState::Done)
    }

    /// Returns whether the associated `Once` has successfully executed a
    /// closure (an alias of [`is_completed`](OnceState::is_completed)).
    #[inline]
    pub const fn done(self) -> bool {
        self.is_completed()
    }
}

/// A synchronization primitive which can be used to run a one-time
/// initialization. Useful for one-time initialization for globals, FFI or
/// related functionality.
///
/// # Differences from the standard library `Once`
///
/// - Only requires 1 byte of space, instead of 1 word (upstream; this
///   shim's carries the validator's handle too, a few words in debug builds).
/// - Not required to be `'static`.
/// - Relaxed memory barriers in the fast path, which can significantly improve
///   performance on some architectures.
/// - Efficient handling of micro-contention using adaptive spinning.
///
/// # Validation
///
/// Waiting for a `Once` is a wait like a lock's: see the module docs. The
/// class is the construction site (`Once::new` is `#[track_caller]`).
///
/// # Examples
///
/// ```
/// use parking_lot::Once;
///
/// static START: Once = Once::new();
///
/// START.call_once(|| {
///     // run initialization here
/// });
/// ```
pub struct Once {
    state: AtomicU8,
    map: LockMap,
}

impl Once {
    /// Creates a new `Once` value.
    #[inline]
    #[track_caller]
    pub const fn new() -> Once {
        Once::with_state(0, Location::caller())
    }

    /// Creates a new `Once` value that is already completed.
    #[inline]
    #[track_caller]
    pub const fn new_completed() -> Once {
        Once::with_state(DONE_BIT, Location::caller())
    }

    #[inline]
    const fn with_state(state: u8, site: &'static Location<'static>) -> Once {
        Once {
            state: AtomicU8::new(state),
            map: LockMap::at_site(site),
        }
    }

    #[inline]
    fn addr(&self) -> usize {
        core::ptr::from_ref(self).addr()
    }

    /// Returns the current state of this `Once`.
    #[inline]
    pub fn state(&self) -> OnceState {
        // Acquire: pairs with the Release that set DONE (or POISON), so a
        // caller seeing `Done` sees the initialisation.
        let state = self.state.load(Ordering::Acquire);
        if state & DONE_BIT != 0 {
            OnceState::Done
        } else if state & LOCKED_BIT != 0 {
            OnceState::InProgress
        } else if state & POISON_BIT != 0 {
            OnceState::Poisoned
        } else {
            OnceState::New
        }
    }

    /// Returns `true` if some `call_once` call has completed successfully.
    #[inline]
    pub fn is_completed(&self) -> bool {
        // Acquire: as in `state`.
        self.state.load(Ordering::Acquire) & DONE_BIT != 0
    }

    /// Blocks the current thread until initialization has completed.
    ///
    /// # Panics
    ///
    /// Panics if this `Once` has been poisoned.
    #[inline]
    #[track_caller]
    pub fn wait(&self) {
        let _wait = self.map.hold_by_depth(Mode::Write);
        if !self.is_completed() {
            self.wait_slow(false);
        }
    }

    /// Blocks the current thread until initialization has completed, ignoring
    /// poisoning.
    #[inline]
    #[track_caller]
    pub fn wait_force(&self) {
        let _wait = self.map.hold_by_depth(Mode::Write);
        if !self.is_completed() {
            self.wait_slow(true);
        }
    }

    /// Performs an initialization routine once and only once. The given closure
    /// will be executed if this is the first time `call_once` has been called,
    /// and otherwise the routine will *not* be invoked.
    ///
    /// This method will block the calling thread if another initialization
    /// routine is currently running.
    ///
    /// When this function returns, it is guaranteed that some initialization
    /// has run and completed (it may not be the closure specified).
    ///
    /// # Panics
    ///
    /// The closure `f` will only be executed once if this is called
    /// concurrently amongst many threads. If that closure panics, however, then
    /// it will *poison* this `Once` instance, causing all future invocations of
    /// `call_once` to also panic.
    #[inline]
    #[track_caller]
    pub fn call_once<F>(&self, f: F)
    where
        F: FnOnce(),
    {
        let _wait = self.map.hold_by_depth(Mode::Write);
        // Acquire: as in `state`.
        if self.state.load(Ordering::Acquire) == DONE_BIT {
            return;
        }
        let mut f = Some(f);
        self.call_once_slow(false, &mut |_| {
            if let Some(f) = f.take() {
                f();
            }
        });
    }

    /// Performs the same function as `call_once` except ignores poisoning.
    ///
    /// If this `Once` has been poisoned (some initialization panicked) then
    /// this function will continue to attempt to call initialization functions
    /// until one of them doesn't panic.
    ///
    /// The closure `f` is yielded a structure which can be used to query the
    /// state of this `Once` (whether initialization has previously panicked or
    /// not).
    #[inline]
    #[track_caller]
    pub fn call_once_force<F>(&self, f: F)
    where
        F: FnOnce(OnceState),
    {
        let _wait = self.map.hold_by_depth(Mode::Write);
        // Acquire: as in `state`.
        if self.state.load(Ordering::Acquire) == DONE_BIT {
            return;
        }
        let mut f = Some(f);
        self.call_once_slow(true, &mut |state| {
            if let Some(f) = f.take() {
                f(state);
            }
        });
    }

    /// Parks until `keep_waiting` (checked with the parking lot's queue
    /// locked) is false.
    #[inline]
    fn park_while(&self, keep_waiting: impl Fn(u8) -> bool) {
        let validate = || keep_waiting(self.state.load(Ordering::Relaxed));
        // SAFETY: the key is our own address; `validate` only loads our
        // state (no panic, no parking-lot call); `before_sleep` does nothing;
        // there is no timeout, so `timed_out` is never called.
        unsafe {
            parking_lot_core::park(
                self.addr(),
                validate,
                || {},
                |_, _| {},
                DEFAULT_PARK_TOKEN,
                None,
            );
        }
    }

    /// Sets PARKED (so the running call unparks us); false if `state`
    /// changed meanwhile.
    #[inline]
    fn mark_parked(&self, state: u8) -> bool {
        state & PARKED_BIT != 0
            || self
                .state
                .compare_exchange_weak(
                    state,
                    state | PARKED_BIT,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    #[cold]
    fn wait_slow(&self, ignore_poison: bool) {
        loop {
            // Acquire: pairs with the Release that set DONE or POISON.
            let state = self.state.load(Ordering::Acquire);
            if state & DONE_BIT != 0 {
                return;
            }
            if state & POISON_BIT != 0 && !ignore_poison {
                panic!("Once instance has previously been poisoned");
            }
            if !self.mark_parked(state) {
                continue;
            }
            self.park_while(|s| {
                s & PARKED_BIT != 0 && s & DONE_BIT == 0 && (ignore_poison || s & POISON_BIT == 0)
            });
        }
    }

    #[cold]
    fn call_once_slow(&self, ignore_poison: bool, f: &mut dyn FnMut(OnceState)) {
        let poisoned = loop {
            // Acquire: pairs with the Release that set DONE or POISON.
            let state = self.state.load(Ordering::Acquire);
            if state & DONE_BIT != 0 {
                return;
            }
            if state & POISON_BIT != 0 && !ignore_poison {
                panic!("Once instance has previously been poisoned");
            }
            if state & LOCKED_BIT == 0 {
                // Ours to run; clear POISON, since we try again.
                // Acquire: a failed call's writes are seen by the retry.
                if self
                    .state
                    .compare_exchange_weak(
                        state,
                        (state | LOCKED_BIT) & !POISON_BIT,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    break state & POISON_BIT != 0;
                }
                continue;
            }
            if !self.mark_parked(state) {
                continue;
            }
            self.park_while(|s| s & LOCKED_BIT != 0 && s & PARKED_BIT != 0);
        };

        /// Poisons the `Once` and wakes its waiters if the call unwinds.
        struct PanicGuard<'a>(&'a Once);
        impl Drop for PanicGuard<'_> {
            fn drop(&mut self) {
                // Release: pairs with the waiters' Acquire loads.
                self.0.finish(POISON_BIT);
            }
        }

        let guard = PanicGuard(self);
        f(if poisoned {
            OnceState::Poisoned
        } else {
            OnceState::New
        });
        core::mem::forget(guard);
        self.finish(DONE_BIT);
    }

    /// Ends the running call with state `to` and wakes every waiter.
    #[inline]
    fn finish(&self, to: u8) {
        // Release: pairs with the Acquire loads of `state`, `is_completed`
        // and the slow paths, so they see what the call wrote.
        let state = self.state.swap(to, Ordering::Release);
        if state & PARKED_BIT != 0 {
            // SAFETY: the key is our own address.
            unsafe {
                parking_lot_core::unpark_all(self.addr(), DEFAULT_UNPARK_TOKEN);
            }
        }
    }
}

impl Default for Once {
    #[inline]
    #[track_caller]
    fn default() -> Once {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("state", &self.state())
            .finish()
    }
}
