//! The write side: writers enter `mode`, switch readers to the slow path,
//! block them, drain the reads, and on leaving count the parked readers in.

use std::time::Instant;

use kernsync_primitive::atomic::{fence, Ordering};
use kernsync_primitive::{park, unpark_filter, FilterOp, ParkResult, ParkToken, SpinWait};

use super::{RawPercpuRwSem, FORCED_SLOW, GRANTED, HELD, ONE_WRITER, SWITCHED, WAITING};
use crate::barrier;
use crate::slot::Slot;

impl RawPercpuRwSem {
    /// Takes the write side, waiting at most until `deadline`.
    pub(super) fn write_until(&self, deadline: Option<Instant>) -> bool {
        self.writer_enter();
        let got = match deadline {
            None => {
                self.write.0.writers.lock();
                true
            }
            Some(d) => self.write.0.writers.try_lock_until(d),
        };
        if !got {
            self.writer_leave();
            return false;
        }
        self.block_readers();
        if self.drain(deadline) {
            return true;
        }
        self.write_abort();
        false
    }

    /// Counts a writer in `mode`: from now on readers take the slow path
    /// (once they see it; the heavy barrier makes sure they do).
    pub(super) fn writer_enter(&self) {
        self.read.0.mode.fetch_add(ONE_WRITER, Ordering::Relaxed);
    }

    /// Counts a writer out of `mode`. The last one out clears `SWITCHED`
    /// in the same atomic step, so the next writer runs the heavy barrier
    /// again; writers that overlapped (queued for the writer mutex) keep the
    /// readers on the slow path and pay the barrier once (rcu_sync's rule).
    pub(super) fn writer_leave(&self) {
        let mode = &self.read.0.mode;
        let mut m = mode.load(Ordering::Relaxed);
        loop {
            let mut next = m - ONE_WRITER;
            if next & !(FORCED_SLOW | SWITCHED) == 0 {
                next &= FORCED_SLOW;
            }
            // Release: pairs with the Acquire of the readers' `mode` load,
            // so a reader back on the fast path sees the writer's writes.
            match mode.compare_exchange_weak(m, next, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => m = now,
            }
        }
    }

    /// With the writer mutex held: switches readers to the slow path (the
    /// heavy barrier, unless a writer before us did and `mode` has not been
    /// zero since), then sets `HELD`.
    pub(super) fn block_readers(&self) {
        let mode = &self.read.0.mode;
        // `SWITCHED` is only set by a holder of the writer mutex (we hold
        // it) and cleared in the same step that takes `mode` to zero.
        if mode.load(Ordering::Relaxed) & SWITCHED == 0 {
            barrier::heavy(self.barrier());
            mode.fetch_or(SWITCHED, Ordering::Relaxed);
        }
        self.write.0.block.store(HELD, Ordering::Relaxed);
        // Dekker with the readers' slow path: our `block` store before our
        // count loads (in `drain`), their count store before their `block`
        // load.
        fence(Ordering::SeqCst);
    }

    /// Waits until no read is counted, spinning a little, then parking.
    pub(super) fn drain(&self, deadline: Option<Instant>) -> bool {
        let slots = &self.read.0.slots;
        let block = &self.write.0.block;
        let mut spin = SpinWait::new();
        loop {
            if slots.readers() == 0 {
                return true;
            }
            if spin.spin() {
                continue;
            }
            let validate = || {
                block.fetch_or(WAITING, Ordering::Relaxed);
                // Dekker with `wake_writer_after_count_out`: our `WAITING`
                // store before our count loads.
                fence(Ordering::SeqCst);
                if slots.readers() == 0 {
                    block.fetch_and(!WAITING, Ordering::Relaxed);
                    return false;
                }
                true
            };
            let timed_out = |_, _| {
                block.fetch_and(!WAITING, Ordering::Relaxed);
            };
            // SAFETY: the writer's key, an address inside this lock used for
            // nothing else; the callbacks only change bits.
            let parked = unsafe {
                park(
                    self.writer_key(),
                    validate,
                    || {},
                    timed_out,
                    ParkToken(0),
                    deadline,
                )
            };
            if let ParkResult::TimedOut = parked {
                return slots.readers() == 0;
            }
        }
    }

    /// Clears `HELD`, counting every parked reader in on its behalf first
    /// (they wake holding the read, so the next writer cannot overtake them).
    pub(super) fn release_readers(&self) {
        let grant = |ParkToken(slot): ParkToken| {
            // SAFETY: a parked reader's token is its slot's address; the slot
            // lives while its thread is parked, and the thread, parked, does
            // not write its count.
            unsafe { &*(slot as *const Slot) }
                .count
                .fetch_add(1, Ordering::Relaxed);
            FilterOp::Unpark
        };
        let clear = |_| {
            // Release: pairs with the Acquire of the readers' slow path. Done
            // under the queue's lock, so no reader can check `HELD` and
            // queue after we looked at the queue.
            self.write.0.block.store(0, Ordering::Release);
            GRANTED
        };
        // SAFETY: the readers' key, an address inside this lock; the
        // callbacks neither panic nor touch the parking lot.
        unsafe { unpark_filter(self.readers_key(), grant, clear) };
    }

    /// Gives up a write that did not drain in time (or at once).
    pub(super) fn write_abort(&self) {
        self.release_readers();
        self.writer_leave();
        // SAFETY: we hold the writer mutex (taken in `write_until`).
        unsafe { self.write.0.writers.unlock() };
    }

    /// An immediate write attempt.
    pub(super) fn try_write(&self) -> bool {
        // Cheap refusals first: a try that will fail need not switch the
        // readers to the slow path.
        if self.write.0.block.load(Ordering::Relaxed) != 0 || self.read.0.slots.readers() != 0 {
            return false;
        }
        self.writer_enter();
        if !self.write.0.writers.try_lock() {
            self.writer_leave();
            return false;
        }
        self.block_readers();
        if self.read.0.slots.readers() == 0 {
            return true;
        }
        self.write_abort();
        false
    }

    /// Releases the write side.
    ///
    /// # Safety
    /// The caller holds it.
    pub(super) unsafe fn write_exit(&self) {
        self.release_readers();
        self.writer_leave();
        // SAFETY: the caller holds the write side, so we hold the mutex.
        unsafe { self.write.0.writers.unlock() };
    }
}
