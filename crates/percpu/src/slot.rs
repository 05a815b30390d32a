//! Reader slots: one padded cache line per (lock, live reader thread).
//!
//! A lock keeps its slots in a push-only list. A thread claims a slot on its
//! first read of the lock (reusing a free one or allocating), keeps it in its
//! thread-local table, and gives it back when it exits; a slot whose thread
//! exited with a read still held (a leaked guard) stays counted, so writers
//! keep waiting for it. The list, and so the memory, grows with the number of
//! reader threads alive at once, never with the number that ever lived.
//!
//! A slot outlives its lock when its thread still has it in its table: the
//! lock's drop marks it [`GONE`] and the thread frees it (on exit or when it
//! next prunes its table). Exactly one of the two frees each slot.

use kernsync_primitive::atomic::{fence, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

// The slot's `state` word.
/// Free: no thread has this slot; the next new reader thread may claim it.
pub(crate) const FREE: usize = 0;
/// A live thread has this slot in its table (or is claiming one for a read
/// during its teardown).
pub(crate) const OWNED: usize = 1;
/// No thread owns it, but it may still count reads: its thread exited while
/// holding one (a leaked guard), or it was claimed for one read during a
/// thread's teardown. Claimed again once the count is back to zero.
pub(crate) const ABANDONED: usize = 2;
/// Set on an `OWNED` slot by the lock's drop: the owner frees it.
pub(crate) const GONE: usize = 4;

/// One thread's read count on one lock, alone in its 128-byte line (two
/// 64-byte lines: adjacent-line prefetchers pair them).
#[repr(align(128))]
pub(crate) struct Slot {
    /// Read acquisitions its thread holds. Written by that thread alone, with
    /// plain load/store (no read-modify-write), except by a writer granting
    /// a read to the thread while it is parked (and so not writing).
    pub(crate) count: AtomicUsize,
    /// `FREE`, `OWNED` or `ABANDONED`, plus `GONE`.
    state: AtomicUsize,
    /// The bits of `count` that count acquisitions held (the rest, if any,
    /// is the owner's own bookkeeping, as `Srcu`'s section sequence).
    held_mask: usize,
    /// The id of the thread that claimed the slot last (the `owner` given
    /// to [`SlotList::claim`]): how a thread in teardown, whose table is
    /// gone, finds the slots it reads through (see [`SlotList::held_by`]).
    owner: AtomicU64,
    /// The next slot of the lock's list: set before the slot is published
    /// and never changed after.
    next: AtomicPtr<Slot>,
}

impl Slot {
    /// Gives back a slot its thread no longer needs: free for the next
    /// reader thread, or, when the lock is gone, freed.
    ///
    /// # Safety
    /// `slot` is an `OWNED` slot of the caller's, with a count of zero, and
    /// the caller does not use it afterwards.
    pub(crate) unsafe fn release(slot: *const Slot) {
        // SAFETY: an owned slot is alive until its owner releases it.
        let s = unsafe { &*slot };
        // Release: the thread's last count store is ordered before the slot
        // can be claimed again (pairs with the Acquire of `claim`).
        if s.state
            .compare_exchange(OWNED, FREE, Ordering::Release, Ordering::Acquire)
            .is_err()
        {
            // `GONE`: the lock was dropped and left this slot to us.
            // SAFETY: allocated by `SlotList::claim` as a Box; the lock no
            // longer reaches it and we were its last user.
            drop(unsafe { Box::from_raw(slot as *mut Slot) });
        }
    }

    /// Marks a slot whose thread is exiting with `count` reads still held:
    /// it stays counted (writers wait for it), or is freed if its lock is
    /// gone.
    ///
    /// # Safety
    /// As for [`Slot::release`], except for the count.
    pub(crate) unsafe fn abandon(slot: *const Slot) {
        // SAFETY: an owned slot is alive until its owner releases it.
        let s = unsafe { &*slot };
        if s.state
            .compare_exchange(OWNED, ABANDONED, Ordering::Release, Ordering::Acquire)
            .is_err()
        {
            // SAFETY: as in `release`: the lock is gone and left it to us.
            drop(unsafe { Box::from_raw(slot as *mut Slot) });
        }
    }

    /// Gives up ownership of a slot that counts a read (or a section) its
    /// thread is making during teardown (after its table is gone): the
    /// unlock needs the slot no more than its count store, and once the count
    /// is back to zero the next claim reuses it.
    ///
    /// # Safety
    /// `slot` is an `OWNED` slot of the caller's, claimed for this one read,
    /// whose lock is alive.
    pub(crate) unsafe fn disown(slot: *const Slot) {
        // Release: pairs with the Acquire of `claim`, as `abandon`'s does.
        // SAFETY: the caller's slot, alive while the lock is.
        unsafe { (*slot).state.store(ABANDONED, Ordering::Release) };
    }

    /// Gives back the slot of a thread that is exiting: released if it
    /// holds no read, abandoned (still counted) if it does.
    ///
    /// # Safety
    /// As for [`Slot::release`], except for the count.
    pub(crate) unsafe fn give_back(slot: *const Slot) {
        // SAFETY: an owned slot is alive until its owner gives it back; the
        // count is the thread's own, so this load sees its last store.
        let held = unsafe { (*slot).count.load(Ordering::Relaxed) & (*slot).held_mask };
        // SAFETY: the caller's ownership, passed on.
        unsafe {
            if held == 0 {
                Slot::release(slot)
            } else {
                Slot::abandon(slot)
            }
        }
    }

    /// Whether the slot's lock has been dropped (so the owner may free it).
    pub(crate) fn lock_gone(&self) -> bool {
        self.state.load(Ordering::Acquire) & GONE != 0
    }
}

/// A lock's slots: a push-only list, freed with the lock.
pub(crate) struct SlotList {
    head: AtomicPtr<Slot>,
    /// The slots' `held_mask`.
    held_mask: usize,
}

impl SlotList {
    kernsync_primitive::const_fn! {
        /// Slots whose whole count counts held acquisitions.
        pub(crate) const fn new() -> SlotList {
            SlotList::with_held_mask(usize::MAX)
        }

        /// Slots whose count's `held_mask` bits count held acquisitions.
        pub(crate) const fn with_held_mask(held_mask: usize) -> SlotList {
            SlotList {
                head: AtomicPtr::new(core::ptr::null_mut()),
                held_mask,
            }
        }
    }

    /// Every slot, newest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Slot> {
        // Acquire: a slot's fields (and `next`) are initialised before the
        // CAS (Release) that published it.
        let mut p = self.head.load(Ordering::Acquire);
        core::iter::from_fn(move || {
            // SAFETY: published slots live until the list is dropped (an
            // `OWNED` slot may live longer), and `&self` keeps it alive.
            let s = unsafe { p.as_ref()? };
            p = s.next.load(Ordering::Relaxed);
            Some(s)
        })
    }

    /// A slot for the calling thread, stamped with its process-unique id
    /// `owner` (given by the thread-local layer above): a free one reused,
    /// or a new one. May allocate (once per thread and lock, or while a thread
    /// that held a slot is still alive).
    pub(crate) fn claim(&self, owner: u64) -> *const Slot {
        for s in self.iter() {
            let state = s.state.load(Ordering::Relaxed);
            let reusable = state == FREE
                // An abandoned slot whose leaked read was dropped after all
                // (a guard kept in another thread-local, released later in
                // that thread's teardown): its thread wrote its last count.
                || (state == ABANDONED && s.count.load(Ordering::Acquire) & s.held_mask == 0);
            // Acquire: pairs with the Release of `release`/`abandon`.
            if reusable
                && s.state
                    .compare_exchange(state, OWNED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                s.owner.store(owner, Ordering::Relaxed);
                // Release: every count store this thread makes in the slot
                // from now on comes after the stamp (pairs with the Acquire
                // fence in `held_by`).
                fence(Ordering::Release);
                return s;
            }
        }
        let slot = Box::into_raw(Box::new(Slot {
            count: AtomicUsize::new(0),
            state: AtomicUsize::new(OWNED),
            held_mask: self.held_mask,
            owner: AtomicU64::new(owner),
            next: AtomicPtr::new(core::ptr::null_mut()),
        }));
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: not yet published: ours alone.
            unsafe { (*slot).next.store(head, Ordering::Relaxed) };
            // Release: publishes the initialised slot (pairs with `iter`).
            match self
                .head
                .compare_exchange_weak(head, slot, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return slot,
                Err(now) => head = now,
            }
        }
    }

    /// The acquisitions the thread `me` holds through this lock's slots
    /// (their `held_mask` bits, summed): for a thread in teardown, whose
    /// table is gone and whose reads each count in a slot claimed for it.
    ///
    /// A count of another thread's is never taken for `me`'s: a nonzero
    /// count `me` wrote itself means `me` still holds that slot (a claimer
    /// must see the count at zero), so the stamp is still `me`'s; a count
    /// another thread wrote was stored after that thread's stamp and its
    /// Release fence, so after this Acquire fence the stamp read is that
    /// thread's (or a later claimer's), not `me`'s.
    pub(crate) fn held_by(&self, me: u64) -> usize {
        self.iter()
            .map(|s| {
                let held = s.count.load(Ordering::Relaxed) & s.held_mask;
                if held == 0 {
                    return 0;
                }
                // Acquire: pairs with the Release fence of `claim`.
                fence(Ordering::Acquire);
                if s.owner.load(Ordering::Relaxed) == me {
                    held
                } else {
                    0
                }
            })
            .sum()
    }

    /// The read acquisitions held on the lock, summed over the slots. Each
    /// load is Acquire: it pairs with the Release of a reader's decrement,
    /// so the read-side critical sections counted out happen before the
    /// caller's next access.
    pub(crate) fn readers(&self) -> usize {
        self.iter().map(|s| s.count.load(Ordering::Acquire)).sum()
    }

    /// How many slots the lock has (in use or free).
    pub(crate) fn len(&self) -> usize {
        self.iter().count()
    }
}

impl Drop for SlotList {
    fn drop(&mut self) {
        let mut p = self.head.load(Ordering::Acquire);
        while !p.is_null() {
            // SAFETY: published and not yet freed: `GONE` is set below only.
            let next = unsafe { (*p).next.load(Ordering::Relaxed) };
            // AcqRel: against an owner's concurrent `release`/`abandon`
            // (a thread exiting while the lock drops): exactly one of the two
            // sees the other's mark and frees the slot.
            // SAFETY: as above.
            let prev = unsafe { (*p).state.fetch_or(GONE, Ordering::AcqRel) };
            if prev != OWNED {
                // Free or abandoned: no thread will touch it again (a guard
                // of this lock cannot be alive while the lock drops).
                // SAFETY: allocated by `claim` as a Box, unreachable now.
                drop(unsafe { Box::from_raw(p) });
            }
            p = next;
        }
    }
}
