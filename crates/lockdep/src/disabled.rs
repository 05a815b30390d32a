//! The validator, compiled out: every hook is an empty inline function and
//! every handle is zero-sized.

use crate::class::LockClass;
use crate::export::{GraphSnapshot, SuppressionRecord};
use crate::mode::Mode;
use crate::report::{HeldLock, Report};
use crate::{Action, Limits, LimitsError};
use core::alloc::{GlobalAlloc, Layout};
use std::alloc::System;

/// Whether validation is compiled into this build.
pub const COMPILED_IN: bool = false;

/// Whether locks are being validated now: never, in this build.
#[inline(always)]
pub fn is_enabled() -> bool {
    false
}

/// The validator's handle on one lock instance (zero-sized in this build).
#[derive(Debug)]
pub struct LockMap;

/// Proof that a lock was acquired (zero-sized in this build).
#[must_use = "a lock acquisition must be released with `LockMap::release`"]
#[derive(Debug)]
pub struct Held;

/// An acquisition held until dropped (zero-sized in this build).
#[must_use = "the acquisition is released when the guard drops"]
#[derive(Debug)]
pub struct Holding<'a>(core::marker::PhantomData<&'a LockMap>);

/// How a lock is held (never known in this build: `held_as` is `None`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HeldAs;

impl HeldAs {
    /// The mode the lock is held in (unknown without validation: `Write`).
    pub fn mode(&self) -> Mode {
        Mode::Write
    }
}

impl Held {
    /// A token for an acquisition the validator did not track.
    pub const UNTRACKED: Held = Held;

    /// The mode the lock is held in (unknown without validation: `Write`).
    pub fn mode(&self) -> Mode {
        Mode::Write
    }

    /// Whether the validator tracked this acquisition: never, in this build.
    pub fn is_tracked(&self) -> bool {
        false
    }
}

#[allow(missing_docs)] // documented on the enabled twin, which docs.rs builds
impl LockMap {
    #[inline(always)]
    pub const fn new(_class: &'static LockClass) -> LockMap {
        LockMap
    }
    #[inline(always)]
    pub const fn at_caller() -> LockMap {
        LockMap
    }
    #[inline(always)]
    pub const fn at_site(_site: &'static core::panic::Location<'static>) -> LockMap {
        LockMap
    }
    #[inline(always)]
    pub const fn named(_name: &'static str) -> LockMap {
        LockMap
    }
    #[inline(always)]
    pub const fn at_site_named(
        _site: &'static core::panic::Location<'static>,
        _name: &'static str,
    ) -> LockMap {
        LockMap
    }
    #[inline(always)]
    pub const fn owned_by(
        _owner: &'static str,
        _site: &'static core::panic::Location<'static>,
        _name: Option<&'static str>,
    ) -> LockMap {
        LockMap
    }
    #[inline(always)]
    pub const fn anonymous() -> LockMap {
        LockMap
    }
    #[inline(always)]
    pub const fn first_use() -> LockMap {
        LockMap
    }
    #[inline(always)]
    pub const fn with_kind(self, _kind: &'static crate::LockKind) -> LockMap {
        self
    }
    #[inline(always)]
    pub const fn nesting_by_depth(self) -> LockMap {
        self
    }
    #[inline(always)]
    pub const fn forgettable(self) -> LockMap {
        self
    }
    #[inline(always)]
    pub const fn awaitable(self) -> LockMap {
        self
    }
    #[inline(always)]
    pub const fn or_kind(self, _kind: &'static crate::LockKind) -> LockMap {
        self
    }
    #[inline(always)]
    pub fn acquire(&self, _mode: Mode) -> Held {
        Held
    }
    #[inline(always)]
    pub fn acquire_nested(&self, _mode: Mode, _subclass: u8) -> Held {
        Held
    }
    #[inline(always)]
    pub fn held_token(&self) -> Held {
        Held
    }
    #[inline(always)]
    pub fn around_wait<R>(&self, wait: impl FnOnce() -> R) -> (R, Option<Held>) {
        (wait(), None)
    }
    #[inline(always)]
    pub fn hold_by_depth(&self, _mode: Mode) -> Holding<'_> {
        Holding(core::marker::PhantomData)
    }
    #[inline(always)]
    pub fn acquire_by_depth(&self, _mode: Mode) -> Held {
        Held
    }
    #[inline(always)]
    pub fn acquire_nest_lock(&self, _mode: Mode, _outer: &LockMap) -> Held {
        Held
    }
    #[inline(always)]
    pub fn acquire_ordered(&self, _mode: Mode, _key: u64) -> Held {
        Held
    }
    #[inline(always)]
    pub fn try_acquired(&self, _mode: Mode) -> Held {
        Held
    }
    #[inline(always)]
    pub fn try_acquired_nested(&self, _mode: Mode, _subclass: u8) -> Held {
        Held
    }
    #[inline(always)]
    pub fn release(&self, _held: Held) {}
    #[inline(always)]
    pub fn release_unpaired(&self) {}
    #[inline(always)]
    pub fn acquire_release(&self, _mode: Mode) {}
    #[inline(always)]
    pub fn with<R>(&self, _mode: Mode, f: impl FnOnce() -> R) -> R {
        f()
    }
    #[inline(always)]
    pub fn downgrade(&self, _held: &mut Held) {}
    #[inline(always)]
    pub fn upgrade(&self, _held: &mut Held) {}
    #[inline(always)]
    pub fn try_upgraded(&self, _held: &mut Held) {}
    #[inline(always)]
    pub fn is_held(&self) -> bool {
        false
    }
    #[inline(always)]
    pub fn held_subclass(&self) -> Option<u8> {
        None
    }
    #[inline(always)]
    pub fn held_as(&self) -> Option<HeldAs> {
        None
    }
    #[inline(always)]
    pub fn reacquire(&self, _how: HeldAs) -> Held {
        Held
    }
    #[inline(always)]
    pub fn assert_held(&self) {}
    #[inline(always)]
    pub fn assert_not_held(&self) {}
    pub fn class_name(&self) -> String {
        String::new()
    }
}

/// Checks a rare lock path (no-op in this build).
#[inline(always)]
pub fn might_lock(_class: &'static LockClass, _mode: Mode) {}
/// A point that may sleep (no-op in this build).
#[inline(always)]
pub fn might_sleep() {}
/// A point that may allocate (no-op in this build).
#[inline(always)]
pub fn might_alloc() {}
/// Runs `f` (no checks in this build).
#[inline(always)]
pub fn no_alloc<R>(f: impl FnOnce() -> R) -> R {
    f()
}
/// Runs `f` (no checks in this build).
#[inline(always)]
pub fn atomic_section<R>(f: impl FnOnce() -> R) -> R {
    f()
}
/// Runs `f` (no checks in this build).
#[inline(always)]
pub fn lock_internals<R>(f: impl FnOnce() -> R) -> R {
    f()
}
/// Runs `f` (no checks in this build).
#[inline(always)]
pub fn allocation_path<R>(f: impl FnOnce() -> R) -> R {
    f()
}
/// Checks no locks are held (no-op in this build).
#[inline(always)]
pub fn assert_no_locks_held() {}
/// The locks the current thread holds: none are tracked in this build.
pub fn held_locks() -> Vec<HeldLock> {
    Vec::new()
}
/// Runs `f`; no reports are raised in this build.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<Report>) {
    (f(), Vec::new())
}
/// Runs `f`; no reports are raised in this build.
pub fn capture_all<R>(f: impl FnOnce() -> R) -> (R, Vec<Report>) {
    (f(), Vec::new())
}
/// Sets the action (nothing to act on in this build).
pub fn set_action(_action: Action) {}
/// The action: `Off`, in this build.
pub fn action() -> Action {
    Action::Off
}
/// Sets the report handler (nothing to report in this build).
pub fn set_handler(_handler: Option<fn(&Report)>) {}
/// Sets the bounds (nothing to bound in this build).
pub fn set_limits(_limits: Limits) -> Result<(), LimitsError> {
    Ok(())
}
/// Allows an order (nothing to allow in this build).
pub fn allow_order(_from: &'static LockClass, _to: &'static LockClass, _reason: &str) {}
/// Unused suppressions: none in this build.
pub fn unused_suppressions() -> Vec<SuppressionRecord> {
    Vec::new()
}
/// The graph: empty in this build.
pub fn graph() -> GraphSnapshot {
    GraphSnapshot::default()
}
/// Writes the graph: nothing to write in this build.
pub fn dump() -> std::io::Result<()> {
    Ok(())
}

/// A future whose held locks would be its own (in this build, exactly the
/// future: nothing is tracked).
#[repr(transparent)]
pub struct Tracked<F> {
    fut: F,
}

/// Makes `fut` a tracked task (in this build, `fut` itself, wrapped).
#[inline(always)]
pub fn tracked<F: core::future::Future>(fut: F) -> Tracked<F> {
    Tracked { fut }
}

/// [`tracked`], named (the name is dropped unread in this build).
#[inline(always)]
pub fn tracked_named<F: core::future::Future>(
    _name: impl Into<std::borrow::Cow<'static, str>>,
    fut: F,
) -> Tracked<F> {
    Tracked { fut }
}

/// Whether inside a tracked task's poll: never known in this build.
#[inline(always)]
pub fn in_tracked_task() -> bool {
    false
}

/// Before a poll of task `id` (nothing is tracked in this build).
#[inline(always)]
pub fn task_poll_begin(_id: u64) {}

/// After a poll of task `id` (nothing is tracked in this build).
#[inline(always)]
pub fn task_poll_end(_id: u64) {}

/// Names task `id` (the name is dropped unread in this build).
#[inline(always)]
pub fn task_name(_id: u64, _name: impl Into<std::borrow::Cow<'static, str>>) {}

/// Task `id` ended (nothing is kept in this build).
#[inline(always)]
pub fn task_end(_id: u64) {}

impl<F> Tracked<F> {
    /// The task's name: none is kept in this build.
    pub fn name(&self) -> Option<&str> {
        None
    }
}

impl<F: core::future::Future> core::future::Future for Tracked<F> {
    type Output = F::Output;

    #[inline(always)]
    fn poll(
        self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned: `Tracked` never moves it
        // out and has no `Drop` of its own, and it is `Unpin` only if `F` is.
        unsafe { self.map_unchecked_mut(|t| &mut t.fut) }.poll(cx)
    }
}

impl<F> core::fmt::Debug for Tracked<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tracked").finish_non_exhaustive()
    }
}

/// A `GlobalAlloc` wrapper that checks allocations when validation is
/// compiled in; in this build, exactly the inner allocator.
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

// SAFETY: every method forwards to `inner` unchanged.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CheckedAlloc<A> {
    #[inline(always)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds the contract.
        unsafe { self.inner.alloc(layout) }
    }
    #[inline(always)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds the contract.
        unsafe { self.inner.alloc_zeroed(layout) }
    }
    #[inline(always)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds the contract.
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }
    #[inline(always)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; the caller upholds the contract.
        unsafe { self.inner.dealloc(ptr, layout) }
    }
}
