//! Allocation as a pseudo-lock, and `CheckedAlloc`.
//!
//! `might_alloc()` checks the no-alloc rules and acquires-and-releases the
//! allocation pseudo-lock, so every lock held where memory is allocated is
//! ordered before it. `CheckedAlloc` does the same for every allocation and
//! *holds* the pseudo-lock while the inner allocator runs, so a lock taken
//! inside the allocator (an allocator that locks, a reclaim hook) is ordered
//! after it: lockdep's `fs_reclaim`. Allocation inside allocation is not
//! recursion (reclaim does not recurse), so nested allocations skip it.
//!
//! Inside the inner allocator the validator may not allocate (that would
//! re-enter the allocator that is running) and may not unwind (undefined
//! behaviour). So an acquisition there that the fast path cannot settle is
//! deferred (see `deferred`) and validated right after the inner allocator
//! returns; reports raised there print and, in `Panic` mode, abort.

use super::entry::{Acq, Held, How};
use super::map::LockMap;
use super::rules::Finding;
use super::thread::{with_thread, ThreadState};
use super::{config, validate};
use crate::class::{LockClass, FLAG_NO_ALLOC};
use crate::mode::Mode;
use crate::report::{Report, ReportKind, Site};
use core::alloc::{GlobalAlloc, Layout};
use core::panic::Location;
use std::alloc::System;

static ALLOCATION: LockClass = LockClass::new("allocation");
/// The allocation pseudo-lock.
static ALLOC_MAP: LockMap = LockMap::new(&ALLOCATION);

/// Enters the allocation path from `CheckedAlloc` (`site` None) or from
/// `might_alloc` / `allocation_path` (`site` Some). Returns the pseudo-lock's
/// token when it was taken.
#[inline]
#[track_caller]
fn enter(site: Option<&'static Location<'static>>) -> Option<Held> {
    let forbidden = with_thread(|t| {
        let skip = t.busy.get() != 0 || t.internals.get() != 0 || t.in_alloc.get() != 0;
        if skip || !config::validating() {
            return None;
        }
        Some(t.in_no_alloc().then(|| forbidden(t, site)).flatten())
    })?;
    // Inside `CheckedAlloc` a report cannot unwind.
    validate::deliver(forbidden, site.is_none());
    let a = Acq {
        instance: ALLOC_MAP.instance(),
        serial: 0,
        class: ALLOC_MAP.bits(),
        mode: Mode::Write,
        subclass: 0,
        how: if site.is_some() {
            How::Blocking
        } else {
            How::Alloc
        },
        site: site.unwrap_or(Location::caller()),
    };
    let h = validate::acquire(a, &ALLOC_MAP.serial);
    h.is_tracked().then_some(h)
}

/// The report of an allocation at `site` (`None`: in `CheckedAlloc`) where
/// allocating is forbidden: once per culprit (the innermost no-alloc lock
/// held, or the `no_alloc` scope) and site.
#[cold]
fn forbidden(t: &ThreadState, site: Option<&'static Location<'static>>) -> Option<Report> {
    let culprit = t
        .entries()
        .rev()
        .map(|(e, _)| e)
        .find(|e| e.id.ctx() & FLAG_NO_ALLOC as u8 != 0);
    let addr = |l: &'static Location<'static>| l as *const Location<'static> as usize;
    let at = site.map(addr);
    let by = match culprit {
        Some(e) => (e.id.class(), at),
        None => (0, t.no_alloc_site().map(addr)),
    };
    let key = (ReportKind::AllocUnderNoAlloc, by, at);
    let site = site.map_or(Site::Allocation, Site::Code);
    validate::report_once(
        t,
        |g| g.first_report(key),
        Finding::AllocForbidden(site, culprit),
    )
}

/// `might_alloc()` at `site`.
#[track_caller]
pub(super) fn might_alloc_at(site: Option<&'static Location<'static>>) {
    if let Some(h) = enter(site) {
        ALLOC_MAP.release(h);
    }
}

/// Runs `f` holding the allocation pseudo-lock (a reclaim hook).
#[track_caller]
pub(super) fn allocation_path<R>(site: &'static Location<'static>, f: impl FnOnce() -> R) -> R {
    struct Leave(Option<Held>);
    impl Drop for Leave {
        fn drop(&mut self) {
            if let Some(h) = self.0.take() {
                with_thread(|t| t.in_alloc.set(t.in_alloc.get() - 1));
                ALLOC_MAP.release(h);
            }
        }
    }
    let held = enter(Some(site));
    if held.is_some() {
        with_thread(|t| t.in_alloc.set(t.in_alloc.get() + 1));
    }
    let _leave = Leave(held);
    f()
}

/// A `GlobalAlloc` that calls `might_alloc()` on every allocation and holds
/// the allocation pseudo-lock while the inner allocator runs.
///
/// ```no_run
/// use kernsync_lockdep::CheckedAlloc;
/// #[global_allocator]
/// static ALLOC: CheckedAlloc = CheckedAlloc::new(std::alloc::System);
/// ```
///
/// Allocations have no caller location: their dependencies name
/// `<allocation>` and the held locks' sites, with a backtrace when
/// `KERNSYNC_LOCKDEP_BACKTRACE=1`. Nothing may unwind out of an allocator, so
/// a report raised here is printed whole and, in `Panic` mode, the process
/// aborts. Allocations made by the validator itself, inside a lock's own
/// internals (`lock_internals`: parking_lot_core's parking), and inside
/// allocation are not checked. Deallocation never waits for reclaim and is
/// not checked. With validation compiled out this is the inner allocator.
#[derive(Debug, Default)]
pub struct CheckedAlloc<A = System> {
    inner: A,
}

impl<A> CheckedAlloc<A> {
    /// Wraps `inner`.
    pub const fn new(inner: A) -> CheckedAlloc<A> {
        CheckedAlloc { inner }
    }
}

/// Runs one allocation of `CheckedAlloc` around `f`.
#[inline]
fn checked(f: impl FnOnce() -> *mut u8) -> *mut u8 {
    let held = enter(None);
    if held.is_some() {
        with_thread(|t| {
            t.in_alloc.set(t.in_alloc.get() + 1);
            t.in_allocator.set(t.in_allocator.get() + 1);
        });
    }
    let p = f();
    if let Some(h) = held {
        let replay_now = with_thread(|t| {
            t.in_alloc.set(t.in_alloc.get() - 1);
            t.in_allocator.set(t.in_allocator.get() - 1);
            t.in_allocator.get() == 0
        });
        ALLOC_MAP.release(h);
        if replay_now {
            validate::replay_deferred();
        }
    }
    p
}

// SAFETY: every method forwards its arguments unchanged to `inner`, which
// upholds `GlobalAlloc`'s contract; the checks around the calls neither
// allocate through `self` re-entrantly in a way `inner` can observe (the
// validator's own allocations happen before or after the inner call, never
// during it) nor unwind (reports in the allocator abort instead of panicking).
unsafe impl<A: GlobalAlloc> GlobalAlloc for CheckedAlloc<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's `layout` meets `alloc`'s contract; forwarded as is.
        checked(|| unsafe { self.inner.alloc(layout) })
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        checked(|| unsafe { self.inner.alloc_zeroed(layout) })
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by `inner` (all our allocations are), with `layout`.
        checked(|| unsafe { self.inner.realloc(ptr, layout, new_size) })
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `inner` with `layout`.
        unsafe { self.inner.dealloc(ptr, layout) }
    }
}
