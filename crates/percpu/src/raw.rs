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

use kernsync_primitive::atomic::{AtomicUsize, Ordering};
use kernsync_primitive::UnparkToken;
use kernsync_rwsem::RawMutex;

use crate::barrier::{self, Barrier};
use crate::slot::{Slot, SlotList};

mod read;
mod write;

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
    slot: *const Slot,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a token is only read by the unlock that consumes it; `&ReadToken`
// gives access to nothing, so sharing one (a `&guard`) is harmless.
unsafe impl Sync for ReadToken {}

impl ReadToken {
    #[inline(always)]
    fn new(slot: *const Slot) -> ReadToken {
        ReadToken {
            slot,
            _not_send: PhantomData,
        }
    }

    #[inline(always)]
    fn slot(&self) -> &Slot {
        // SAFETY: a token's slot is its thread's (in its table, or claimed
        // for this read during teardown and kept counted by it) and lives at
        // least as long as the lock, which outlives its guards.
        unsafe { &*self.slot }
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
            slot: self.read.0.slots.claim(crate::local::thread_id()),
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
        match crate::local::cached(&self.read.0.id) {
            Some(slot) => self.enter(ReadToken::new(slot)),
            None => self.lock_shared_cold(),
        }
    }

    #[inline]
    fn try_lock_shared(&self) -> Option<ReadToken> {
        match crate::local::cached(&self.read.0.id) {
            Some(slot) => self.try_enter(ReadToken::new(slot)),
            None => self.try_lock_shared_cold(None),
        }
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
        match crate::local::cached(&self.read.0.id) {
            Some(slot) => self.enter_until(ReadToken::new(slot), deadline),
            None => self.try_lock_shared_cold(Some(deadline)),
        }
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
