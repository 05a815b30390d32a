//! `Once`: parking_lot 0.12's one-time initialisation, whose waits the
//! validator sees.
//!
//! The state word (`state`), one bit each:
//!
//! | bit           | set when                                              |
//! |---------------|-------------------------------------------------------|
//! | `DONE_BIT`    | a call completed; never cleared                       |
//! | `POISON_BIT`  | the last call panicked and none has completed since   |
//! | `LOCKED_BIT`  | a call is running (the closure, under `lock`)         |
//!
//! Callers serialise on `lock`, a bare kernsync mutex (not validated
//! itself): the running call holds it around the closure, and every other
//! caller waits for it, then finds `DONE_BIT` (or runs, if the last call
//! panicked and it may). The validator sees the wait through the `Once`'s
//! pseudo-lock (a [`LockMap`] with no lock behind it), as kernsync's
//! once-cells do: every `call_once`/`call_once_force` takes and releases it,
//! and the closure runs holding it, so a closure that takes a lock `L`
//! (records *once → L*) and a thread reaching the `Once` while holding `L`
//! (records *L → once*) are a reported cycle, found from a run that never
//! raced; a closure reaching its own `Once` is reported as recursive locking
//! (parking_lot deadlocks there). The pseudo-lock is taken as the next
//! subclass of its class ([`LockMap::acquire_by_depth`]), so closures of
//! different `Once`s made at one line may nest.

use core::fmt;
use core::panic::Location;
use std::sync::atomic::{AtomicU8, Ordering};

use kernsync_lockdep::{LockMap, Mode};

/// A call completed.
const DONE_BIT: u8 = 1;
/// The last call panicked (and none completed since).
const POISON_BIT: u8 = 2;
/// A call is running.
const LOCKED_BIT: u8 = 4;

/// Current state of a [`Once`].
#[derive(Copy, Clone, Eq, PartialEq, Debug)]
pub enum OnceState {
    /// No call has started yet.
    New,
    /// A call panicked; the `Once` is poisoned.
    Poisoned,
    /// A call is running.
    InProgress,
    /// A call completed.
    Done,
}

impl OnceState {
    /// Whether the `Once` was poisoned (a call panicked) when the state was
    /// read.
    #[inline]
    pub fn poisoned(self) -> bool {
        matches!(self, OnceState::Poisoned)
    }

    /// Whether a call had completed when the state was read.
    #[inline]
    pub fn done(self) -> bool {
        matches!(self, OnceState::Done)
    }
}

/// A synchronization primitive which can be used to run a one-time
/// initialization, as parking_lot 0.12's (poisoning included), whose waits
/// the lock-order validator sees (module docs of `once.rs`; the class is the
/// construction site, so every `Once` a `static` or a line makes shares it).
pub struct Once {
    state: AtomicU8,
    lock: kernsync_rwsem::RawMutex,
    map: LockMap,
}

/// Holds `Once::lock` while a call runs; on drop (the end of the call, or
/// its unwinding), stores the call's outcome and lets the next caller in.
struct Running<'a> {
    once: &'a Once,
    outcome: u8,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        // Release: pairs with the Acquire loads in `state` and `call`, so
        // a caller that sees DONE_BIT sees what the closure wrote.
        self.once.state.store(self.outcome, Ordering::Release);
        // SAFETY: `Running` exists only while this thread holds `lock`.
        unsafe { self.once.lock.unlock() };
    }
}

impl Once {
    /// Creates a new `Once` value, in the class of the caller's line.
    #[inline]
    #[track_caller]
    pub const fn new() -> Once {
        Once {
            state: AtomicU8::new(0),
            lock: kernsync_rwsem::RawMutex::new(),
            map: LockMap::at_site_named(Location::caller(), "parking_lot::Once"),
        }
    }

    /// The current state of this `Once`.
    #[inline]
    pub fn state(&self) -> OnceState {
        // Acquire: pairs with the Release store in `Running::drop`.
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

    /// Runs `f` if no call has completed yet, else returns once the running
    /// call (if any) has completed. Panics if a call panicked (the `Once` is
    /// poisoned) and none has completed since.
    #[inline]
    #[track_caller]
    pub fn call_once<F>(&self, f: F)
    where
        F: FnOnce(),
    {
        let mut f = Some(f);
        self.call(false, &mut |_| {
            if let Some(f) = f.take() {
                f();
            }
        });
    }

    /// As [`call_once`](Once::call_once), but also runs on a poisoned
    /// `Once`; `f` is told the state it runs in (`New` or `Poisoned`).
    #[inline]
    #[track_caller]
    pub fn call_once_force<F>(&self, f: F)
    where
        F: FnOnce(OnceState),
    {
        let mut f = Some(f);
        self.call(true, &mut |state| {
            if let Some(f) = f.take() {
                f(state);
            }
        });
    }

    /// Every call: the pseudo-lock around the wait or the run.
    #[track_caller]
    fn call(&self, ignore_poison: bool, f: &mut dyn FnMut(OnceState)) {
        let _waiting = self.map.hold_by_depth(Mode::Write);
        // Acquire: pairs with the Release store in `Running::drop`.
        if self.state.load(Ordering::Acquire) & DONE_BIT != 0 {
            return;
        }
        self.lock.lock();
        let state = self.state.load(Ordering::Acquire);
        let mut running = Running {
            once: self,
            outcome: state,
        };
        if state & DONE_BIT != 0 {
            return;
        }
        if state & POISON_BIT != 0 && !ignore_poison {
            drop(running);
            panic!("Once instance has previously been poisoned");
        }
        // Relaxed: only read by `state`, which is advisory while running;
        // the closure's effects are published by the Release in `Running`.
        self.state.store(state | LOCKED_BIT, Ordering::Relaxed);
        running.outcome = POISON_BIT; // if `f` unwinds
        f(if state & POISON_BIT != 0 {
            OnceState::Poisoned
        } else {
            OnceState::New
        });
        running.outcome = DONE_BIT;
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
