//! The read side: the fast path, the slow path behind a writer, and the
//! wake-up of a writer waiting for the reads to drain.

use std::time::Instant;

use kernsync_primitive::atomic::{fence, Ordering};
use kernsync_primitive::{park, unpark_one, ParkResult, ParkToken, UnparkToken};

use super::{count_in, count_out, RawPercpuRwSem, ReadToken, HELD, WAITING};
#[cfg(not(loom))]
use super::{Barrier, FORCED_SLOW};
use crate::slot::Slot;

impl RawPercpuRwSem {
    /// The calling thread's slot when it is not the cached one: found in
    /// the thread's table, or claimed on its first read of this lock; during
    /// thread teardown, a slot for one read alone (`true`).
    #[cfg(not(loom))]
    fn claim_slot(&self) -> (*const Slot, bool) {
        if self.barrier() == Barrier::Fence {
            // Before this thread's first fast path on the lock: it will see
            // the bit (its own write) and always take the slow path.
            let mode = &self.read.0.mode;
            if mode.load(Ordering::Relaxed) & FORCED_SLOW == 0 {
                mode.fetch_or(FORCED_SLOW, Ordering::Relaxed);
            }
        }
        crate::local::claimed(&self.read.0.id, &self.read.0.slots)
    }

    /// `lock_shared` when the cache misses (a first read, a switch between
    /// locks, a read during teardown).
    #[cfg(not(loom))]
    #[cold]
    #[inline(never)]
    pub(super) fn lock_shared_cold(&self) -> ReadToken {
        let (slot, transient) = self.claim_slot();
        let token = self.enter(ReadToken::new(slot));
        if transient {
            // SAFETY: claimed for this read, which now counts in it.
            unsafe { Slot::disown(slot) };
        }
        token
    }

    /// `try_lock_shared` (at once, or until `deadline`) when the cache misses.
    #[cfg(not(loom))]
    #[cold]
    #[inline(never)]
    pub(super) fn try_lock_shared_cold(&self, deadline: Option<Instant>) -> Option<ReadToken> {
        let (slot, transient) = self.claim_slot();
        let token = ReadToken::new(slot);
        let got = match deadline {
            None => self.try_enter(token),
            Some(d) => self.enter_until(token, d),
        };
        if transient {
            // SAFETY: claimed for this read: counting it (disowned until the
            // count is back to zero), or failed with the count out (given
            // back).
            unsafe {
                if got.is_some() {
                    Slot::disown(slot)
                } else {
                    Slot::release(slot)
                }
            }
        }
        got
    }

    /// Whether the calling thread holds a read of this lock (a lookup in its
    /// slot table, or during its teardown in the lock's slots; nothing is
    /// claimed).
    #[cfg(not(loom))]
    pub fn is_read_held_by_current_thread(&self) -> bool {
        crate::local::my_count(&self.read.0.id, &self.read.0.slots) != 0
    }

    /// Counts a read in through `token`'s slot: the whole fast path when no
    /// writer is about.
    #[inline(always)]
    pub(super) fn enter(&self, token: ReadToken) -> ReadToken {
        count_in(token.slot());
        self.light();
        // Acquire: pairs with the Release of the last writer's `leave`, so a
        // reader that sees the fast path again sees what the writer wrote.
        if self.read.0.mode.load(Ordering::Acquire) == 0 {
            token
        } else {
            self.enter_slow(token)
        }
    }

    /// The slow path: in unless a writer holds the lock or drains it; then
    /// backs out and parks until the writer leaves.
    #[cold]
    #[inline(never)]
    pub(super) fn enter_slow(&self, token: ReadToken) -> ReadToken {
        self.enter_slow_until(token, None)
            .expect("an untimed read does not time out")
    }

    /// The slow path with a deadline; `None` on timeout, with the count out
    /// again.
    pub(super) fn enter_slow_until(
        &self,
        token: ReadToken,
        deadline: Option<Instant>,
    ) -> Option<ReadToken> {
        let slot = token.slot();
        loop {
            // Dekker with `write_until`: our count store (made by the caller
            // or below) before our `block` load; its `block` store before its
            // count loads. One of us sees the other.
            fence(Ordering::SeqCst);
            // Acquire: pairs with the Release of `release_readers`.
            if self.write.0.block.load(Ordering::Acquire) & HELD == 0 {
                return Some(token);
            }
            self.back_out(slot);
            let validate = || self.write.0.block.load(Ordering::Relaxed) & HELD != 0;
            // SAFETY: the key is an address inside this lock, used only for
            // its readers' queue; the callbacks neither panic nor touch the
            // parking lot. The park token carries our slot's address, which
            // stays valid while we are parked (our slot, our lock).
            let parked = unsafe {
                park(
                    self.readers_key(),
                    validate,
                    || {},
                    |_, _| {},
                    ParkToken(slot as *const Slot as usize),
                    deadline,
                )
            };
            match parked {
                // The leaving writer counted us in (`release_readers`).
                ParkResult::Unparked(_) => return Some(token),
                ParkResult::TimedOut => return None,
                // The writer left before we queued: count in again.
                ParkResult::Invalid => count_in(slot),
            }
        }
    }

    /// Takes back a count the writer may already have seen, and wakes the
    /// writer if it is parked waiting for counts to drop.
    pub(super) fn back_out(&self, slot: &Slot) {
        count_out(slot);
        self.wake_writer_after_count_out();
    }

    /// After a count went down while a writer may be about: fence, then wake
    /// the writer if it parked.
    pub(super) fn wake_writer_after_count_out(&self) {
        // Dekker with `drain`'s validate: our count store before our
        // `WAITING` load; its `WAITING` store before its count loads.
        fence(Ordering::SeqCst);
        if self.write.0.block.load(Ordering::Relaxed) & WAITING != 0 {
            // SAFETY: the writer's key, an address inside this lock; the
            // callback only clears a bit.
            unsafe {
                unpark_one(self.writer_key(), |r| {
                    // Only if we woke the writer: with nobody queued the bit
                    // we saw was stale (a parked writer is always queued),
                    // and a needless store to `block` is a shared write.
                    if r.unparked_threads != 0 {
                        self.write.0.block.fetch_and(!WAITING, Ordering::Relaxed);
                    }
                    UnparkToken(0)
                })
            };
        }
    }

    /// The read half of `lock_shared`, through `token`'s slot.
    #[inline(always)]
    pub(super) fn try_enter(&self, token: ReadToken) -> Option<ReadToken> {
        count_in(token.slot());
        self.light();
        // Acquire: as in `enter`.
        if self.read.0.mode.load(Ordering::Acquire) == 0 {
            Some(token)
        } else {
            self.try_enter_slow(token)
        }
    }

    #[cold]
    #[inline(never)]
    pub(super) fn try_enter_slow(&self, token: ReadToken) -> Option<ReadToken> {
        // Dekker with `write_until`, as in `enter_slow_until`.
        fence(Ordering::SeqCst);
        // Acquire: pairs with the Release of `release_readers`.
        if self.write.0.block.load(Ordering::Acquire) & HELD == 0 {
            return Some(token);
        }
        self.back_out(token.slot());
        None
    }

    /// The read half with a deadline.
    pub(super) fn enter_until(&self, token: ReadToken, deadline: Instant) -> Option<ReadToken> {
        count_in(token.slot());
        self.light();
        // Acquire: as in `enter`.
        if self.read.0.mode.load(Ordering::Acquire) == 0 {
            return Some(token);
        }
        self.enter_slow_until(token, Some(deadline))
    }

    /// Releases a read.
    ///
    /// # Safety
    /// `token` is the state of a read acquisition of this lock, made on
    /// the calling thread.
    #[inline(always)]
    pub(super) unsafe fn exit(&self, token: ReadToken) {
        count_out(token.slot());
        self.light();
        // A writer is about: fence and maybe wake it. Seeing `mode` zero
        // here, after the count store, means the writer's heavy barrier will
        // make our store visible to its sum.
        if self.read.0.mode.load(Ordering::Relaxed) != 0 {
            self.exit_slow();
        }
    }

    #[cold]
    #[inline(never)]
    pub(super) fn exit_slow(&self) {
        self.wake_writer_after_count_out();
    }
}
