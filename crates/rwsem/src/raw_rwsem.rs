//! [`RawRwSem`]: the raw, task-fair reader/writer semaphore.
//!
//! One atomic word (the table below) and two wait queues in the parking lot:
//! the *main queue* at the lock's address, where every new waiter parks, and
//! the *writer queue* at address + 1, where the one thread that has claimed
//! `WRITER_BIT` waits for the remaining readers to leave.
//!
//! **Task-fair.** A writer claims `WRITER_BIT` as soon as no writer and no
//! upgradable reader holds the lock, even while readers are inside; from then
//! on it is a *pending writer*: new non-recursive readers (and upgradable
//! readers) wait behind it, the readers inside drain, and the last one wakes
//! it. So a stream of readers cannot starve a writer.
//!
//! **Recursive reads.** A recursive reader only waits while a writer *holds*
//! the lock (`WRITER_BIT` set and no readers). While the lock is read-held it
//! joins the readers even past a pending writer, so a thread that already
//! holds a read can always take another one: recursion never deadlocks
//! against a waiting writer (it only delays that writer).
//!
//! **Eventual fairness.** Unlocks are unfair by default (a running thread
//! may barge in ahead of the woken ones), which is fast but could starve the
//! woken readers under a stream of writers. Every 256th (`FAIR_EVERY`) contended
//! unlock of a writer or an upgradable reader is therefore a fair one: the
//! lock is handed off, still locked, to the threads at the front of the main
//! queue (all the readers up to and including the first writer, in queue
//! order). The `*_fair` unlocks and `bump_*` always hand off.
//!
//! The state machine is the inherent, guard-less API; under `--cfg loom` it
//! runs on loom's atomics and modelled parking lot. The `lock_api` traits
//! wrap it (outside loom) with zero-sized per-mode guard states.

use core::cell::Cell;
use std::time::{Duration, Instant};

use kernsync_primitive::atomic::{AtomicUsize, Ordering};
use kernsync_primitive::{
    abort_on_unwind, park, unpark_filter, unpark_one, FilterOp, ParkResult, ParkToken, SpinWait,
    UnparkResult, UnparkToken,
};

// ---------------------------------------------------------------------------
// The state word.
// ---------------------------------------------------------------------------

/// At least one thread is (or is about to be) parked in the main queue.
const PARKED_BIT: usize = 0b0001;
/// The thread owning `WRITER_BIT` is parked in the writer queue, waiting for
/// the readers to leave; `WRITER_BIT` is set.
const WRITER_PARKED_BIT: usize = 0b0010;
/// An upgradable reader holds the lock (it is also counted as a reader);
/// `WRITER_BIT` is clear.
const UPGRADABLE_BIT: usize = 0b0100;
/// With no readers: a writer holds the lock. With readers: a writer (or an
/// upgrading reader) has claimed the lock and waits for them to leave — the
/// pending writer that blocks new non-recursive readers.
const WRITER_BIT: usize = 0b1000;
/// The reader count: every shared holder (plain, recursive, upgradable).
const READERS_MASK: usize = !0b1111;
/// One reader in the count.
const ONE_READER: usize = 0b1_0000;
/// The bits a reader's fast path needs clear: the writer bit and the top of
/// the word (the reader count's upper bits: below 2^27 readers on 64-bit
/// targets, 2^11 on 32-bit ones, the fast path is taken).
const FAST_READ_MASK: usize = WRITER_BIT | !(usize::MAX >> (usize::BITS / 2 + 1));

// Park tokens: what a waiter in the main queue wants (its state increment).
/// A (plain or recursive) reader waits.
const TOKEN_SHARED: ParkToken = ParkToken(ONE_READER);
/// A writer waits.
const TOKEN_EXCLUSIVE: ParkToken = ParkToken(WRITER_BIT);
/// An upgradable reader waits.
const TOKEN_UPGRADABLE: ParkToken = ParkToken(ONE_READER | UPGRADABLE_BIT);

// Unpark tokens: how a waiter was woken.
/// Woken to retry: the lock was released.
const TOKEN_NORMAL: UnparkToken = UnparkToken(0);
/// Woken holding the lock: the unlocker handed it off in the mode asked for.
const TOKEN_HANDOFF: UnparkToken = UnparkToken(1);

/// Every this many contended unlocks (ones that wake someone), the unlock is
/// a fair handoff: the eventual fairness that keeps woken waiters from
/// starving behind threads that barge in. Rare enough to cost nothing
/// measurable: at 16 the write-heavy two-thread mix ran 8% behind
/// parking_lot (which has no eventual fairness), at 256 level with it.
const FAIR_EVERY: usize = 256;

/// May a reader enter in `state`? A plain reader only when no writer holds or
/// waits; a recursive one also past a pending writer while readers are in.
#[inline(always)]
fn reader_may_enter(state: usize, recursive: bool) -> bool {
    state & WRITER_BIT == 0 || (recursive && state & READERS_MASK != 0)
}

/// The deadline `timeout` from now; `None` (wait forever) if unrepresentable.
#[inline]
fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// A blocking, task-fair reader/writer semaphore: the raw state machine.
///
/// Readers share it, a writer has it alone, an upgradable reader shares it
/// with plain readers but not with another upgradable reader or a writer. A
/// waiting writer blocks new non-recursive readers; recursive readers
/// ([`lock_shared_recursive`](RawRwSem::lock_shared_recursive)) pass a
/// waiting writer while the lock is read-held. See the [module
/// docs](crate::raw_rwsem) for the protocol.
pub struct RawRwSem {
    /// The state word; see the constants at the top of this file.
    state: AtomicUsize,
    /// Contended unlocks since the last fair handoff. Only touched inside
    /// unpark callbacks of the main queue, which the parking lot serialises.
    contended: AtomicUsize,
}

impl Default for RawRwSem {
    fn default() -> RawRwSem {
        RawRwSem::new()
    }
}

impl RawRwSem {
    kernsync_primitive::const_fn! {
        /// An unlocked semaphore.
        pub const fn new() -> RawRwSem {
            RawRwSem {
                state: AtomicUsize::new(0),
                contended: AtomicUsize::new(0),
            }
        }
    }

    // ----- shared -----------------------------------------------------------

    /// Acquires a shared lock, waiting while a writer holds *or waits for*
    /// the lock. Panics (holding nothing new) if the reader count overflows.
    #[inline]
    pub fn lock_shared(&self) {
        if !self.try_lock_shared_fast(false) {
            self.lock_shared_slow(false, None);
        }
    }

    /// Acquires a shared lock if that needs no waiting.
    #[inline]
    pub fn try_lock_shared(&self) -> bool {
        self.try_lock_shared_fast(false) || self.try_lock_shared_slow(false)
    }

    /// [`lock_shared`](RawRwSem::lock_shared), giving up at `deadline`.
    #[inline]
    pub fn try_lock_shared_until(&self, deadline: Instant) -> bool {
        self.try_lock_shared_fast(false) || self.lock_shared_slow(false, Some(deadline))
    }

    /// [`lock_shared`](RawRwSem::lock_shared), giving up after `timeout`.
    #[inline]
    pub fn try_lock_shared_for(&self, timeout: Duration) -> bool {
        self.try_lock_shared_fast(false) || self.lock_shared_slow(false, deadline_after(timeout))
    }

    /// Acquires a shared lock recursively: waits only while a writer *holds*
    /// the lock, never for a waiting writer while the lock is read-held, so
    /// a thread already holding a read of this lock never blocks here.
    #[inline]
    pub fn lock_shared_recursive(&self) {
        if !self.try_lock_shared_fast(true) {
            self.lock_shared_slow(true, None);
        }
    }

    /// [`lock_shared_recursive`](RawRwSem::lock_shared_recursive) if that
    /// needs no waiting.
    #[inline]
    pub fn try_lock_shared_recursive(&self) -> bool {
        self.try_lock_shared_fast(true) || self.try_lock_shared_slow(true)
    }

    /// [`lock_shared_recursive`](RawRwSem::lock_shared_recursive), giving
    /// up at `deadline`.
    #[inline]
    pub fn try_lock_shared_recursive_until(&self, deadline: Instant) -> bool {
        self.try_lock_shared_fast(true) || self.lock_shared_slow(true, Some(deadline))
    }

    /// [`lock_shared_recursive`](RawRwSem::lock_shared_recursive), giving
    /// up after `timeout`.
    #[inline]
    pub fn try_lock_shared_recursive_for(&self, timeout: Duration) -> bool {
        self.try_lock_shared_fast(true) || self.lock_shared_slow(true, deadline_after(timeout))
    }

    /// Releases a shared lock; the last reader out wakes a pending writer.
    ///
    /// # Safety
    /// The caller holds a shared acquisition (plain or recursive) of this
    /// lock and gives it up.
    #[inline]
    pub unsafe fn unlock_shared(&self) {
        // Release: pairs with the Acquire loads of a writer or upgrader in
        // `wait_for_readers` / `upgrade` (and with any later acquirer, via the
        // release sequence of the state word).
        let state = self.state.fetch_sub(ONE_READER, Ordering::Release);
        if state & (READERS_MASK | WRITER_PARKED_BIT) == (ONE_READER | WRITER_PARKED_BIT) {
            self.unlock_shared_slow();
        }
    }

    /// Releases a shared lock fairly. A reader's unlock is always fair: the
    /// only waiter it can let in is the pending writer, which already owns
    /// `WRITER_BIT`, so nothing can barge ahead of it.
    ///
    /// # Safety
    /// As [`unlock_shared`](RawRwSem::unlock_shared).
    #[inline]
    pub unsafe fn unlock_shared_fair(&self) {
        // SAFETY: the caller's shared acquisition is forwarded.
        unsafe { self.unlock_shared() }
    }

    /// Lets a pending writer in if there is one: a fair unlock and a
    /// (non-recursive) relock, which then waits for that writer to finish.
    /// Aborts if the relock panics.
    ///
    /// A thread that holds another read of this lock must not bump a plain
    /// read (the relock would wait for a writer that waits for its other
    /// read); use [`bump_shared_recursive`](RawRwSem::bump_shared_recursive).
    ///
    /// # Safety
    /// The caller holds a shared acquisition of this lock; it holds one again
    /// on return.
    #[inline]
    pub unsafe fn bump_shared(&self) {
        if self.state.load(Ordering::Relaxed) & WRITER_BIT != 0 {
            // SAFETY: the caller's shared acquisition is given up and retaken.
            unsafe { self.bump_shared_slow(false) }
        }
    }

    /// [`bump_shared`](RawRwSem::bump_shared) with a recursive relock: it
    /// lets the pending writer in only if this was the last read, and never
    /// deadlocks when the thread holds other reads of this lock.
    ///
    /// # Safety
    /// As [`bump_shared`](RawRwSem::bump_shared).
    #[inline]
    pub unsafe fn bump_shared_recursive(&self) {
        if self.state.load(Ordering::Relaxed) & WRITER_BIT != 0 {
            // SAFETY: the caller's shared acquisition is given up and retaken.
            unsafe { self.bump_shared_slow(true) }
        }
    }

    // ----- exclusive --------------------------------------------------------

    /// Acquires the lock exclusively: claims `WRITER_BIT` (blocking new
    /// readers) once no writer or upgradable reader holds it, then waits for
    /// the readers inside to leave.
    #[inline]
    pub fn lock_exclusive(&self) {
        // Acquire: pairs with the Release of the previous unlock.
        if self
            .state
            .compare_exchange_weak(0, WRITER_BIT, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_exclusive_slow(None);
        }
    }

    /// Acquires the lock exclusively if it is free.
    #[inline]
    pub fn try_lock_exclusive(&self) -> bool {
        // Acquire: pairs with the Release of the previous unlock.
        self.state
            .compare_exchange(0, WRITER_BIT, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// [`lock_exclusive`](RawRwSem::lock_exclusive), giving up at `deadline`
    /// (and then letting in the readers its claim was blocking).
    #[inline]
    pub fn try_lock_exclusive_until(&self, deadline: Instant) -> bool {
        self.try_lock_exclusive() || self.lock_exclusive_slow(Some(deadline))
    }

    /// [`lock_exclusive`](RawRwSem::lock_exclusive), giving up after
    /// `timeout`.
    #[inline]
    pub fn try_lock_exclusive_for(&self, timeout: Duration) -> bool {
        self.try_lock_exclusive() || self.lock_exclusive_slow(deadline_after(timeout))
    }

    /// Releases an exclusive lock (unfairly, except every 256th contended
    /// time, when it hands the lock to the woken threads).
    ///
    /// # Safety
    /// The caller holds the exclusive acquisition of this lock.
    #[inline]
    pub unsafe fn unlock_exclusive(&self) {
        // Release: pairs with the Acquire of the next acquisition.
        if self
            .state
            .compare_exchange(WRITER_BIT, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_exclusive_slow(false);
        }
    }

    /// Releases an exclusive lock, handing it off to the waiters at the front
    /// of the queue if there are any.
    ///
    /// # Safety
    /// As [`unlock_exclusive`](RawRwSem::unlock_exclusive).
    #[inline]
    pub unsafe fn unlock_exclusive_fair(&self) {
        // Release: pairs with the Acquire of the next acquisition.
        if self
            .state
            .compare_exchange(WRITER_BIT, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_exclusive_slow(true);
        }
    }

    /// Hands the lock to the waiters if there are any, then relocks
    /// exclusively (aborting if that panics).
    ///
    /// # Safety
    /// The caller holds the exclusive acquisition; it holds it again on return.
    #[inline]
    pub unsafe fn bump_exclusive(&self) {
        if self.state.load(Ordering::Relaxed) & PARKED_BIT != 0 {
            self.unlock_exclusive_slow(true);
            abort_on_unwind(|| self.lock_exclusive());
        }
    }

    // ----- upgradable -------------------------------------------------------

    /// Acquires an upgradable read: shared with plain readers, excluding
    /// other upgradable readers and writers; waits behind a pending writer.
    #[inline]
    pub fn lock_upgradable(&self) {
        if !self.try_lock_upgradable_fast() {
            self.lock_upgradable_slow(None);
        }
    }

    /// Acquires an upgradable read if that needs no waiting.
    #[inline]
    pub fn try_lock_upgradable(&self) -> bool {
        self.try_lock_upgradable_fast() || self.try_lock_upgradable_slow()
    }

    /// [`lock_upgradable`](RawRwSem::lock_upgradable), giving up at
    /// `deadline`.
    #[inline]
    pub fn try_lock_upgradable_until(&self, deadline: Instant) -> bool {
        self.try_lock_upgradable_fast() || self.lock_upgradable_slow(Some(deadline))
    }

    /// [`lock_upgradable`](RawRwSem::lock_upgradable), giving up after
    /// `timeout`.
    #[inline]
    pub fn try_lock_upgradable_for(&self, timeout: Duration) -> bool {
        self.try_lock_upgradable_fast() || self.lock_upgradable_slow(deadline_after(timeout))
    }

    /// Releases an upgradable read.
    ///
    /// # Safety
    /// The caller holds the upgradable acquisition of this lock.
    #[inline]
    pub unsafe fn unlock_upgradable(&self) {
        self.unlock_upgradable_inner(false);
    }

    /// Releases an upgradable read, handing the lock off to the waiters at
    /// the front of the queue if there are any.
    ///
    /// # Safety
    /// As [`unlock_upgradable`](RawRwSem::unlock_upgradable).
    #[inline]
    pub unsafe fn unlock_upgradable_fair(&self) {
        self.unlock_upgradable_inner(true);
    }

    /// Hands the lock to the waiters if there are any, then relocks
    /// upgradably (aborting if that panics).
    ///
    /// # Safety
    /// The caller holds the upgradable acquisition; it holds it again on
    /// return.
    #[inline]
    pub unsafe fn bump_upgradable(&self) {
        if self.state.load(Ordering::Relaxed) & PARKED_BIT != 0 {
            self.unlock_upgradable_slow(true);
            abort_on_unwind(|| self.lock_upgradable());
        }
    }

    /// Upgrades the caller's upgradable read to an exclusive lock, waiting
    /// for the other readers to leave (new plain readers wait meanwhile).
    ///
    /// # Safety
    /// The caller holds the upgradable acquisition of this lock; on return it
    /// holds the exclusive one instead.
    #[inline]
    pub unsafe fn upgrade(&self) {
        // Acquire: pairs with the Release of the readers that left.
        let state = self.state.fetch_sub(
            (ONE_READER | UPGRADABLE_BIT) - WRITER_BIT,
            Ordering::Acquire,
        );
        if state & READERS_MASK != ONE_READER {
            let upgraded = self.wait_for_readers(None, ONE_READER | UPGRADABLE_BIT);
            debug_assert!(upgraded);
        }
    }

    /// Upgrades if no other reader is inside.
    ///
    /// # Safety
    /// The caller holds the upgradable acquisition; on `true` it holds the
    /// exclusive one instead, on `false` still the upgradable one.
    #[inline]
    pub unsafe fn try_upgrade(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & READERS_MASK != ONE_READER {
                return false;
            }
            // Acquire: pairs with the Release of the readers that left.
            match self.state.compare_exchange_weak(
                state,
                state - (ONE_READER | UPGRADABLE_BIT) + WRITER_BIT,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(x) => state = x,
            }
        }
    }

    /// [`upgrade`](RawRwSem::upgrade), giving up at `deadline`.
    ///
    /// # Safety
    /// As [`try_upgrade`](RawRwSem::try_upgrade).
    #[inline]
    pub unsafe fn try_upgrade_until(&self, deadline: Instant) -> bool {
        // SAFETY: the caller's upgradable acquisition is forwarded.
        unsafe { self.try_upgrade_timed(Some(deadline)) }
    }

    /// [`upgrade`](RawRwSem::upgrade), giving up after `timeout`.
    ///
    /// # Safety
    /// As [`try_upgrade`](RawRwSem::try_upgrade).
    #[inline]
    pub unsafe fn try_upgrade_for(&self, timeout: Duration) -> bool {
        // SAFETY: the caller's upgradable acquisition is forwarded.
        unsafe { self.try_upgrade_timed(deadline_after(timeout)) }
    }

    // ----- downgrades -------------------------------------------------------

    /// Turns the caller's exclusive lock into a shared one without letting a
    /// writer in between; wakes the readers that can now enter. Never blocks.
    ///
    /// # Safety
    /// The caller holds the exclusive acquisition; on return it holds a
    /// shared one instead.
    #[inline]
    pub unsafe fn downgrade(&self) {
        // Release: pairs with the Acquire of the readers let in.
        let state = self
            .state
            .fetch_add(ONE_READER - WRITER_BIT, Ordering::Release);
        if state & PARKED_BIT != 0 {
            self.wake_after_downgrade(ONE_READER);
        }
    }

    /// Turns the caller's upgradable read into a plain one; wakes a waiting
    /// upgradable reader or writer. Never blocks.
    ///
    /// # Safety
    /// The caller holds the upgradable acquisition; on return it holds a
    /// shared one instead.
    #[inline]
    pub unsafe fn downgrade_upgradable(&self) {
        // Release: pairs with the Acquire of the upgradable reader or writer
        // let in (the caller's reads happen before their acquisition).
        let state = self.state.fetch_sub(UPGRADABLE_BIT, Ordering::Release);
        if state & PARKED_BIT != 0 {
            self.wake_after_downgrade(ONE_READER);
        }
    }

    /// Turns the caller's exclusive lock into an upgradable read; wakes the
    /// readers that can now enter. Never blocks.
    ///
    /// # Safety
    /// The caller holds the exclusive acquisition; on return it holds the
    /// upgradable one instead.
    #[inline]
    pub unsafe fn downgrade_to_upgradable(&self) {
        // Release: pairs with the Acquire of the readers let in.
        let state = self.state.fetch_add(
            (ONE_READER | UPGRADABLE_BIT) - WRITER_BIT,
            Ordering::Release,
        );
        if state & PARKED_BIT != 0 {
            self.wake_after_downgrade(ONE_READER | UPGRADABLE_BIT);
        }
    }

    // ----- queries ----------------------------------------------------------

    /// Whether the lock is held in any mode (a momentary snapshot).
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & (WRITER_BIT | READERS_MASK) != 0
    }

    /// Whether a writer holds the lock (a momentary snapshot).
    #[inline]
    pub fn is_locked_exclusive(&self) -> bool {
        self.state.load(Ordering::Relaxed) & (WRITER_BIT | READERS_MASK) == WRITER_BIT
    }

    /// Whether a writer (or an upgrading reader) has claimed the lock and is
    /// waiting for the readers inside to leave, so new non-recursive readers
    /// are blocked (a momentary snapshot, for tests and diagnostics).
    #[inline]
    pub fn has_pending_writer(&self) -> bool {
        let state = self.state.load(Ordering::Relaxed);
        state & WRITER_BIT != 0 && state & READERS_MASK != 0
    }

    /// Whether some thread is parked (or about to park) on this lock (a
    /// momentary snapshot, for tests and diagnostics).
    #[inline]
    pub fn has_parked_threads(&self) -> bool {
        self.state.load(Ordering::Relaxed) & (PARKED_BIT | WRITER_PARKED_BIT) != 0
    }

    // ----- slow paths -------------------------------------------------------

    /// The main queue's key.
    #[inline(always)]
    fn key(&self) -> usize {
        self as *const RawRwSem as usize
    }

    #[inline(always)]
    fn try_lock_shared_fast(&self, recursive: bool) -> bool {
        let state = self.state.load(Ordering::Relaxed);
        // The common case in one test (one `test` with a sign-extended
        // 32-bit immediate on x86-64): no writer bit, and the count's top
        // half clear, so far from full (a count that high, or full, is left
        // to the test below and the slow path, which reports overflow).
        let fast = state & FAST_READ_MASK == 0;
        let may = fast || (reader_may_enter(state, recursive) && state < READERS_MASK);
        if !may {
            return false;
        }
        let new = state + ONE_READER;
        // Acquire: pairs with the Release of the last writer's unlock/downgrade.
        self.state
            .compare_exchange_weak(state, new, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// One CAS loop: enter as a reader if `reader_may_enter`; `state` is
    /// updated to the last value seen.
    #[inline]
    fn try_enter_shared(&self, state: &mut usize, recursive: bool) -> bool {
        loop {
            if !reader_may_enter(*state, recursive) {
                return false;
            }
            let new = state
                .checked_add(ONE_READER)
                .expect("RawRwSem reader count overflow");
            // Acquire: pairs with the Release of the last writer's unlock/downgrade.
            match self.state.compare_exchange_weak(
                *state,
                new,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(x) => *state = x,
            }
        }
    }

    #[cold]
    fn try_lock_shared_slow(&self, recursive: bool) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        self.try_enter_shared(&mut state, recursive)
    }

    #[cold]
    fn lock_shared_slow(&self, recursive: bool, deadline: Option<Instant>) -> bool {
        self.lock_common(
            deadline,
            TOKEN_SHARED,
            |state| self.try_enter_shared(state, recursive),
            |state| !reader_may_enter(state, recursive),
        )
    }

    #[cold]
    fn unlock_shared_slow(&self) {
        // The count reached zero with a writer parked in the writer queue:
        // wake it (there is at most one thread there).
        let callback = |_: UnparkResult| {
            self.state.fetch_and(!WRITER_PARKED_BIT, Ordering::Relaxed);
            TOKEN_NORMAL
        };
        // SAFETY: the key is this lock's writer queue (an address we own);
        // the callback neither unwinds nor calls into the parking lot.
        unsafe { unpark_one(self.key() + 1, callback) };
    }

    /// # Safety
    /// The caller holds a shared acquisition; it holds one again on return.
    #[cold]
    unsafe fn bump_shared_slow(&self, recursive: bool) {
        // SAFETY: the caller's shared acquisition is released here and
        // re-acquired below.
        unsafe { self.unlock_shared() };
        if recursive {
            abort_on_unwind(|| self.lock_shared_recursive());
        } else {
            abort_on_unwind(|| self.lock_shared());
        }
    }

    #[cold]
    fn lock_exclusive_slow(&self, deadline: Option<Instant>) -> bool {
        let try_lock = |state: &mut usize| loop {
            if *state & (WRITER_BIT | UPGRADABLE_BIT) != 0 {
                return false;
            }
            // Claim WRITER_BIT even past parked threads and present readers.
            // Acquire: pairs with the Release of the previous unlock.
            match self.state.compare_exchange_weak(
                *state,
                *state | WRITER_BIT,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(x) => *state = x,
            }
        };
        if !self.lock_common(deadline, TOKEN_EXCLUSIVE, try_lock, |state| {
            state & (WRITER_BIT | UPGRADABLE_BIT) != 0
        }) {
            return false;
        }
        // We own WRITER_BIT; new plain readers wait. Let the others drain.
        self.wait_for_readers(deadline, 0)
    }

    #[cold]
    fn unlock_exclusive_slow(&self, force_fair: bool) {
        // We still own WRITER_BIT with no readers, so nobody but this
        // callback (run with the main queue locked, serialised with the
        // other queue callbacks) changes the state: plain stores are exact.
        let callback = |new_state: usize, result: UnparkResult| {
            let parked = if result.have_more_threads {
                PARKED_BIT
            } else {
                0
            };
            if result.unparked_threads != 0 && (force_fair || self.fair_due()) {
                // Hand off: the woken threads own their increments already.
                // Release: pairs with the Acquire in `lock_common` on a handoff.
                self.state.store(new_state | parked, Ordering::Release);
                TOKEN_HANDOFF
            } else {
                // Release: pairs with the Acquire of the next acquisition.
                self.state.store(parked, Ordering::Release);
                TOKEN_NORMAL
            }
        };
        // SAFETY: the callback neither unwinds nor calls into the parking lot.
        unsafe { self.wake_parked_threads(0, callback) };
    }

    #[inline(always)]
    fn try_lock_upgradable_fast(&self) -> bool {
        let state = self.state.load(Ordering::Relaxed);
        if state & (WRITER_BIT | UPGRADABLE_BIT) != 0 {
            return false;
        }
        let Some(new) = state.checked_add(ONE_READER | UPGRADABLE_BIT) else {
            return false;
        };
        // Acquire: pairs with the Release of the last writer/upgradable unlock.
        self.state
            .compare_exchange_weak(state, new, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// One CAS loop: enter as the upgradable reader if possible.
    #[inline]
    fn try_enter_upgradable(&self, state: &mut usize) -> bool {
        loop {
            if *state & (WRITER_BIT | UPGRADABLE_BIT) != 0 {
                return false;
            }
            let new = state
                .checked_add(ONE_READER | UPGRADABLE_BIT)
                .expect("RawRwSem reader count overflow");
            // Acquire: pairs with the Release of the last writer/upgradable unlock.
            match self.state.compare_exchange_weak(
                *state,
                new,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(x) => *state = x,
            }
        }
    }

    #[cold]
    fn try_lock_upgradable_slow(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        self.try_enter_upgradable(&mut state)
    }

    #[cold]
    fn lock_upgradable_slow(&self, deadline: Option<Instant>) -> bool {
        self.lock_common(
            deadline,
            TOKEN_UPGRADABLE,
            |state| self.try_enter_upgradable(state),
            |state| state & (WRITER_BIT | UPGRADABLE_BIT) != 0,
        )
    }

    #[inline]
    fn unlock_upgradable_inner(&self, fair: bool) {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & PARKED_BIT == 0 {
            // Release: pairs with the Acquire of the next writer/upgradable.
            match self.state.compare_exchange_weak(
                state,
                state - (ONE_READER | UPGRADABLE_BIT),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(x) => state = x,
            }
        }
        self.unlock_upgradable_slow(fair);
    }

    #[cold]
    fn unlock_upgradable_slow(&self, force_fair: bool) {
        // Other readers may come and go meanwhile: CAS loops.
        let callback = |new_state: usize, result: UnparkResult| {
            let handoff = result.unparked_threads != 0 && (force_fair || self.fair_due());
            let mut state = self.state.load(Ordering::Relaxed);
            loop {
                let base = state - (ONE_READER | UPGRADABLE_BIT);
                // On (absurd) overflow fall back to a normal unlock: the
                // callback must not panic.
                let (next, token) = match base.checked_add(new_state) {
                    Some(s) if handoff => (s, TOKEN_HANDOFF),
                    _ => (base, TOKEN_NORMAL),
                };
                let next = if result.have_more_threads {
                    next | PARKED_BIT
                } else {
                    next & !PARKED_BIT
                };
                // Release: pairs with the Acquire of the next acquisition
                // (or the one in `lock_common` on a handoff).
                match self.state.compare_exchange_weak(
                    state,
                    next,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return token,
                    Err(x) => state = x,
                }
            }
        };
        // SAFETY: the callback neither unwinds nor calls into the parking lot.
        unsafe { self.wake_parked_threads(0, callback) };
    }

    /// # Safety
    /// As [`try_upgrade`](RawRwSem::try_upgrade).
    #[inline]
    unsafe fn try_upgrade_timed(&self, deadline: Option<Instant>) -> bool {
        // Acquire: pairs with the Release of the readers that left.
        let state = self.state.fetch_sub(
            (ONE_READER | UPGRADABLE_BIT) - WRITER_BIT,
            Ordering::Acquire,
        );
        state & READERS_MASK == ONE_READER
            || self.wait_for_readers(deadline, ONE_READER | UPGRADABLE_BIT)
    }

    #[cold]
    fn wake_after_downgrade(&self, held: usize) {
        let callback = |_: usize, result: UnparkResult| {
            if !result.have_more_threads {
                self.state.fetch_and(!PARKED_BIT, Ordering::Relaxed);
            }
            TOKEN_NORMAL
        };
        // SAFETY: the callback neither unwinds nor calls into the parking lot.
        unsafe { self.wake_parked_threads(held, callback) };
    }

    /// Counts a contended unlock; true when this one should be fair. Only
    /// called in main-queue callbacks, which are serialised: Relaxed is
    /// enough.
    #[inline]
    fn fair_due(&self) -> bool {
        let n = self.contended.load(Ordering::Relaxed) + 1;
        if n >= FAIR_EVERY {
            self.contended.store(0, Ordering::Relaxed);
            true
        } else {
            self.contended.store(n, Ordering::Relaxed);
            false
        }
    }

    /// Wakes, in queue order, every reader and at most one upgradable reader
    /// or writer, stopping at a writer. `held` is what the lock is held in
    /// after the unlock (an increment of the state); the callback gets it
    /// plus the woken threads' increments.
    ///
    /// # Safety
    /// `callback` neither unwinds nor calls into the parking lot.
    #[inline]
    unsafe fn wake_parked_threads(
        &self,
        held: usize,
        callback: impl FnOnce(usize, UnparkResult) -> UnparkToken,
    ) {
        let new_state = Cell::new(held);
        let filter = |ParkToken(token)| {
            let s = new_state.get();
            // Threads behind a woken writer stay queued (task fairness).
            if s & WRITER_BIT != 0 {
                return FilterOp::Stop;
            }
            if token & (UPGRADABLE_BIT | WRITER_BIT) != 0 && s & (UPGRADABLE_BIT | WRITER_BIT) != 0
            {
                // Only one upgradable reader or writer at a time.
                FilterOp::Skip
            } else {
                new_state.set(s + token);
                FilterOp::Unpark
            }
        };
        let callback = |result| callback(new_state.get(), result);
        // SAFETY: the key is this lock's main queue (an address we own); the
        // filter neither unwinds nor calls into the parking lot, nor (by the
        // caller's contract) does the callback.
        unsafe { unpark_filter(self.key(), filter, callback) };
    }

    /// With `WRITER_BIT` owned, waits for the readers to leave. On timeout,
    /// gives `WRITER_BIT` back (restoring `prev`, the upgradable read of an
    /// upgrader) and wakes the threads it was blocking.
    fn wait_for_readers(&self, deadline: Option<Instant>, prev: usize) -> bool {
        let mut spinwait = SpinWait::new();
        // Acquire: pairs with the Release in `unlock_shared`.
        let mut state = self.state.load(Ordering::Acquire);
        while state & READERS_MASK != 0 {
            if spinwait.spin() {
                state = self.state.load(Ordering::Acquire);
                continue;
            }
            if state & WRITER_PARKED_BIT == 0 {
                // Acquire (both): pairs with the Release in `unlock_shared`
                // when the value read shows the readers gone.
                if let Err(x) = self.state.compare_exchange_weak(
                    state,
                    state | WRITER_PARKED_BIT,
                    Ordering::Acquire,
                    Ordering::Acquire,
                ) {
                    state = x;
                    continue;
                }
            }
            let validate = || {
                let state = self.state.load(Ordering::Relaxed);
                state & READERS_MASK != 0 && state & WRITER_PARKED_BIT != 0
            };
            let timed_out = |_, _| {
                // We are the only thread in the writer queue.
                self.state.fetch_and(!WRITER_PARKED_BIT, Ordering::Relaxed);
            };
            // SAFETY: the key is this lock's writer queue (an address we
            // own); no callback unwinds or calls into the parking lot.
            let result = unsafe {
                park(
                    self.key() + 1,
                    validate,
                    || {},
                    timed_out,
                    TOKEN_EXCLUSIVE,
                    deadline,
                )
            };
            match result {
                ParkResult::Unparked(_) | ParkResult::Invalid => {
                    // Acquire: pairs with the Release in `unlock_shared`.
                    state = self.state.load(Ordering::Acquire);
                }
                ParkResult::TimedOut => {
                    // Give WRITER_BIT back; readers blocked by it may enter.
                    let state = self
                        .state
                        .fetch_add(prev.wrapping_sub(WRITER_BIT), Ordering::Relaxed);
                    if state & PARKED_BIT != 0 {
                        self.wake_after_downgrade(prev);
                    }
                    return false;
                }
            }
        }
        true
    }

    /// Waits in the main queue until `try_lock` succeeds or the lock is
    /// handed off; false on timeout.
    fn lock_common(
        &self,
        deadline: Option<Instant>,
        token: ParkToken,
        mut try_lock: impl FnMut(&mut usize) -> bool,
        should_park: impl Fn(usize) -> bool,
    ) -> bool {
        let mut spinwait = SpinWait::new();
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if try_lock(&mut state) {
                return true;
            }
            if state & (PARKED_BIT | WRITER_PARKED_BIT) == 0 && spinwait.spin() {
                state = self.state.load(Ordering::Relaxed);
                continue;
            }
            if state & PARKED_BIT == 0 {
                if let Err(x) = self.state.compare_exchange_weak(
                    state,
                    state | PARKED_BIT,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    state = x;
                    continue;
                }
            }
            let validate = || {
                let state = self.state.load(Ordering::Relaxed);
                state & PARKED_BIT != 0 && should_park(state)
            };
            let timed_out = |_, was_last: bool| {
                if was_last {
                    self.state.fetch_and(!PARKED_BIT, Ordering::Relaxed);
                }
            };
            // SAFETY: the key is this lock's main queue (an address we own);
            // no callback unwinds or calls into the parking lot.
            let result = unsafe { park(self.key(), validate, || {}, timed_out, token, deadline) };
            match result {
                ParkResult::Unparked(TOKEN_HANDOFF) => {
                    // Acquire: pairs with the Release store of the handoff.
                    self.state.load(Ordering::Acquire);
                    return true;
                }
                ParkResult::Unparked(_) | ParkResult::Invalid => {}
                ParkResult::TimedOut => {
                    self.after_timeout(token);
                    return false;
                }
            }
            spinwait.reset();
            state = self.state.load(Ordering::Relaxed);
        }
    }

    /// A timed-out writer or upgradable reader may have been the reason a
    /// wake-up stopped short of the threads behind it; if the lock is not
    /// write-held, wake the queue front again (spurious wake-ups just retry).
    #[cold]
    fn after_timeout(&self, token: ParkToken) {
        if token.0 & (WRITER_BIT | UPGRADABLE_BIT) == 0 {
            return;
        }
        let state = self.state.load(Ordering::Relaxed);
        if state & PARKED_BIT != 0 && state & WRITER_BIT == 0 {
            self.wake_after_downgrade(state & UPGRADABLE_BIT);
        }
    }
}

mod traits;
pub use traits::{ExclusiveGuard, SharedGuard, UpgradableGuard};
