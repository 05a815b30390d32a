//! The per-thread held-lock stack and the fast paths over it.
//!
//! Everything here lives in one `const`-initialised thread-local without a
//! destructor, made of `Cell`s of plain data: reading or writing it never
//! allocates, never registers anything and is safe to do from inside the
//! allocator or a thread-exit destructor. The thread-exit check is a second,
//! separate thread-local, armed on the first tracked acquisition.

use super::{config, graph, slow, Held};
use crate::class::{FLAG_ATOMIC, FLAG_NO_ALLOC};
use crate::mode::Mode;
use crate::report::HeldLock;
use crate::MAX_DEPTH;
use core::cell::Cell;
use core::panic::Location;

/// The instance used by `might_lock`: no real `LockMap` lives at address 1.
pub(crate) const PSEUDO_INSTANCE: usize = 1;

/// Entry flag: acquired by a trylock.
pub(crate) const E_TRY: u8 = 1 << 0;
/// Entry flag: acquired under a nest lock; later nest acquisitions of the
/// same class merge into this entry (`refs`).
pub(crate) const E_NEST: u8 = 1 << 1;
/// Entry flag: acquired in a stated order (`order` is its key).
pub(crate) const E_ORDERED: u8 = 1 << 2;
/// Entry flag: the allocation pseudo-lock taken by `CheckedAlloc`; its site
/// is "an allocation", not a line of code.
pub(crate) const E_ALLOC: u8 = 1 << 3;

/// How an acquisition may wait.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum How {
    /// May block: validated before it blocks.
    Blocking,
    /// An immediate trylock that succeeded: adds no edge into the lock.
    Try,
    /// Blocking, under the nest lock at this instance address.
    Nest(usize),
    /// Blocking, with this key in a stated order among its class.
    Ordered(u64),
    /// The allocation pseudo-lock, taken inside the allocator (no unwinding).
    Alloc,
}

/// One acquisition to validate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Acq {
    pub instance: usize,
    /// `class id | class flags << 32`.
    pub bits: u64,
    pub mode: Mode,
    pub subclass: u8,
    pub how: How,
    pub site: &'static Location<'static>,
}

impl Acq {
    #[inline]
    pub fn class(&self) -> u32 {
        self.bits as u32
    }
    #[inline]
    pub fn class_flags(&self) -> u32 {
        (self.bits >> 32) as u32
    }
}

/// One held lock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub class: u32,
    pub subclass: u8,
    pub mode: Mode,
    pub flags: u8,
    /// Class flags that shape the context (`FLAG_ATOMIC`, `FLAG_NO_ALLOC`).
    pub ctx: u8,
    /// Further acquisitions merged into this entry under a nest lock.
    pub refs: u32,
    /// The stated-order key (`E_ORDERED`), or the nest lock's instance (`E_NEST`).
    pub order: u64,
    pub site: &'static Location<'static>,
    /// The chain key before this entry was pushed.
    pub prev_key: u64,
}

impl Entry {
    pub(crate) const EMPTY: Entry = Entry {
        class: 0,
        subclass: 0,
        mode: Mode::Write,
        flags: 0,
        ctx: 0,
        refs: 0,
        order: 0,
        site: Location::caller(),
        prev_key: 0,
    };

    pub fn held_lock(&self) -> HeldLock {
        HeldLock {
            class: graph::class_label(self.class, self.subclass),
            mode: self.mode,
            site: if self.flags & E_ALLOC != 0 {
                crate::report::Site::Allocation
            } else {
                crate::report::Site::Code(self.site)
            },
        }
    }
}

/// Folds one held lock into the chain key. Order matters (the key hashes the
/// sequence), and so does the mode: a cached read chain must not hide a later
/// write chain (lockdep once left the mode out and missed deadlocks).
#[inline]
pub(crate) fn mix(key: u64, class: u32, subclass: u8, mode: Mode) -> u64 {
    let x = u64::from(class) | (u64::from(subclass) << 32) | ((mode as u64) << 40);
    let k = (key.rotate_left(26) ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let k = k ^ (k >> 31);
    // 0 marks an empty slot in the chain table.
    k | u64::from(k == 0)
}

/// The thread's validator state.
pub(crate) struct ThreadState {
    depth: Cell<usize>,
    /// The chain key of the held sequence.
    key: Cell<u64>,
    /// OR of the held entries' `ctx`.
    ctx: Cell<u8>,
    held: [Cell<Entry>; MAX_DEPTH],
    /// The held entries' instances, apart so the same-instance scan is tight.
    instances: [Cell<usize>; MAX_DEPTH],
    /// Inside the validator's own slow path: its allocations are its own.
    pub busy: Cell<u32>,
    /// Inside a lock's internals (`lock_internals`).
    pub internals: Cell<u32>,
    /// Inside `atomic_section`s.
    pub atomic_scopes: Cell<u32>,
    /// Inside `no_alloc` scopes, and where the outermost began.
    pub no_alloc_scopes: Cell<u32>,
    pub no_alloc_site: Cell<Option<&'static Location<'static>>>,
    /// Inside the allocation path (holding the allocation pseudo-lock).
    pub in_alloc: Cell<u32>,
    /// Inside `CheckedAlloc`'s inner allocator: the validator may not allocate.
    pub in_allocator: Cell<u32>,
    /// Where a report cannot unwind (the allocator, a thread-exit destructor).
    pub no_unwind: Cell<u32>,
    exit_armed: Cell<bool>,
}

thread_local! {
    pub(crate) static THREAD: ThreadState = const { ThreadState::new() };
    static EXIT_CHECK: ExitCheck = const { ExitCheck };
}

impl ThreadState {
    const fn new() -> ThreadState {
        ThreadState {
            depth: Cell::new(0),
            key: Cell::new(0),
            ctx: Cell::new(0),
            held: [const { Cell::new(Entry::EMPTY) }; MAX_DEPTH],
            instances: [const { Cell::new(0) }; MAX_DEPTH],
            busy: Cell::new(0),
            internals: Cell::new(0),
            atomic_scopes: Cell::new(0),
            no_alloc_scopes: Cell::new(0),
            no_alloc_site: Cell::new(None),
            in_alloc: Cell::new(0),
            in_allocator: Cell::new(0),
            no_unwind: Cell::new(0),
            exit_armed: Cell::new(false),
        }
    }

    /// A state holding `held` (entry, instance) and nothing else, to
    /// validate an acquisition recorded earlier (see `alloc::defer`).
    pub fn detached(held: &[(Entry, usize)], atomic_scopes: u32) -> Box<ThreadState> {
        let t = Box::new(ThreadState::new());
        for (i, &(e, instance)) in held.iter().enumerate() {
            t.held[i].set(e);
            t.instances[i].set(instance);
        }
        t.depth.set(held.len());
        t.atomic_scopes.set(atomic_scopes);
        t.exit_armed.set(true);
        t.rekey_from(0);
        t
    }

    #[inline]
    pub fn depth(&self) -> usize {
        self.depth.get()
    }

    #[inline]
    pub fn key(&self) -> u64 {
        self.key.get()
    }

    #[inline]
    pub fn entry(&self, i: usize) -> Entry {
        self.held[i].get()
    }

    #[inline]
    pub fn instance(&self, i: usize) -> usize {
        self.instances[i].get()
    }

    pub fn set_entry(&self, i: usize, e: Entry) {
        self.held[i].set(e);
    }

    /// Whether sleeping is forbidden here.
    #[inline]
    pub fn in_atomic(&self) -> bool {
        self.ctx.get() & FLAG_ATOMIC as u8 != 0 || self.atomic_scopes.get() != 0
    }

    /// Whether allocating is forbidden here.
    #[inline]
    pub fn in_no_alloc(&self) -> bool {
        self.ctx.get() & FLAG_NO_ALLOC as u8 != 0 || self.no_alloc_scopes.get() != 0
    }

    /// The fast path of every acquisition. Anything unusual goes to
    /// `slow::acquire`: a lock already held by instance, an atomic context, a
    /// trylock, nesting annotations, a full stack, or a chain not yet cached.
    #[inline]
    pub fn acquire(&self, a: Acq) -> Held {
        let depth = self.depth.get();
        let key = mix(self.key.get(), a.class(), a.subclass, a.mode);
        let flags = match a.how {
            How::Blocking => 0,
            How::Alloc => E_ALLOC,
            _ => return slow::acquire(self, a, key),
        };
        if depth >= MAX_DEPTH || self.in_atomic() {
            return slow::acquire(self, a, key);
        }
        if depth != 0 {
            for i in 0..depth {
                if self.instances[i].get() == a.instance {
                    return slow::acquire(self, a, key);
                }
            }
            if !graph::chain_cached(key) {
                return slow::acquire(self, a, key);
            }
        }
        self.push(&a, key, flags, 0)
    }

    /// Pushes a validated acquisition.
    #[inline]
    pub fn push(&self, a: &Acq, key: u64, flags: u8, order: u64) -> Held {
        let depth = self.depth.get();
        let ctx = (a.class_flags() & (FLAG_ATOMIC | FLAG_NO_ALLOC)) as u8;
        self.held[depth].set(Entry {
            class: a.class(),
            subclass: a.subclass,
            mode: a.mode,
            flags,
            ctx,
            refs: 0,
            order,
            site: a.site,
            prev_key: self.key.get(),
        });
        self.instances[depth].set(a.instance);
        self.depth.set(depth + 1);
        self.key.set(key);
        self.ctx.set(self.ctx.get() | ctx);
        if !self.exit_armed.get() {
            self.arm_exit_check();
        }
        Held {
            instance: a.instance,
            class: a.class(),
            mode: a.mode,
        }
    }

    /// Registers the thread-exit check. Registering a thread-local destructor
    /// may allocate, so it is done as the validator's own work, and never from
    /// inside the allocator (it is retried on a later acquisition).
    #[cold]
    fn arm_exit_check(&self) {
        if self.in_alloc.get() != 0 || self.no_unwind.get() != 0 {
            return;
        }
        let _busy = Busy::enter(self);
        if EXIT_CHECK.try_with(|_| ()).is_ok() {
            self.exit_armed.set(true);
        }
    }

    /// The fast path of every release: the top entry, unmerged.
    #[inline]
    pub fn release(&self, instance: usize, class: u32, site: &'static Location<'static>) {
        let depth = self.depth.get();
        if depth != 0 && self.instances[depth - 1].get() == instance {
            let top = self.held[depth - 1].get();
            if top.refs == 0 && top.class == class {
                self.depth.set(depth - 1);
                self.key.set(top.prev_key);
                if top.ctx != 0 {
                    self.recompute_ctx();
                }
                return;
            }
        }
        slow::release(self, instance, class, site);
    }

    /// The index of the entry that holds `instance` (or, for entries merged
    /// under a nest lock, any lock of `class`), searching from the top.
    pub fn find(&self, instance: usize, class: u32) -> Option<usize> {
        (0..self.depth.get()).rev().find(|&i| {
            self.instances[i].get() == instance
                || (self.held[i].get().flags & E_NEST != 0
                    && self.held[i].get().refs != 0
                    && self.held[i].get().class == class)
        })
    }

    /// Removes entry `i`, shifting the ones above it down.
    pub fn remove(&self, i: usize) {
        let depth = self.depth.get();
        for j in i..depth - 1 {
            self.held[j].set(self.held[j + 1].get());
            self.instances[j].set(self.instances[j + 1].get());
        }
        self.depth.set(depth - 1);
        self.rekey_from(i);
    }

    /// Recomputes chain keys and context from entry `i` up, after an entry
    /// was removed or changed mode below the top.
    pub fn rekey_from(&self, i: usize) {
        let mut key = match i {
            0 => 0,
            _ => {
                let below = self.held[i - 1].get();
                mix(below.prev_key, below.class, below.subclass, below.mode)
            }
        };
        for j in i..self.depth.get() {
            let mut e = self.held[j].get();
            e.prev_key = key;
            key = mix(key, e.class, e.subclass, e.mode);
            self.held[j].set(e);
        }
        self.key.set(key);
        self.recompute_ctx();
    }

    fn recompute_ctx(&self) {
        let ctx = (0..self.depth.get()).fold(0, |c, i| c | self.held[i].get().ctx);
        self.ctx.set(ctx);
    }

    /// Changes the mode of the held acquisition of `instance` (downgrade).
    pub fn set_mode(&self, instance: usize, class: u32, mode: Mode) {
        if let Some(i) = self.find(instance, class) {
            let mut e = self.held[i].get();
            e.mode = mode;
            self.held[i].set(e);
            self.rekey_from(i);
        }
    }

    /// Upgrades the held acquisition of `instance` to `Write`.
    pub fn upgrade(&self, instance: usize, class: u32, site: &'static Location<'static>) {
        slow::upgrade(self, instance, class, site);
    }

    /// Reports a `might_sleep` point in an atomic context.
    #[inline]
    pub fn might_sleep(&self, site: &'static Location<'static>) {
        if self.in_atomic() {
            slow::sleep_in_atomic(self, None, site);
        }
    }

    /// The held locks, outermost first.
    pub fn held_list(&self) -> Vec<HeldLock> {
        (0..self.depth.get())
            .map(|i| self.held[i].get().held_lock())
            .collect()
    }
}

/// Marks the thread as inside the validator while alive (restored on unwind).
pub(crate) struct Busy<'a>(&'a ThreadState);

impl<'a> Busy<'a> {
    pub fn enter(t: &'a ThreadState) -> Busy<'a> {
        t.busy.set(t.busy.get() + 1);
        Busy(t)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.set(self.0.busy.get() - 1);
    }
}

/// The kinds of scope a thread can be in.
#[derive(Clone, Copy)]
pub(crate) enum ScopeKind {
    NoAlloc,
    Atomic,
    Internals,
}

/// A scope (`no_alloc`, `atomic_section`, `lock_internals`), left on drop,
/// so a panic inside leaves the thread's context right.
pub(crate) struct Scope {
    kind: ScopeKind,
    prev_site: Option<&'static Location<'static>>,
}

impl Scope {
    #[inline]
    pub fn enter(kind: ScopeKind, site: &'static Location<'static>) -> Scope {
        let mut prev_site = None;
        THREAD.with(|t| match kind {
            ScopeKind::NoAlloc => {
                prev_site = t.no_alloc_site.get();
                if t.no_alloc_scopes.get() == 0 {
                    t.no_alloc_site.set(Some(site));
                }
                t.no_alloc_scopes.set(t.no_alloc_scopes.get() + 1);
            }
            ScopeKind::Atomic => t.atomic_scopes.set(t.atomic_scopes.get() + 1),
            ScopeKind::Internals => t.internals.set(t.internals.get() + 1),
        });
        Scope { kind, prev_site }
    }
}

impl Drop for Scope {
    #[inline]
    fn drop(&mut self) {
        THREAD.with(|t| match self.kind {
            ScopeKind::NoAlloc => {
                t.no_alloc_scopes.set(t.no_alloc_scopes.get() - 1);
                t.no_alloc_site.set(self.prev_site);
            }
            ScopeKind::Atomic => t.atomic_scopes.set(t.atomic_scopes.get() - 1),
            ScopeKind::Internals => t.internals.set(t.internals.get() - 1),
        });
    }
}

/// Reports locks still held when a thread exits (a leaked guard).
struct ExitCheck;

impl Drop for ExitCheck {
    fn drop(&mut self) {
        // The held stack has no destructor, so it is still readable here.
        let _ = THREAD.try_with(|t| {
            if t.depth() != 0 && config::validating() {
                t.no_unwind.set(t.no_unwind.get() + 1);
                slow::held_at_exit(t);
                t.no_unwind.set(t.no_unwind.get() - 1);
            }
        });
    }
}
