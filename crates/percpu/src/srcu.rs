//! `Srcu`: read sections that never block, and a writer's wait for the
//! sections in flight (Linux's sleepable RCU, on the same per-thread slots).
//!
//! A slot's word is `seq << SEQ_SHIFT | nesting`. Entering the outermost
//! section bumps `seq` and sets nesting to one in a single store; leaving
//! stores nesting minus one. `synchronize` publishes the writer's change,
//! runs the heavy barrier, and then, slot by slot, waits while the slot is
//! inside the section it saw: until its nesting is zero or its `seq` moved
//! on (a section that began after the barrier sees the change and need not
//! be waited for). A writer never waits for a section that started after
//! it, so a stream of readers cannot starve it.

use core::fmt;
use core::marker::PhantomData;
use core::panic::Location;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use kernsync_lockdep::{Held, LockClass, LockMap, Mode};
use kernsync_primitive::atomic::{fence, AtomicUsize, Ordering};
use kernsync_primitive::SpinWait;

use crate::barrier::{self, Barrier};
use crate::slot::{Slot, SlotList};

/// A slot's word is `seq << SEQ_SHIFT | nesting`: the low half counts how
/// deeply its thread is nested in sections, the high half how many outermost
/// sections it has begun (compared for equality only, so wrapping is fine).
const SEQ_SHIFT: u32 = usize::BITS / 2;
/// The nesting bits.
const NESTING: usize = (1 << SEQ_SHIFT) - 1;

/// A nested section's word: one level deeper, the same `seq`. Out of line
/// (and cold) so the outermost entry's add stays a constant.
#[cold]
#[inline(never)]
fn nested(v: usize) -> usize {
    v + 1
}

/// `mode`: readers fence for real (no membarrier in this process).
const FENCED: usize = 1;

/// A sleepable-RCU domain: [`read`](Srcu::read) sections that never block
/// and never write a shared cache line, and [`synchronize`](Srcu::synchronize),
/// which returns once every section that began before it has ended.
///
/// The pattern: a writer unpublishes something (an `AtomicPtr` swap, a list
/// unlink), calls `synchronize`, then frees it; readers load the pointer
/// inside a section and may use what it points to until the section ends.
/// Memory is one 128-byte slot per thread alive that has entered a section,
/// as for [`PercpuRwSem`](crate::PercpuRwSem).
///
/// For the validator a section is a recursive read of the domain and
/// `synchronize` a write taken and released at once (lockdep's model of
/// SRCU): waiting for readers while holding a lock that a reader takes is
/// reported, and so is `synchronize` inside a section of the same domain,
/// which would wait for itself (it panics instead of hanging when the
/// validator is compiled out).
///
/// A section whose guard is leaked (`mem::forget`) never ends, even when
/// its thread exits: every later `synchronize` waits for it, as for a
/// leaked `rcu_read_lock`. The validator reports the thread's exit in a
/// section; `synchronize` has no timed form.
///
/// ```
/// use kernsync_percpu::Srcu;
/// use std::sync::atomic::{AtomicPtr, Ordering};
///
/// static DOMAIN: Srcu = Srcu::new();
/// let config = AtomicPtr::new(Box::into_raw(Box::new(1u32)));
/// {
///     let _section = DOMAIN.read();
///     // SAFETY: not freed while a section that may have loaded it runs.
///     assert_eq!(unsafe { *config.load(Ordering::Acquire) }, 1);
/// }
/// let old = config.swap(Box::into_raw(Box::new(2)), Ordering::AcqRel);
/// DOMAIN.synchronize(); // no section can still see `old`
/// // SAFETY: unpublished, and every section that could have loaded it ended.
/// drop(unsafe { Box::from_raw(old) });
/// # drop(unsafe { Box::from_raw(config.load(Ordering::Relaxed)) });
/// ```
pub struct Srcu {
    inner: Line,
    map: LockMap,
}

/// The readers' line.
#[repr(align(128))]
struct Line {
    /// Process-unique id in the threads' slot tables (0 until first use).
    id: AtomicU64,
    /// `FENCED` when the process has no membarrier.
    mode: AtomicUsize,
    slots: SlotList,
}

/// A read section of an [`Srcu`]; ends when dropped. `!Send`.
#[must_use = "the section ends when the guard is dropped"]
pub struct SrcuReadGuard<'a> {
    srcu: &'a Srcu,
    slot: *const Slot,
    held: Held,
    _not_send: PhantomData<*const ()>,
}

impl Srcu {
    kernsync_primitive::const_fn! {
        /// A domain, in the class named by the caller's line.
        #[track_caller]
        pub const fn new() -> Srcu {
            Srcu::with_map(LockMap::at_site(Location::caller()))
        }

        /// A domain of class `class`.
        pub const fn with_class(class: &'static LockClass) -> Srcu {
            Srcu::with_map(LockMap::new(class))
        }

        /// A domain with the validator handle `map` (a named or owned
        /// class: [`LockMap::at_site_named`], [`LockMap::owned_by`]).
        // The id stays a std atomic under loom too (a key in the threads'
        // tables, not part of the handshake the models check).
        pub const fn with_map(map: LockMap) -> Srcu {
            Srcu {
                inner: Line {
                    id: AtomicU64::new(0),
                    mode: AtomicUsize::new(0),
                    slots: SlotList::with_held_mask(NESTING),
                },
                map,
            }
        }
    }

    /// Enters a read section: never blocks; on the fast path one store to the
    /// thread's own slot and a compiler fence.
    #[inline]
    #[track_caller]
    pub fn read(&self) -> SrcuReadGuard<'_> {
        // Recorded as an acquisition that cannot wait (a succeeded try): an
        // SRCU read never blocks, so entering one in an atomic section is
        // fine, and it adds no dependency into the domain, which only
        // `synchronize` (a write) can close a deadlock through.
        let held = self.map.try_acquired(Mode::RecursiveRead);
        match crate::local::cached(&self.inner.id) {
            Some(slot) => self.enter(slot, held),
            None => self.read_cold(held),
        }
    }

    /// Counts a section in through `slot`.
    #[inline(always)]
    fn enter(&self, slot: *const Slot, held: Held) -> SrcuReadGuard<'_> {
        // SAFETY: the thread's own slot (or one claimed for this section),
        // alive while the domain is.
        let s = unsafe { &*slot };
        let v = s.count.load(Ordering::Relaxed);
        // The outermost section bumps `seq`: a writer waiting on the last
        // section seen here stops waiting. The nested case is out of line,
        // so the common one is a load, an add of a constant and a store (the
        // test is predicted, off the chain from the last store to this one),
        // not a value computed from the nesting bits.
        let v = if v & NESTING == 0 {
            v + (1 << SEQ_SHIFT) + 1
        } else {
            nested(v)
        };
        // Release: a writer whose Acquire load sees this store (a new `seq`)
        // also sees the end of the section before it.
        s.count.store(v, Ordering::Release);
        barrier::light();
        if self.inner.mode.load(Ordering::Relaxed) != 0 {
            // No membarrier: the reader's half of Dekker is a real fence.
            fence(Ordering::SeqCst);
        }
        SrcuReadGuard {
            srcu: self,
            slot,
            held,
            _not_send: PhantomData,
        }
    }

    /// `read` when the cache misses (a first section, a switch between
    /// domains, a section during thread teardown).
    #[cold]
    #[inline(never)]
    fn read_cold(&self, held: Held) -> SrcuReadGuard<'_> {
        let (slot, transient) = self.my_slot_slow();
        let guard = self.enter(slot, held);
        if transient {
            // SAFETY: claimed for this section, which now counts in it; the
            // next claim reuses it once the section has ended.
            unsafe { Slot::disown(slot) };
        }
        guard
    }

    #[cold]
    #[inline(never)]
    fn my_slot_slow(&self) -> (*const Slot, bool) {
        if barrier::barrier() == Barrier::Fence && self.inner.mode.load(Ordering::Relaxed) == 0 {
            self.inner.mode.store(FENCED, Ordering::Relaxed);
        }
        crate::local::claimed(&self.inner.id, &self.inner.slots)
    }

    /// Whether the calling thread is inside a read section of this domain.
    pub fn in_read_section(&self) -> bool {
        crate::local::my_count(&self.inner.id, &self.inner.slots) & NESTING != 0
    }

    /// Waits until every read section that began before the call has ended.
    /// Polls (spinning briefly, then sleeping with backoff up to 1 ms):
    /// readers never block and never wake anyone.
    ///
    /// # Panics
    /// Inside a read section of this domain (it would wait for itself).
    #[track_caller]
    pub fn synchronize(&self) {
        // lockdep's SRCU: a write acquired and released at once, so a lock
        // held here and taken inside a section closes a cycle.
        self.map.acquire_release(Mode::Write);
        assert!(
            !self.in_read_section(),
            "kernsync-percpu: Srcu::synchronize inside a read section of the same domain \
             would wait for itself"
        );
        // The caller's unpublishing store before our slot loads; a reader's
        // slot store before its loads of what we unpublished.
        barrier::heavy(barrier::barrier());
        for slot in self.inner.slots.iter() {
            // Acquire: pairs with the reader's Release stores, so its section
            // happens before what the caller does next (freeing).
            let seen = slot.count.load(Ordering::Acquire);
            if seen & NESTING == 0 {
                continue;
            }
            let mut spin = SpinWait::new();
            let mut nap = Duration::from_micros(10);
            loop {
                let now = slot.count.load(Ordering::Acquire);
                if now & NESTING == 0 || (now ^ seen) >> SEQ_SHIFT != 0 {
                    break;
                }
                if !spin.spin() {
                    nap_on(&mut nap);
                }
            }
        }
    }

    /// How many reader slots the domain has (as for
    /// [`PercpuRwSem::reader_slots`](crate::PercpuRwSem::reader_slots)).
    pub fn reader_slots(&self) -> usize {
        self.inner.slots.len()
    }
}

/// Sleeps `nap`, then doubles it up to 1 ms: `synchronize`'s backoff.
#[cfg(not(loom))]
#[inline]
fn nap_on(nap: &mut Duration) {
    std::thread::sleep(*nap);
    *nap = (*nap * 2).min(Duration::from_millis(1));
}

/// Under loom a sleep would block the model; a yield lets the readers run
/// (and tells loom this thread waits on them).
#[cfg(loom)]
fn nap_on(_nap: &mut Duration) {
    loom::thread::yield_now();
}

impl Default for Srcu {
    #[track_caller]
    fn default() -> Srcu {
        Srcu::new()
    }
}

impl fmt::Debug for Srcu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Srcu")
            .field("reader_slots", &self.reader_slots())
            .finish_non_exhaustive()
    }
}

impl Drop for SrcuReadGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the slot this section was counted in, alive while the
        // domain is (the guard borrows it).
        let s = unsafe { &*self.slot };
        let v = s.count.load(Ordering::Relaxed);
        // Release: the section's reads happen before a writer that sees it
        // end (its Acquire load).
        s.count.store(v - 1, Ordering::Release);
        self.srcu
            .map
            .release(core::mem::replace(&mut self.held, Held::UNTRACKED));
    }
}

impl fmt::Debug for SrcuReadGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrcuReadGuard").finish_non_exhaustive()
    }
}
