//! Acquisitions made inside the inner allocator, kept for validation after it.
//!
//! Inside `CheckedAlloc`'s inner allocator the validator may not allocate
//! (that would re-enter the allocator that is running) and may not unwind.
//! So an acquisition there that the fast path cannot settle is recorded, with
//! a copy of the held stack, in a fixed per-thread buffer, and validated
//! right after the inner allocator returns. One fits; a second one in the
//! same allocator call is counted as lost (and reported then).

use super::entry::{Acq, Entry};
use super::thread::ThreadState;
use crate::limits::MAX_DEPTH;
use core::cell::Cell;

/// An acquisition made inside the inner allocator, to validate after it.
struct Pending {
    /// Whether `acq` and `held[..depth]` hold a pending acquisition.
    full: Cell<bool>,
    /// A second one arrived while one was pending: it could not be kept.
    lost: Cell<bool>,
    acq: Cell<Option<Acq>>,
    key: Cell<u64>,
    depth: Cell<usize>,
    held: [Cell<(Entry, usize)>; MAX_DEPTH],
}

thread_local! {
    static PENDING: Pending = const {
        Pending {
            full: Cell::new(false),
            lost: Cell::new(false),
            acq: Cell::new(None),
            key: Cell::new(0),
            depth: Cell::new(0),
            held: [const { Cell::new((Entry::EMPTY, 0)) }; MAX_DEPTH],
        }
    };
}

/// One deferred acquisition: the held stack then, the acquisition, its
/// chain key, and whether a second one was lost.
pub(crate) struct Deferred {
    pub held: Vec<(Entry, usize)>,
    pub acq: Acq,
    pub key: u64,
    pub lost: bool,
}

/// Records `a` (with chain key `key`), made inside the inner allocator on
/// the thread whose state is `t`. Allocates nothing.
pub(crate) fn defer(t: &ThreadState, a: Acq, key: u64) {
    PENDING.with(|p| {
        if p.full.get() {
            p.lost.set(true);
            return;
        }
        for (slot, held) in p.held.iter().zip(t.entries()) {
            slot.set(held);
        }
        p.depth.set(t.depth());
        p.acq.set(Some(a));
        p.key.set(key);
        p.full.set(true);
    });
}

/// Takes what `defer` recorded (allocates: call it outside the allocator).
pub(crate) fn take() -> Option<Deferred> {
    PENDING.with(|p| {
        if !p.full.replace(false) {
            return None;
        }
        let held = p.held[..p.depth.get()].iter().map(Cell::get).collect();
        Some(Deferred {
            held,
            acq: p.acq.get()?,
            key: p.key.get(),
            lost: p.lost.replace(false),
        })
    })
}
