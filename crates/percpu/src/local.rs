//! The calling thread's slots: which slot it reads each lock through.
//!
//! `HOT` caches the last lock read and its slot, so the read fast path is one
//! thread-local load and a compare. `TABLE` holds every slot the thread
//! owns; its destructor gives them back when the thread exits. Locks are
//! named by a process-unique id, not their address: a lock dropped and
//! another built at the same address must not find the old one's slot.

use core::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::slot::{Slot, SlotList};

/// No lock has this id, so the initial `HOT` never matches.
const NO_LOCK: u64 = u64::MAX;

/// The last lock this thread read, and its slot there.
#[derive(Clone, Copy)]
pub(crate) struct Hot {
    pub(crate) id: u64,
    pub(crate) slot: *const Slot,
}

#[cfg(not(loom))]
thread_local! {
    /// No destructor, so reading it is a plain thread-local load.
    static HOT: Cell<Hot> = const {
        Cell::new(Hot { id: NO_LOCK, slot: core::ptr::null() })
    };
    static TABLE: RefCell<Table> = const { RefCell::new(Table { owned: Vec::new() }) };
    /// This thread's id (0 until first asked). No destructor: it stays
    /// readable through the thread's teardown, after `TABLE` is gone.
    static THREAD_ID: Cell<u64> = const { Cell::new(0) };
}

// Under loom, one of each per model thread: loom's thread-locals take no
// `const` initialiser, and loom runs `Table`'s destructor when a model thread
// ends (`loom::rt::thread_done`), so a model's thread gives its slots back on
// exit as a real thread does.
#[cfg(loom)]
loom::thread_local! {
    static HOT: Cell<Hot> = Cell::new(Hot { id: NO_LOCK, slot: core::ptr::null() });
    static TABLE: RefCell<Table> = RefCell::new(Table { owned: Vec::new() });
    static THREAD_ID: Cell<u64> = Cell::new(0);
}

/// The calling thread's process-unique id (never reused, never 0): the
/// owner stamp of the slots it claims.
pub(crate) fn thread_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    THREAD_ID.with(|c| match c.get() {
        0 => {
            let id = NEXT.fetch_add(1, Relaxed);
            c.set(id);
            id
        }
        id => id,
    })
}

/// The calling thread's slot for the lock whose id is in `id`, if it is
/// the one cached in `HOT`: one thread-local load and a compare.
#[inline(always)]
pub(crate) fn cached(id: &AtomicU64) -> Option<*const Slot> {
    let hot = HOT.with(Cell::get);
    // An unassigned id (0) never matches: `HOT` only holds assigned ids.
    (hot.id == id.load(Relaxed)).then_some(hot.slot)
}

/// The lock's id, given on first use (ids are never reused, so a lock built
/// where a dropped one was is not mistaken for it).
pub(crate) fn lazy_id(id: &AtomicU64) -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let current = id.load(Relaxed);
    if current != 0 {
        return current;
    }
    let mine = NEXT.fetch_add(1, Relaxed);
    match id.compare_exchange(0, mine, Relaxed, Relaxed) {
        Ok(_) => mine,
        Err(theirs) => theirs,
    }
}

/// The calling thread's slot in `slots` (the lock whose id is in `id`):
/// found in its table or claimed, and made the cached one. During thread
/// teardown, after the table is gone, a slot claimed for one acquisition
/// alone (`true`: the caller gives it back when done).
#[cold]
pub(crate) fn claimed(id: &AtomicU64, slots: &SlotList) -> (*const Slot, bool) {
    match slot_for(lazy_id(id), || slots.claim(thread_id())) {
        Some(slot) => (slot, false),
        None => (
            kernsync_lockdep::lock_internals(|| slots.claim(thread_id())),
            true,
        ),
    }
}

/// The count in the calling thread's slot for the lock whose id is in `id`
/// and whose slots are `slots` (0 if it has none; nothing is claimed).
/// During thread teardown, after the table is gone, the held part of the
/// counts of the slots claimed for the thread's reads there.
pub(crate) fn my_count(id: &AtomicU64, slots: &SlotList) -> usize {
    let id = id.load(Relaxed);
    if id == 0 {
        return 0;
    }
    TABLE
        .try_with(|t| {
            let t = t.borrow();
            let &(_, slot) = t.owned.iter().find(|e| e.0 == id)?;
            // SAFETY: an owned slot lives until the thread gives it back at
            // exit; its count is written by this thread alone.
            Some(unsafe { (*slot).count.load(Relaxed) })
        })
        .unwrap_or_else(|_| Some(slots.held_by(thread_id())))
        .unwrap_or(0)
}

/// Loom only: the calling model thread gives back every slot it owns now,
/// as its exit does (a later read claims afresh). Loom does run `TABLE`'s
/// destructor when a model thread ends, but `JoinHandle::join` returns
/// before that (it waits for the thread's closure alone), so a model that
/// needs the give-back to happen before another thread's next claim (a slot
/// reused for certain) calls this as the thread's last act.
#[cfg(loom)]
pub fn exit_thread() {
    TABLE.with(|t| {
        let owned = core::mem::take(&mut t.borrow_mut().owned);
        // Dropped outside the borrow: `Table::drop` gives the slots back.
        drop(Table { owned });
    });
}

/// Every slot the thread owns, by lock id.
struct Table {
    owned: Vec<(u64, *const Slot)>,
}

impl Drop for Table {
    /// Thread exit: slots with nothing held are given back; one still
    /// counting a read (a leaked guard) stays counted, so writers keep
    /// waiting for the read its guard's `&T` may still be in. The validator
    /// reports that leak at thread exit, naming the site of the read.
    fn drop(&mut self) {
        // A read later in this thread's teardown must not use a slot given
        // back here: it finds no table and takes a transient slot instead.
        // `try_with`: in a build `HOT` has no destructor and is always there
        // (the same as `with`); loom takes every thread-local of an exiting
        // thread before running any destructor, so there `HOT` is gone
        // already and nothing can read it again.
        let _ = HOT.try_with(|h| {
            h.set(Hot {
                id: NO_LOCK,
                slot: core::ptr::null(),
            })
        });
        for &(_, slot) in &self.owned {
            // SAFETY: ours, owned, and not used again.
            unsafe { Slot::give_back(slot) };
        }
    }
}

/// The calling thread's slot for lock `id`, claimed through `claim` on the
/// thread's first read of that lock, and made the `HOT` one. `None` when the
/// thread's table is already destroyed (a read during thread teardown): the
/// caller takes a transient slot.
#[cold]
fn slot_for(id: u64, claim: impl FnOnce() -> *const Slot) -> Option<*const Slot> {
    TABLE
        .try_with(|t| {
            let mut t = t.borrow_mut();
            let slot = match t.owned.iter().find(|e| e.0 == id) {
                Some(&(_, slot)) => slot,
                None => {
                    // Slots whose lock was dropped are ours to free.
                    t.owned.retain(|&(_, s)| {
                        // SAFETY: owned slots live until we release them.
                        let gone = unsafe { (*s).lock_gone() };
                        if gone {
                            // SAFETY: ours; the lock has left it to us.
                            unsafe { Slot::release(s) };
                        }
                        !gone
                    });
                    // The lock's own one-time allocations (the slot, the
                    // table's growth), not the user's: not checked.
                    kernsync_lockdep::lock_internals(|| {
                        let slot = claim();
                        t.owned.push((id, slot));
                        slot
                    })
                }
            };
            HOT.with(|h| h.set(Hot { id, slot }));
            slot
        })
        .ok()
}
