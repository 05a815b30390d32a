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

/// Where a class's flags sit in a `LockMap`'s cached bits (`class id |
/// flags << CLASS_FLAGS_SHIFT`): the byte a held-stack slot id keeps its
/// context flags in, so the cached bits are a slot id's class and context.
pub(crate) const CLASS_FLAGS_SHIFT: u32 = 56;

/// The instance used by `might_lock`: no real `LockMap` lives at address 1.
pub(crate) const PSEUDO_INSTANCE: usize = 1;

/// The instance of an entry merged under a nest lock once the lock it
/// recorded is released and others of its class remain: they are matched
/// by class alone. No real `LockMap` lives at address 2.
pub(crate) const SHARED: usize = 2;

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

impl How {
    /// The held-entry flags an acquisition made this way starts with. They
    /// belong to the chain key: a chain validated under a nest lock or in a
    /// stated order must not stand for the same classes nested plainly.
    #[inline]
    pub fn flags(self) -> u8 {
        match self {
            How::Blocking => 0,
            How::Try => E_TRY,
            How::Nest(_) => E_NEST,
            How::Ordered(_) => E_ORDERED,
            How::Alloc => E_ALLOC,
        }
    }
}

/// One acquisition to validate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Acq {
    pub instance: usize,
    /// `class id | class flags << CLASS_FLAGS_SHIFT`.
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
        (self.bits >> CLASS_FLAGS_SHIFT) as u32
    }

    /// The class flags that shape the context while it is held.
    #[inline]
    pub fn ctx(&self) -> u8 {
        (self.class_flags() & (FLAG_ATOMIC | FLAG_NO_ALLOC)) as u8
    }

    /// An ordinary blocking acquisition from its slot id (see [`slot_id`]).
    #[inline]
    pub fn blocking(instance: usize, id: u64, site: &'static Location<'static>) -> Acq {
        Acq {
            instance,
            bits: id & (u64::from(u32::MAX) | u64::from(u8::MAX) << CLASS_FLAGS_SHIFT),
            mode: Mode::from_bits((id >> 40) as u8),
            subclass: (id >> 32) as u8,
            how: How::Blocking,
            site,
        }
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

/// One held-stack slot, stored field by field so the fast path writes only
/// the words it must: `id`, `site`, `prev_key` (and the instance, kept apart).
/// `refs` and `order` are meaningful only under `E_NEST` / `E_ORDERED`.
struct Slot {
    /// `class | subclass << 32 | mode << 40 | flags << 48 | ctx << 56`: all
    /// of it is what the chain key hashes for this entry.
    id: Cell<u64>,
    site: Cell<&'static Location<'static>>,
    prev_key: Cell<u64>,
    refs: Cell<u32>,
    order: Cell<u64>,
}

/// A slot id (see [`Slot::id`]).
#[inline(always)]
fn slot_id(class: u32, subclass: u8, mode: Mode, flags: u8, ctx: u8) -> u64 {
    u64::from(class)
        | u64::from(subclass) << 32
        | (mode as u64) << 40
        | u64::from(flags) << 48
        | u64::from(ctx) << 56
}

impl Slot {
    const fn empty() -> Slot {
        Slot {
            id: Cell::new(0),
            site: Cell::new(Location::caller()),
            prev_key: Cell::new(0),
            refs: Cell::new(0),
            order: Cell::new(0),
        }
    }

    fn get(&self) -> Entry {
        let id = self.id.get();
        let flags = (id >> 48) as u8;
        Entry {
            class: id as u32,
            subclass: (id >> 32) as u8,
            mode: Mode::from_bits((id >> 40) as u8),
            flags,
            ctx: (id >> 56) as u8,
            refs: if flags & E_NEST != 0 {
                self.refs.get()
            } else {
                0
            },
            order: if flags & (E_NEST | E_ORDERED) != 0 {
                self.order.get()
            } else {
                0
            },
            site: self.site.get(),
            prev_key: self.prev_key.get(),
        }
    }

    fn set(&self, e: Entry) {
        self.id
            .set(slot_id(e.class, e.subclass, e.mode, e.flags, e.ctx));
        self.site.set(e.site);
        self.prev_key.set(e.prev_key);
        self.refs.set(e.refs);
        self.order.set(e.order);
    }
}

/// Folds one held lock into the chain key. Order matters (the key hashes the
/// sequence), and so does the mode: a cached read chain must not hide a later
/// write chain (lockdep once left the mode out and missed deadlocks).
#[inline]
pub(crate) fn mix(key: u64, class: u32, subclass: u8, mode: Mode, flags: u8, ctx: u8) -> u64 {
    mix_id(key, slot_id(class, subclass, mode, flags, ctx))
}

/// [`mix`] of a slot id (class, subclass, mode, entry flags and the class's
/// context flags, which follow from the class). The multiply spreads
/// the sequence into the high bits (the rotation and the chain table's index
/// fold them back down); the low bit is set because 0 marks an empty slot.
#[inline(always)]
fn mix_id(key: u64, id: u64) -> u64 {
    (key.rotate_left(26) ^ id).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1
}

/// The thread's validator state.
pub(crate) struct ThreadState {
    depth: Cell<usize>,
    /// The chain key of the held sequence.
    key: Cell<u64>,
    /// OR of the held entries' `ctx` (`FLAG_ATOMIC`, `FLAG_NO_ALLOC`), and
    /// `CTX_ATOMIC_SCOPE` / `CTX_UNARMED`: one byte the fast path tests.
    ctx: Cell<u8>,
    held: [Slot; MAX_DEPTH],
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
    /// Holding the graph lock (`graph::with`), which is not re-entrant.
    pub in_graph: Cell<bool>,
    /// Where a report cannot unwind (the allocator, a thread-exit destructor).
    pub no_unwind: Cell<u32>,
}

/// `ThreadState::ctx` bit: inside an `atomic_section`.
const CTX_ATOMIC_SCOPE: u8 = 1 << 6;
/// `ThreadState::ctx` bit: the thread-exit check is not armed yet.
const CTX_UNARMED: u8 = 1 << 7;
/// The `ctx` bits that send an acquisition to the slow path.
const CTX_SLOW: u8 = FLAG_ATOMIC as u8 | CTX_ATOMIC_SCOPE | CTX_UNARMED;

thread_local! {
    pub(crate) static THREAD: ThreadState = const { ThreadState::new() };
    static EXIT_CHECK: ExitCheck = const { ExitCheck };
}

/// Runs `f` on the calling thread's state. Unlike a plain `THREAD.with`, the
/// closure given to the thread-local is trivial, so the access always inlines
/// to one thread-pointer-relative address and `f` inlines after it.
#[inline(always)]
pub(crate) fn with_thread<R>(f: impl FnOnce(&ThreadState) -> R) -> R {
    let t: *const ThreadState = THREAD.with(|t| t as *const ThreadState);
    // SAFETY: `THREAD` is const-initialised and has no destructor, so its
    // storage stays valid and initialised until this thread ends; the
    // reference does not outlive this call, which runs on this thread.
    f(unsafe { &*t })
}

impl ThreadState {
    const fn new() -> ThreadState {
        ThreadState {
            depth: Cell::new(0),
            key: Cell::new(0),
            ctx: Cell::new(CTX_UNARMED),
            held: [const { Slot::empty() }; MAX_DEPTH],
            instances: [const { Cell::new(0) }; MAX_DEPTH],
            busy: Cell::new(0),
            internals: Cell::new(0),
            atomic_scopes: Cell::new(0),
            no_alloc_scopes: Cell::new(0),
            no_alloc_site: Cell::new(None),
            in_alloc: Cell::new(0),
            in_allocator: Cell::new(0),
            in_graph: Cell::new(false),
            no_unwind: Cell::new(0),
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
        t.ctx.set(if atomic_scopes != 0 {
            CTX_ATOMIC_SCOPE
        } else {
            0
        });
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

    pub fn set_instance(&self, i: usize, instance: usize) {
        self.instances[i].set(instance);
    }

    pub fn set_entry(&self, i: usize, e: Entry) {
        self.held[i].set(e);
    }

    /// Whether sleeping is forbidden here.
    #[inline]
    pub fn in_atomic(&self) -> bool {
        self.ctx.get() & (FLAG_ATOMIC as u8 | CTX_ATOMIC_SCOPE) != 0
    }

    /// Whether allocating is forbidden here.
    #[inline]
    pub fn in_no_alloc(&self) -> bool {
        self.ctx.get() & FLAG_NO_ALLOC as u8 != 0 || self.no_alloc_scopes.get() != 0
    }

    /// The fast path of every acquisition: pushes it and returns its token
    /// when it needs no check beyond a chain-cache hit. `None` leaves it to
    /// `slow::acquire`: an unarmed thread-exit check, an atomic context, a
    /// full stack, a lock already held by instance, or a chain not yet
    /// cached. Nothing is written before the decision.
    #[inline(always)]
    pub fn try_fast(
        &self,
        instance: usize,
        id: u64,
        flags: u8,
        site: &'static Location<'static>,
    ) -> Option<Held> {
        let depth = self.depth.get();
        if depth >= MAX_DEPTH || self.ctx.get() & CTX_SLOW != 0 {
            return None;
        }
        let id = id | u64::from(flags) << 48;
        let key = mix_id(self.key.get(), id);
        if depth != 0 {
            if self.instances[..depth].iter().any(|i| i.get() == instance) {
                return None;
            }
            if !graph::chain_cached(key) {
                return None;
            }
        }
        let slot = &self.held[depth];
        slot.id.set(id);
        slot.site.set(site);
        slot.prev_key.set(self.key.get());
        self.instances[depth].set(instance);
        self.depth.set(depth + 1);
        self.key.set(key);
        self.ctx.set(self.ctx.get() | (id >> 56) as u8);
        Some(Held::from_id(instance, id))
    }

    /// Any acquisition: the fast path, else the slow one.
    #[inline]
    pub fn acquire(&self, a: Acq) -> Held {
        if !matches!(a.how, How::Blocking | How::Alloc) {
            return slow::acquire(self, a);
        }
        let id = slot_id(a.class(), a.subclass, a.mode, 0, a.ctx());
        match self.try_fast(a.instance, id, a.how.flags(), a.site) {
            Some(held) => held,
            None => slow::acquire(self, a),
        }
    }

    /// The chain key with `a` pushed on the held sequence.
    #[inline]
    pub fn key_with(&self, a: &Acq) -> u64 {
        mix(
            self.key.get(),
            a.class(),
            a.subclass,
            a.mode,
            a.how.flags(),
            a.ctx(),
        )
    }

    /// Pushes a validated acquisition, arming the thread-exit check.
    pub fn push(&self, a: &Acq, key: u64, flags: u8, order: u64) -> Held {
        let depth = self.depth.get();
        let ctx = a.ctx();
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
        if self.ctx.get() & CTX_UNARMED != 0 {
            self.arm_exit_check();
        }
        Held::tracked(a.instance, a.class(), a.mode)
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
            self.ctx.set(self.ctx.get() & !CTX_UNARMED);
        }
    }

    /// The fast path of every release: the top entry, unmerged. `instance`
    /// is the lock released, `token` the instance its token names (the
    /// same in any correct use; the slow path reports a difference).
    #[inline]
    pub fn release(
        &self,
        instance: usize,
        token: usize,
        class: u32,
        site: &'static Location<'static>,
    ) {
        let i = self.depth.get().wrapping_sub(1);
        // One comparison covers both an empty stack and the bound.
        if self
            .instances
            .get(i)
            .is_some_and(|held| held.get() == instance)
        {
            let top = &self.held[i];
            let id = top.id.get();
            // The same class, and not an entry merged under a nest lock.
            if id as u32 == class && id & u64::from(E_NEST) << 48 == 0 {
                self.depth.set(i);
                self.key.set(top.prev_key.get());
                if id >> 56 != 0 {
                    self.recompute_ctx();
                }
                return;
            }
        }
        slow::release(self, instance, token, class, site);
    }

    /// The index of the entry that holds `instance`, searching from the
    /// top; failing that, an entry standing for several locks of `class`
    /// merged under a nest lock (which records only one instance, or none
    /// once that one is released: [`SHARED`]), as Linux matches by class
    /// only among merged locks.
    pub fn find(&self, instance: usize, class: u32) -> Option<usize> {
        let depth = self.depth.get();
        (0..depth)
            .rev()
            .find(|&i| self.instances[i].get() == instance)
            .or_else(|| {
                (0..depth).rev().find(|&i| {
                    let e = self.held[i].get();
                    e.flags & E_NEST != 0
                        && e.class == class
                        && (e.refs != 0 || self.instances[i].get() == SHARED)
                })
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
                mix(
                    below.prev_key,
                    below.class,
                    below.subclass,
                    below.mode,
                    below.flags,
                    below.ctx,
                )
            }
        };
        for j in i..self.depth.get() {
            let mut e = self.held[j].get();
            e.prev_key = key;
            key = mix(key, e.class, e.subclass, e.mode, e.flags, e.ctx);
            self.held[j].set(e);
        }
        self.key.set(key);
        self.recompute_ctx();
    }

    fn recompute_ctx(&self) {
        let scopes = self.ctx.get() & (CTX_ATOMIC_SCOPE | CTX_UNARMED);
        let ctx = (0..self.depth.get()).fold(scopes, |c, i| c | self.held[i].get().ctx);
        self.ctx.set(ctx);
    }

    /// Changes the mode of the held acquisition of `instance` (a downgrade,
    /// or an upgrade that did not wait); `what` names it in a report if the
    /// lock is not held.
    pub fn set_mode(
        &self,
        instance: usize,
        class: u32,
        mode: Mode,
        what: &str,
        site: &'static Location<'static>,
    ) {
        match self.find(instance, class) {
            Some(i) => {
                let mut e = self.held[i].get();
                e.mode = mode;
                self.held[i].set(e);
                self.rekey_from(i);
            }
            None => slow::not_held(self, class, what, site),
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
            ScopeKind::Atomic => {
                t.atomic_scopes.set(t.atomic_scopes.get() + 1);
                t.ctx.set(t.ctx.get() | CTX_ATOMIC_SCOPE);
            }
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
            ScopeKind::Atomic => {
                t.atomic_scopes.set(t.atomic_scopes.get() - 1);
                if t.atomic_scopes.get() == 0 {
                    t.ctx.set(t.ctx.get() & !CTX_ATOMIC_SCOPE);
                }
            }
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
