//! `RawPercpuRwSem`: the state machine.
//!
//! Readers count themselves in their own slot and then look at `mode`; while
//! no writer is about, that is all (the fast path). A writer raises `mode`
//! (so readers take the slow path), makes sure every reader sees that (the
//! heavy barrier, once per run of back-to-back writers), sets `HELD` in
//! `block` and waits for the slots' sum to drain to zero. On the slow path a
//! reader fences and checks `block`: clear, it is in; set, it backs out and
//! parks until the writer leaves, which counts every parked reader in on its
//! behalf (a handoff: none of them can be overtaken by the next writer).
//!
//! Both sides order "my store, then your word" with a full fence (Dekker):
//! a reader's count store and `mode` load against a writer's `mode` store and
//! count loads (the fast path: compiler fence + membarrier, or the slow path
//! everywhere when there is none), a reader's count store and `block` load
//! against a writer's `block` store and count loads (the slow path), and a
//! reader's count store and `WAITING` load against a parked writer's
//! `WAITING` store and count loads (wake-up).

use core::fmt;
use core::marker::PhantomData;
#[cfg(not(loom))]
use std::time::Duration;
use std::time::Instant;

use kernsync_rwsem::sync::atomic::{fence, AtomicUsize, Ordering};
use kernsync_rwsem::sync::{
    park, unpark_filter, unpark_one, FilterOp, ParkResult, ParkToken, SpinWait, UnparkToken,
};
use kernsync_rwsem::RawMutex;

use crate::barrier::{self, Barrier};
use crate::slot::{Slot, SlotList};

// The `mode` word, which every reader loads after counting itself in.
/// Readers always take the slow path: the process has no membarrier
/// ([`Barrier::Fence`]), so the fast path's compiler fence orders nothing.
const FORCED_SLOW: usize = 1;
/// A writer has run the heavy barrier since `mode` was last zero: every
/// reader sees a non-zero `mode`, and a writer that follows need not run it.
const SWITCHED: usize = 2;
/// One writer inside `write` (waiting for the writer mutex, draining, or
/// holding); while any is, readers take the slow path.
const ONE_WRITER: usize = 4;

// The `block` word, which readers on the slow path check.
/// A writer holds the lock or is waiting for the readers to drain: readers
/// back out and park.
const HELD: usize = 1;
/// That writer is parked: a reader whose count drops wakes it to re-count.
const WAITING: usize = 2;

/// Unpark token of a reader the leaving writer counted in.
const GRANTED: UnparkToken = UnparkToken(1);
/// Low bit of a read token: a slot claimed for this read alone (a read during
/// thread teardown, after the thread's slot table is gone), given back by
/// the unlock. Slots are 128-byte aligned, so the bit is free.
const TRANSIENT: usize = 1;

/// A 128-byte aligned part of the lock, so readers' and writers' words do
/// not share a line.
#[repr(align(128))]
struct Line<T>(T);

/// What every reader's fast path reads (and writers rarely write).
struct ReadSide {
    /// Process-unique id naming the lock in threads' slot tables (0 until the
    /// first read); addresses are reused, ids are not.
    #[cfg(not(loom))]
    id: std::sync::atomic::AtomicU64,
    /// `FORCED_SLOW | SWITCHED | writers * ONE_WRITER`: zero is the fast path.
    mode: AtomicUsize,
    /// The readers' slots.
    slots: SlotList,
    /// Under loom each lock chooses its protocol (both are modelled).
    #[cfg(loom)]
    barrier: Barrier,
}

/// What writers and slow-path readers use.
struct WriteSide {
    /// `HELD | WAITING`. Its address keys the parked readers' queue; the
    /// address one above it keys the parked writer's.
    block: AtomicUsize,
    /// Serialises writers.
    writers: RawMutex,
}

/// The raw hotplug-style read-mostly lock under
/// [`PercpuRwSem`](crate::PercpuRwSem), implementing lock_api 0.5's
/// `RawRwLock` and `RawRwLockTimed` (so `lock_api::RwLock<RawPercpuRwSem, T>`
/// works for those who only want the lock).
///
/// 256 bytes (a readers' line and a writers' line), plus one 128-byte slot
/// per thread alive that has read it.
pub struct RawPercpuRwSem {
    read: Line<ReadSide>,
    write: Line<WriteSide>,
}

/// The state of one read acquisition: the slot it is counted in. `!Send`: a
/// slot belongs to its thread.
pub struct ReadToken {
    bits: usize,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a token is only read by the unlock that consumes it; `&ReadToken`
// gives access to nothing, so sharing one (a `&guard`) is harmless.
unsafe impl Sync for ReadToken {}

impl ReadToken {
    #[inline(always)]
    fn new(slot: *const Slot) -> ReadToken {
        ReadToken {
            bits: slot as usize,
            _not_send: PhantomData,
        }
    }

    #[inline(always)]
    fn slot_ptr(&self) -> *const Slot {
        (self.bits & !TRANSIENT) as *const Slot
    }

    #[inline(always)]
    fn slot(&self) -> &Slot {
        // SAFETY: a token's slot is owned by the thread holding the token
        // (its table's, or claimed for this read alone) and lives at least
        // as long as the lock, which outlives its guards.
        unsafe { &*self.slot_ptr() }
    }

    #[inline(always)]
    fn transient(&self) -> usize {
        self.bits & TRANSIENT
    }
}

impl fmt::Debug for ReadToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadToken").finish_non_exhaustive()
    }
}

/// The state of a write acquisition (nothing: there is one writer). `!Send`,
/// like every guard of an order-checked lock.
#[derive(Debug)]
pub struct WriteToken {
    _not_send: PhantomData<*const ()>,
}

// SAFETY: empty; sharing `&WriteToken` shares nothing.
unsafe impl Sync for WriteToken {}

impl WriteToken {
    #[inline(always)]
    fn new() -> WriteToken {
        WriteToken {
            _not_send: PhantomData,
        }
    }
}

/// Counts a read in the caller's own slot: a plain load and store, since
/// only the slot's thread writes it while it runs.
#[inline(always)]
fn count_in(slot: &Slot) {
    let c = slot.count.load(Ordering::Relaxed);
    slot.count.store(c + 1, Ordering::Relaxed);
}

/// Counts a read out; Release, so the read-side critical section happens
/// before the writer that sees the lower count (its Acquire sum).
#[inline(always)]
fn count_out(slot: &Slot) {
    let c = slot.count.load(Ordering::Relaxed);
    slot.count.store(c - 1, Ordering::Release);
}

impl RawPercpuRwSem {
    /// An unlocked lock (no slots yet: each reader thread makes its own on
    /// its first read).
    #[cfg(not(loom))]
    pub const fn new() -> RawPercpuRwSem {
        RawPercpuRwSem {
            read: Line(ReadSide {
                id: std::sync::atomic::AtomicU64::new(0),
                mode: AtomicUsize::new(0),
                slots: SlotList::new(),
            }),
            write: Line(WriteSide {
                block: AtomicUsize::new(0),
                writers: RawMutex::new(),
            }),
        }
    }

    /// An unlocked lock using `barrier`'s protocol (loom models both).
    #[cfg(loom)]
    pub fn with_barrier(barrier: Barrier) -> RawPercpuRwSem {
        let forced = if barrier == Barrier::Fence {
            FORCED_SLOW
        } else {
            0
        };
        RawPercpuRwSem {
            read: Line(ReadSide {
                mode: AtomicUsize::new(forced),
                slots: SlotList::new(),
                barrier,
            }),
            write: Line(WriteSide {
                block: AtomicUsize::new(0),
                writers: RawMutex::new(),
            }),
        }
    }

    #[cfg(not(loom))]
    #[inline]
    fn barrier(&self) -> Barrier {
        barrier::barrier()
    }

    #[cfg(loom)]
    #[inline]
    fn barrier(&self) -> Barrier {
        self.read.0.barrier
    }

    /// The reader's half of the asymmetric fence (see [`barrier::light`]).
    /// Under loom it is the SeqCst fence it stands for on the membarrier
    /// protocol and nothing on the fallback, as in a build (where the slow
    /// path's own fence orders the fallback's readers).
    #[inline(always)]
    fn light(&self) {
        #[cfg(not(loom))]
        barrier::light();
        #[cfg(loom)]
        if self.read.0.barrier == Barrier::Membarrier {
            barrier::light();
        }
    }

    /// Key of the parked readers' queue: an address inside this lock.
    #[inline]
    fn readers_key(&self) -> usize {
        &self.write.0.block as *const AtomicUsize as usize
    }

    /// Key of the parked writer: the next address (inside `block` too, and
    /// apart from the writer mutex's own key).
    #[inline]
    fn writer_key(&self) -> usize {
        self.readers_key() + 1
    }

    // ---- the read side -------------------------------------------------

    /// The calling thread's slot: one thread-local load and a compare, unless
    /// this is not the lock it read last.
    #[cfg(not(loom))]
    #[inline(always)]
    fn my_slot(&self) -> ReadToken {
        match crate::local::cached(&self.read.0.id) {
            Some(slot) => ReadToken::new(slot),
            None => self.my_slot_slow(),
        }
    }

    /// The thread's first read of this lock (claims a slot), or a switch
    /// between locks (finds it in the thread's table).
    #[cfg(not(loom))]
    #[cold]
    #[inline(never)]
    fn my_slot_slow(&self) -> ReadToken {
        if self.barrier() == Barrier::Fence {
            // Before this thread's first fast path on the lock: it will see
            // the bit (its own write) and always take the slow path.
            let mode = &self.read.0.mode;
            if mode.load(Ordering::Relaxed) & FORCED_SLOW == 0 {
                mode.fetch_or(FORCED_SLOW, Ordering::Relaxed);
            }
        }
        let (slot, transient) = crate::local::claimed(&self.read.0.id, &self.read.0.slots);
        ReadToken {
            bits: slot as usize | if transient { TRANSIENT } else { 0 },
            _not_send: PhantomData,
        }
    }

    /// Whether the calling thread holds a read of this lock (a lookup in its
    /// slot table; nothing is claimed).
    #[cfg(not(loom))]
    pub fn is_read_held_by_current_thread(&self) -> bool {
        crate::local::my_count(&self.read.0.id) != 0
    }

    /// Counts a read in through `token`'s slot: the whole fast path when no
    /// writer is about.
    #[inline(always)]
    fn enter(&self, token: ReadToken) -> ReadToken {
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
    fn enter_slow(&self, token: ReadToken) -> ReadToken {
        match self.enter_slow_until(token, None) {
            Ok(token) => token,
            Err(_) => unreachable!("an untimed read does not time out"),
        }
    }

    /// The slow path with a deadline; on timeout, the token is handed back
    /// (its count out again) for the caller to give up.
    fn enter_slow_until(
        &self,
        token: ReadToken,
        deadline: Option<Instant>,
    ) -> Result<ReadToken, ReadToken> {
        let slot = token.slot();
        loop {
            // Dekker with `write_until`: our count store (made by the caller
            // or below) before our `block` load; its `block` store before its
            // count loads. One of us sees the other.
            fence(Ordering::SeqCst);
            // Acquire: pairs with the Release of `release_readers`.
            if self.write.0.block.load(Ordering::Acquire) & HELD == 0 {
                return Ok(token);
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
                ParkResult::Unparked(_) => return Ok(token),
                ParkResult::TimedOut => return Err(token),
                // The writer left before we queued: count in again.
                ParkResult::Invalid => count_in(slot),
            }
        }
    }

    /// Takes back a count the writer may already have seen, and wakes the
    /// writer if it is parked waiting for counts to drop.
    fn back_out(&self, slot: &Slot) {
        count_out(slot);
        self.wake_writer_after_count_out();
    }

    /// After a count went down while a writer may be about: fence, then wake
    /// the writer if it parked.
    fn wake_writer_after_count_out(&self) {
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

    /// A read acquisition failed (`try`, timeout): gives back a transient
    /// slot. The count is already out.
    fn give_up(&self, token: ReadToken) {
        if token.transient() != 0 {
            // SAFETY: claimed for this read alone, count zero, not used again.
            unsafe { Slot::release(token.slot_ptr()) };
        }
    }

    /// The read half of `lock_shared`, through `token`'s slot.
    #[inline(always)]
    fn try_enter(&self, token: ReadToken) -> Option<ReadToken> {
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
    fn try_enter_slow(&self, token: ReadToken) -> Option<ReadToken> {
        // Dekker with `write_until`, as in `enter_slow_until`.
        fence(Ordering::SeqCst);
        // Acquire: pairs with the Release of `release_readers`.
        if self.write.0.block.load(Ordering::Acquire) & HELD == 0 {
            return Some(token);
        }
        self.back_out(token.slot());
        self.give_up(token);
        None
    }

    /// The read half with a deadline.
    fn enter_until(&self, token: ReadToken, deadline: Instant) -> Option<ReadToken> {
        count_in(token.slot());
        self.light();
        // Acquire: as in `enter`.
        if self.read.0.mode.load(Ordering::Acquire) == 0 {
            return Some(token);
        }
        match self.enter_slow_until(token, Some(deadline)) {
            Ok(token) => Some(token),
            Err(token) => {
                self.give_up(token);
                None
            }
        }
    }

    /// Releases a read.
    ///
    /// # Safety
    /// `token` is the state of a read acquisition of this lock, made on
    /// the calling thread.
    #[inline(always)]
    unsafe fn exit(&self, token: ReadToken) {
        count_out(token.slot());
        self.light();
        // A writer is about (or the slot was transient): fence and maybe
        // wake it. Seeing `mode` zero here, after the count store, means the
        // writer's heavy barrier will make our store visible to its sum.
        if self.read.0.mode.load(Ordering::Relaxed) | token.transient() != 0 {
            self.exit_slow(token);
        }
    }

    #[cold]
    #[inline(never)]
    fn exit_slow(&self, token: ReadToken) {
        self.wake_writer_after_count_out();
        self.give_up(token);
    }

    // ---- the write side ------------------------------------------------

    /// Takes the write side, waiting at most until `deadline`.
    fn write_until(&self, deadline: Option<Instant>) -> bool {
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
    fn writer_enter(&self) {
        self.read.0.mode.fetch_add(ONE_WRITER, Ordering::Relaxed);
    }

    /// Counts a writer out of `mode`. The last one out clears `SWITCHED`
    /// in the same atomic step, so the next writer runs the heavy barrier
    /// again; writers that overlapped (queued for the writer mutex) keep the
    /// readers on the slow path and pay the barrier once (rcu_sync's rule).
    fn writer_leave(&self) {
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
    fn block_readers(&self) {
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
    fn drain(&self, deadline: Option<Instant>) -> bool {
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
    fn release_readers(&self) {
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
    fn write_abort(&self) {
        self.release_readers();
        self.writer_leave();
        // SAFETY: we hold the writer mutex (taken in `write_until`).
        unsafe { self.write.0.writers.unlock() };
    }

    /// How many reader slots the lock has: one per thread alive that has read
    /// it, at most, plus free ones left by threads that exited (reused by the
    /// next reader threads).
    pub fn reader_slots(&self) -> usize {
        self.read.0.slots.len()
    }

    /// The reads counted now, over all threads (a momentary snapshot).
    pub fn readers(&self) -> usize {
        self.read.0.slots.readers()
    }
}

// The loom models drive the state machine with explicit slots: there are no
// thread-locals under loom, and a model's "thread exit" is `Reader::exit`.
#[cfg(loom)]
impl RawPercpuRwSem {
    /// A slot for the calling model thread (reused if one is free).
    pub fn reader(&self) -> Reader {
        Reader {
            slot: self.read.0.slots.claim(),
        }
    }

    /// A blocking read through `r`'s slot.
    pub fn lock_shared_in(&self, r: &Reader) -> ReadToken {
        self.enter(ReadToken::new(r.slot))
    }

    /// An immediate read attempt through `r`'s slot.
    pub fn try_lock_shared_in(&self, r: &Reader) -> Option<ReadToken> {
        self.try_enter(ReadToken::new(r.slot))
    }

    /// A timed read through `r`'s slot.
    pub fn try_lock_shared_in_until(&self, r: &Reader, deadline: Instant) -> Option<ReadToken> {
        self.enter_until(ReadToken::new(r.slot), deadline)
    }

    /// Releases a read.
    ///
    /// # Safety
    /// `token` is a read of this lock, made through a `Reader` of the caller.
    pub unsafe fn unlock_shared(&self, token: ReadToken) {
        // SAFETY: the caller's contract.
        unsafe { self.exit(token) }
    }

    /// A blocking write.
    pub fn lock_exclusive(&self) -> WriteToken {
        self.write_until(None);
        WriteToken::new()
    }

    /// An immediate write attempt.
    pub fn try_lock_exclusive(&self) -> Option<WriteToken> {
        self.try_write().then(WriteToken::new)
    }

    /// A timed write.
    pub fn try_lock_exclusive_until(&self, deadline: Instant) -> Option<WriteToken> {
        self.write_until(Some(deadline)).then(WriteToken::new)
    }

    /// Releases a write.
    ///
    /// # Safety
    /// The caller holds the write side.
    pub unsafe fn unlock_exclusive(&self, _token: WriteToken) {
        // SAFETY: the caller's contract.
        unsafe { self.write_exit() }
    }
}

/// A model thread's slot (loom only): what a thread's slot table holds.
#[cfg(loom)]
pub struct Reader {
    slot: *const Slot,
}

#[cfg(loom)]
impl Reader {
    /// The thread exits: its slot is given back (abandoned if it still
    /// counts a read).
    pub fn exit(self) {
        // SAFETY: claimed by `reader`, owned by this model thread.
        unsafe { Slot::give_back(self.slot) };
    }
}

impl RawPercpuRwSem {
    /// An immediate write attempt.
    fn try_write(&self) -> bool {
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
    unsafe fn write_exit(&self) {
        self.release_readers();
        self.writer_leave();
        // SAFETY: the caller holds the write side, so we hold the mutex.
        unsafe { self.write.0.writers.unlock() };
    }
}

#[cfg(not(loom))]
impl Default for RawPercpuRwSem {
    fn default() -> RawPercpuRwSem {
        RawPercpuRwSem::new()
    }
}

impl fmt::Debug for RawPercpuRwSem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawPercpuRwSem")
            .field("readers", &self.readers())
            .field(
                "writer",
                &(self.write.0.block.load(Ordering::Relaxed) & HELD != 0),
            )
            .field("reader_slots", &self.reader_slots())
            .finish()
    }
}

// SAFETY: readers are counted in before `lock_shared` returns and a writer
// only returns from `lock_exclusive` once the counts drained to zero with
// `HELD` set (the Dekker arguments above make sure no reader is missed);
// writers exclude each other through the writer mutex. A token names the
// slot its read is counted in, so `unlock_shared` takes back exactly that
// read; neither lock nor unlock can unwind (they run no user code and make
// no reports; allocation failure aborts).
#[cfg(not(loom))]
unsafe impl lock_api::RawRwLock for RawPercpuRwSem {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawPercpuRwSem = RawPercpuRwSem::new();
    type SharedGuard = ReadToken;
    type ExclusiveGuard = WriteToken;

    #[inline]
    fn lock_shared(&self) -> ReadToken {
        self.enter(self.my_slot())
    }

    #[inline]
    fn try_lock_shared(&self) -> Option<ReadToken> {
        self.try_enter(self.my_slot())
    }

    #[inline]
    unsafe fn unlock_shared(&self, token: ReadToken) {
        // SAFETY: lock_api passes the token of a read of ours, made on this
        // thread (guards are `!Send`).
        unsafe { self.exit(token) }
    }

    #[inline]
    fn lock_exclusive(&self) -> WriteToken {
        self.write_until(None);
        WriteToken::new()
    }

    #[inline]
    fn try_lock_exclusive(&self) -> Option<WriteToken> {
        self.try_write().then(WriteToken::new)
    }

    #[inline]
    unsafe fn unlock_exclusive(&self, _token: WriteToken) {
        // SAFETY: lock_api passes the token of our write: we hold it.
        unsafe { self.write_exit() }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.write.0.block.load(Ordering::Relaxed) & HELD != 0 || self.readers() != 0
    }

    #[inline]
    fn is_locked_exclusive(&self) -> bool {
        self.write.0.block.load(Ordering::Relaxed) & HELD != 0
    }
}

// SAFETY: as for `RawRwLock`; a timed acquisition that gives up has taken
// its count back (reads) or released the writer mutex and let the parked
// readers in (writes).
#[cfg(not(loom))]
unsafe impl lock_api::RawRwLockTimed for RawPercpuRwSem {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_shared_for(&self, timeout: Duration) -> Option<ReadToken> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.try_lock_shared_until(deadline),
            // Past the end of time: no deadline.
            None => Some(lock_api::RawRwLock::lock_shared(self)),
        }
    }

    #[inline]
    fn try_lock_shared_until(&self, deadline: Instant) -> Option<ReadToken> {
        self.enter_until(self.my_slot(), deadline)
    }

    #[inline]
    fn try_lock_exclusive_for(&self, timeout: Duration) -> Option<WriteToken> {
        let deadline = Instant::now().checked_add(timeout);
        self.write_until(deadline).then(WriteToken::new)
    }

    #[inline]
    fn try_lock_exclusive_until(&self, deadline: Instant) -> Option<WriteToken> {
        self.write_until(Some(deadline)).then(WriteToken::new)
    }
}
