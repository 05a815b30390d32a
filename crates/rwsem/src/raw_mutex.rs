//! The raw mutex: one state byte, a compare-and-swap fast path, and a cold
//! slow path that spins briefly and then parks on the mutex's address.
//!
//! # Fairness
//!
//! An ordinary unlock releases the mutex and wakes the first parked waiter,
//! which then competes with any thread that arrives in the meantime
//! ("barging"): good for throughput, but a waiter could lose every race. So a
//! waiter counts the times it was woken and lost; after `STARVE_AFTER` such
//! losses it parks with `PARK_STARVING`. Unlock looks at the token of the
//! waiter it wakes (through `unpark_filter`) and, if that waiter is starving,
//! hands the mutex over directly instead of releasing it (`TOKEN_HANDOFF`):
//! the state keeps `LOCKED` and the woken waiter owns the mutex when it
//! returns from `park`. The queue is FIFO and a re-parked waiter goes to its
//! back, so a waiter gets the mutex after a bounded number of unlocks.
//! [`RawMutex::unlock_fair`] always hands over.
//!
//! # The condition variable's handshake
//!
//! [`RawCondvar`](crate::RawCondvar) moves its waiters onto this mutex's queue
//! (`unpark_requeue`) instead of waking them all. Inside that requeue, with
//! both queues locked, it calls `RawMutex::mark_parked_if_locked` or
//! `RawMutex::mark_parked` so that `PARKED` is set whenever threads sit on
//! the mutex's queue; the next unlock then takes the slow path and wakes them
//! (or hands one the mutex, which the condvar recognises by
//! `TOKEN_HANDOFF` and completes with `RawMutex::acquire_handed_off`).

use kernsync_primitive::atomic::{AtomicU8, Ordering};
use kernsync_primitive::{
    abort_on_unwind, park, unpark_filter, FilterOp, ParkResult, ParkToken, SpinWait, UnparkResult,
    UnparkToken,
};
use std::cell::Cell;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

// The state byte.

/// Set while some thread owns the mutex, including while it is being handed
/// over to a woken waiter.
const LOCKED: u8 = 0b01;
/// Set while threads may be parked (or about to park) on the mutex's address,
/// its own lockers or condvar waiters requeued here. While `LOCKED` is set it
/// is cleared only with the queue locked (in a parking-lot callback), so
/// parked threads never go unnoticed by the unlocking owner.
const PARKED: u8 = 0b10;

// Tokens passed to a woken thread (shared with the condition variable).

/// The woken thread must compete for the mutex again.
pub(crate) const TOKEN_NORMAL: UnparkToken = UnparkToken(0);
/// The woken thread owns the mutex: it was handed over with `LOCKED` kept set.
pub(crate) const TOKEN_HANDOFF: UnparkToken = UnparkToken(1);

// Tokens a parked thread leaves in the queue.

/// A waiter that has not yet lost too many races (also the condvar's token).
pub(crate) const PARK_NORMAL: ParkToken = ParkToken(0);
/// A waiter that was woken and lost `STARVE_AFTER` times: the next unlock
/// that wakes it hands it the mutex.
const PARK_STARVING: ParkToken = ParkToken(1);

/// How many lost wakeups make a waiter starving.
const STARVE_AFTER: u32 = 2;

/// A mutual-exclusion lock: one byte of state, parking in the global parking
/// lot when contended. See the [module docs](self) for the fairness rule.
pub struct RawMutex {
    /// `LOCKED | PARKED`, see the table at the top of this file.
    state: AtomicU8,
}

/// The guard state of one acquisition of a [`RawMutex`] through `lock_api`.
///
/// It carries nothing; it is `!Send` because the lock-order validator records
/// held locks per thread, so an acquisition must be released by the thread
/// that made it. It is `Sync`, so a `&MutexGuard` may be shared.
pub struct RawMutexGuard {
    _not_send: PhantomData<*mut ()>,
}

// SAFETY: a `RawMutexGuard` has no fields and no methods, so a shared
// reference to it lets another thread do nothing at all; every operation on
// the acquisition takes the guard state by value or by `&mut`, which a `&`
// shared across threads cannot give. Only `Send` (moving the acquisition to
// another thread) is withheld.
unsafe impl Sync for RawMutexGuard {}

impl RawMutexGuard {
    #[cfg(not(loom))]
    #[inline]
    pub(crate) const fn acquired() -> RawMutexGuard {
        RawMutexGuard {
            _not_send: PhantomData,
        }
    }
}

impl std::fmt::Debug for RawMutexGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawMutexGuard")
    }
}

impl RawMutex {
    kernsync_primitive::const_fn! {
        /// An unlocked mutex.
        #[inline]
        pub const fn new() -> RawMutex {
            RawMutex {
                state: AtomicU8::new(0),
            }
        }
    }

    /// The key this mutex's waiters park under.
    #[inline]
    pub(crate) fn addr(&self) -> usize {
        self as *const RawMutex as usize
    }

    /// Acquires the mutex, blocking until it is available.
    #[inline]
    pub fn lock(&self) {
        // Acquire pairs with the Release of the unlock (fast or slow path)
        // that last cleared LOCKED.
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow(None);
        }
    }

    /// Acquires the mutex if it is free right now (barging past parked
    /// waiters); whether it did.
    #[inline]
    pub fn try_lock(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED != 0 {
                return false;
            }
            // Acquire pairs with the Release of the unlock that cleared LOCKED.
            match self.state.compare_exchange_weak(
                state,
                state | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(s) => state = s,
            }
        }
    }

    /// Acquires the mutex, giving up at `deadline`; whether it did. On
    /// failure the thread has left the wait queue (and cleared `PARKED` if it
    /// was the last waiter).
    #[inline]
    pub fn try_lock_until(&self, deadline: Instant) -> bool {
        // Acquire: as in `lock`.
        self.state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            || self.lock_slow(Some(deadline))
    }

    /// Acquires the mutex, giving up after `timeout`; whether it did. A
    /// timeout too large for an [`Instant`] waits without limit.
    #[inline]
    pub fn try_lock_for(&self, timeout: Duration) -> bool {
        // Acquire: as in `lock`.
        self.state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            || self.lock_slow(Instant::now().checked_add(timeout))
    }

    /// Releases the mutex and wakes one waiter, if any (which competes for
    /// the mutex again unless it has been starving, see the module docs).
    ///
    /// # Safety
    /// The calling thread holds the mutex.
    #[inline]
    pub unsafe fn unlock(&self) {
        // Release pairs with the Acquire of the next lock.
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow(false);
        }
    }

    /// Releases the mutex, handing it directly to the first waiter if there
    /// is one (no other thread can take it in between).
    ///
    /// # Safety
    /// The calling thread holds the mutex.
    #[inline]
    pub unsafe fn unlock_fair(&self) {
        // Release pairs with the Acquire of the next lock.
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow(true);
        }
    }

    /// If threads are waiting, hands the mutex to the first of them and
    /// queues to get it back; otherwise does nothing. Returns holding the
    /// mutex.
    ///
    /// # Safety
    /// The calling thread holds the mutex.
    #[inline]
    pub unsafe fn bump(&self) {
        if self.state.load(Ordering::Relaxed) & PARKED != 0 {
            self.bump_slow();
        }
    }

    /// Whether some thread holds the mutex (a snapshot, stale at once).
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    /// Sets `PARKED` if the mutex is locked; whether it did. For the condvar,
    /// which calls it inside `unpark_requeue`'s `validate`, with this mutex's
    /// queue locked: if it returns true, the owner's unlock will take the
    /// slow path (its fast-path CAS expects exactly `LOCKED`) and, queue lock
    /// serialising it after the requeue, wake the requeued thread.
    #[inline]
    pub(crate) fn mark_parked_if_locked(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED == 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state | PARKED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(s) => state = s,
            }
        }
    }

    /// Sets `PARKED` unconditionally. For the condvar, inside
    /// `unpark_requeue`'s callback with this mutex's queue locked, after it
    /// requeued threads here while also waking one (which will lock and
    /// unlock the mutex, and so wake the next).
    #[inline]
    pub(crate) fn mark_parked(&self) {
        self.state.fetch_or(PARKED, Ordering::Relaxed);
    }

    /// Clears `PARKED`. Only inside a parking-lot callback with this mutex's
    /// queue locked, when no thread is left on it (a timed-out requeued
    /// condvar waiter that was the last).
    #[inline]
    pub(crate) fn clear_parked(&self) {
        self.state.fetch_and(!PARKED, Ordering::Relaxed);
    }

    /// Completes a handoff: called by a thread woken with `TOKEN_HANDOFF`,
    /// which owns the mutex from then on.
    #[inline]
    pub(crate) fn acquire_handed_off(&self) {
        // Acquire pairs with the Release swap of the handing-over
        // `unlock_slow`; every later change to the state before this load is
        // a read-modify-write, which continues that release sequence.
        let state = self.state.load(Ordering::Acquire);
        debug_assert!(state & LOCKED != 0, "handed-off mutex is not locked");
    }

    #[cold]
    fn lock_slow(&self, deadline: Option<Instant>) -> bool {
        let mut spin = SpinWait::new();
        let mut lost = 0u32;
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            // Free: take it, even if threads are parked (barging).
            if state & LOCKED == 0 {
                // Acquire pairs with the Release of the unlock that cleared LOCKED.
                match self.state.compare_exchange_weak(
                    state,
                    state | LOCKED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(s) => state = s,
                }
                continue;
            }

            // Nobody queued yet: spin a little before parking.
            if state & PARKED == 0 && spin.spin() {
                state = self.state.load(Ordering::Relaxed);
                continue;
            }

            // Announce a waiter so the owner's unlock takes the slow path.
            if state & PARKED == 0 {
                if let Err(s) = self.state.compare_exchange_weak(
                    state,
                    state | PARKED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    state = s;
                    continue;
                }
            }

            let token = if lost >= STARVE_AFTER {
                PARK_STARVING
            } else {
                PARK_NORMAL
            };
            // Park only if the owner has not unlocked since we set PARKED:
            // checked under the queue lock, which its unlock_slow takes.
            let validate = || self.state.load(Ordering::Relaxed) == LOCKED | PARKED;
            let timed_out = |_key, was_last: bool| {
                if was_last {
                    self.state.fetch_and(!PARKED, Ordering::Relaxed);
                }
            };
            // SAFETY: the key is this mutex's address, which we own for the
            // call; `validate` and `timed_out` only touch our state byte (no
            // panic, no parking-lot call); `before_sleep` does nothing.
            let result = abort_on_unwind(|| unsafe {
                park(self.addr(), validate, || {}, timed_out, token, deadline)
            });
            match result {
                ParkResult::Unparked(TOKEN_HANDOFF) => {
                    self.acquire_handed_off();
                    return true;
                }
                ParkResult::Unparked(_) => lost += 1,
                ParkResult::Invalid => {}
                ParkResult::TimedOut => return false,
            }
            spin.reset();
            state = self.state.load(Ordering::Relaxed);
        }
    }

    /// Wakes the first waiter; hands it the mutex if `force_fair` or if it is
    /// starving, else releases the mutex. The caller holds the mutex and saw
    /// `PARKED` set.
    #[cold]
    fn unlock_slow(&self, force_fair: bool) {
        let first = Cell::new(None);
        let filter = |token: ParkToken| {
            if first.get().is_none() {
                first.set(Some(token));
                FilterOp::Unpark
            } else {
                FilterOp::Stop
            }
        };
        // Runs with the queue locked. We own the mutex, so the only other
        // writers of the state are would-be parkers setting PARKED (their
        // validate, after this, sees our write and fails) and the
        // parking-lot callbacks that this queue lock serialises; so we may
        // overwrite the state. A swap rather than a store: as a
        // read-modify-write it is ordered after any such PARKED-setting CAS
        // in the modification order, which loom's model needs to see.
        let callback = |result: UnparkResult| {
            let more = if result.have_more_threads { PARKED } else { 0 };
            if result.unparked_threads != 0 && (force_fair || first.get() == Some(PARK_STARVING)) {
                // Release pairs with the Acquire in `acquire_handed_off`.
                self.state.swap(LOCKED | more, Ordering::Release);
                TOKEN_HANDOFF
            } else {
                // Release pairs with the Acquire of the next lock.
                self.state.swap(more, Ordering::Release);
                TOKEN_NORMAL
            }
        };
        // SAFETY: the key is this mutex's address; `filter` and `callback`
        // only touch a local cell and our state byte (no panic, no
        // parking-lot call).
        abort_on_unwind(|| unsafe { unpark_filter(self.addr(), filter, callback) });
    }

    #[cold]
    fn bump_slow(&self) {
        self.unlock_slow(true);
        // lock_api: a bump may unwind only with the mutex held again.
        abort_on_unwind(|| self.lock());
    }
}

impl Default for RawMutex {
    fn default() -> RawMutex {
        RawMutex::new()
    }
}

impl std::fmt::Debug for RawMutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawMutex")
            .field("locked", &self.is_locked())
            .finish()
    }
}

// SAFETY: `lock`/`try_lock*` return only after the CAS that set LOCKED
// (Acquire) or a handoff (Acquire in `acquire_handed_off`), and every unlock
// clears LOCKED with Release or hands over with Release, so at most one
// acquisition exists at a time and critical sections are ordered. None of
// the operations unwinds: the parking-lot calls are wrapped in
// `abort_on_unwind`, so an unlock always releases and a failed lock never
// leaves an acquisition behind. The guard state holds nothing, so forgetting
// it, or moving or dropping the unlocked-or-locked mutex, is harmless.
#[cfg(not(loom))]
unsafe impl lock_api::RawMutex for RawMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawMutex = RawMutex::new();

    type Guard = RawMutexGuard;

    #[inline]
    fn lock(&self) -> RawMutexGuard {
        RawMutex::lock(self);
        RawMutexGuard::acquired()
    }

    #[inline]
    fn try_lock(&self) -> Option<RawMutexGuard> {
        RawMutex::try_lock(self).then(RawMutexGuard::acquired)
    }

    #[inline]
    unsafe fn unlock(&self, _guard: RawMutexGuard) {
        // SAFETY: the caller gives the state of an acquisition it holds.
        unsafe { RawMutex::unlock(self) }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        RawMutex::is_locked(self)
    }
}

// SAFETY: as for `RawMutex`; `unlock_fair` releases (or hands over) the
// acquisition, and `bump` returns holding the mutex, aborting rather than
// unwinding without it. The guard state is unchanged by a bump because it
// carries nothing.
#[cfg(not(loom))]
unsafe impl lock_api::RawMutexFair for RawMutex {
    #[inline]
    unsafe fn unlock_fair(&self, _guard: RawMutexGuard) {
        // SAFETY: the caller gives the state of an acquisition it holds.
        unsafe { RawMutex::unlock_fair(self) }
    }

    #[inline]
    unsafe fn bump(&self, _guard: &mut RawMutexGuard) {
        // SAFETY: the caller gives the state of an acquisition it holds.
        unsafe { RawMutex::bump(self) }
    }
}

// SAFETY: as for `RawMutex`; a timed-out attempt leaves no acquisition and
// does not return before the deadline (the parking lot times out only then).
#[cfg(not(loom))]
unsafe impl lock_api::RawMutexTimed for RawMutex {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_for(&self, timeout: Duration) -> Option<RawMutexGuard> {
        RawMutex::try_lock_for(self, timeout).then(RawMutexGuard::acquired)
    }

    #[inline]
    fn try_lock_until(&self, deadline: Instant) -> Option<RawMutexGuard> {
        RawMutex::try_lock_until(self, deadline).then(RawMutexGuard::acquired)
    }
}
