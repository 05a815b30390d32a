//! The per-thread held-lock stack and the fast paths over it.
//!
//! Everything here lives in one `const`-initialised thread-local without a
//! destructor, made of `Cell`s of plain data: reading or writing it never
//! allocates, never registers anything and is safe to do from inside the
//! allocator or a thread-exit destructor. This layer only keeps the stack:
//! it decides nothing but "the chain is cached" and reports nothing (the
//! thread-exit check and every report live above it).

use super::chains;
use super::entry::{Acq, Entry, EntryId, Held, How, E_NEST, E_ORDERED};
use crate::class::{FLAG_ATOMIC, FLAG_NO_ALLOC};
use crate::limits::MAX_DEPTH;
use crate::mode::Mode;
use core::cell::Cell;
use core::panic::Location;

/// The instance used by `might_lock`: no real `LockMap` lives at address 1.
pub(crate) const PSEUDO_INSTANCE: usize = 1;

/// The instance of an entry merged under a nest lock once the lock it
/// recorded is released and others of its class remain: they are matched
/// by class alone. No real `LockMap` lives at address 2.
pub(crate) const SHARED: usize = 2;

/// One held-stack slot, stored field by field so the fast path writes only
/// the words it must: `id`, `site`, `prev_key` (and the instance, kept apart).
/// `refs` and `order` are meaningful only under `E_NEST` / `E_ORDERED`.
struct Slot {
    id: Cell<EntryId>,
    site: Cell<&'static Location<'static>>,
    prev_key: Cell<u64>,
    refs: Cell<u32>,
    order: Cell<u64>,
}

impl Slot {
    const fn empty() -> Slot {
        Slot {
            id: Cell::new(EntryId::NONE),
            site: Cell::new(Location::caller()),
            prev_key: Cell::new(0),
            refs: Cell::new(0),
            order: Cell::new(0),
        }
    }

    /// The entry; `refs` and `order` read as 0 unless its flags give them
    /// a meaning (the fast path does not write them).
    fn get(&self) -> Entry {
        let id = self.id.get();
        Entry {
            id,
            refs: if id.has(E_NEST) { self.refs.get() } else { 0 },
            order: if id.has(E_NEST | E_ORDERED) {
                self.order.get()
            } else {
                0
            },
            site: self.site.get(),
            prev_key: self.prev_key.get(),
        }
    }

    fn set(&self, e: Entry) {
        self.id.set(e.id);
        self.site.set(e.site);
        self.prev_key.set(e.prev_key);
        self.refs.set(e.refs);
        self.order.set(e.order);
    }
}

/// `ThreadState::ctx` bit: inside an `atomic_section`.
const CTX_ATOMIC_SCOPE: u8 = 1 << 6;
/// `ThreadState::ctx` bit: the thread-exit check is not armed yet.
const CTX_UNARMED: u8 = 1 << 7;
/// The `ctx` bits that send an acquisition to the slow path.
const CTX_SLOW: u8 = FLAG_ATOMIC as u8 | CTX_ATOMIC_SCOPE | CTX_UNARMED;

/// The thread's validator state.
pub(crate) struct ThreadState {
    depth: Cell<usize>,
    /// The chain key of the held sequence.
    key: Cell<u64>,
    /// OR of the held entries' context bytes (`FLAG_ATOMIC`,
    /// `FLAG_NO_ALLOC`), and `CTX_ATOMIC_SCOPE` / `CTX_UNARMED`: one byte
    /// the fast path tests.
    ctx: Cell<u8>,
    held: [Slot; MAX_DEPTH],
    /// The held entries' instances, apart so the same-instance scan is tight.
    instances: [Cell<usize>; MAX_DEPTH],
    /// Inside the validator's own slow path: its allocations are its own.
    pub busy: Cell<u32>,
    /// Inside a lock's internals (`lock_internals`).
    pub internals: Cell<u32>,
    /// Inside `atomic_section`s.
    atomic_scopes: Cell<u32>,
    /// Inside `no_alloc` scopes, and where the outermost began.
    no_alloc_scopes: Cell<u32>,
    no_alloc_site: Cell<Option<&'static Location<'static>>>,
    /// Inside the allocation path (holding the allocation pseudo-lock).
    pub in_alloc: Cell<u32>,
    /// Inside `CheckedAlloc`'s inner allocator: the validator may not allocate.
    pub in_allocator: Cell<u32>,
    /// Holding the graph lock (`graph::with`), which is not re-entrant.
    pub in_graph: Cell<bool>,
    /// Where a report cannot unwind (the allocator, a thread-exit destructor).
    pub no_unwind: Cell<u32>,
    /// Inside a tracked task's poll (or drop): the innermost task, whose
    /// held entries sit on top of the stack (see `task`).
    pub task: Cell<Option<TaskName>>,
}

/// The name of the task being polled on a thread (`None` inside: unnamed),
/// set by a tracked or hooked poll for its duration and restored when it
/// ends. One word: a pointer to the name's place in the `Tracked`, or in the
/// task state a hooked poll owns (`hooks`).
#[derive(Clone, Copy)]
pub(crate) struct TaskName(pub core::ptr::NonNull<Option<std::borrow::Cow<'static, str>>>);

impl TaskName {
    /// The name, as a report shows it.
    ///
    /// # Safety
    ///
    /// The name must still be alive: read it only on the thread whose
    /// `ThreadState::task` holds it, while that field does (a tracked poll
    /// sets it from its own `Tracked`, which it borrows, and restores the
    /// previous value before it returns or unwinds; a hooked poll sets it
    /// from the task state its open entry owns, and restores it before it
    /// frees that state, at `task_poll_end` or the thread's exit).
    pub unsafe fn get(&self) -> Option<&str> {
        // SAFETY: the caller's contract: the `Tracked` (or hooked task state)
        // the name lives in is held by the poll that is running, which does
        // not change it.
        unsafe { self.0.as_ref() }.as_deref()
    }
}

thread_local! {
    static THREAD: ThreadState = const { ThreadState::new() };
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
            task: Cell::new(None),
        }
    }

    /// A state holding `held` (entry, instance) and nothing else, to
    /// validate an acquisition recorded earlier (inside the allocator).
    pub fn detached(held: &[(Entry, usize)], atomic: bool) -> Box<ThreadState> {
        let t = Box::new(ThreadState::new());
        for (i, &(e, instance)) in held.iter().enumerate() {
            t.held[i].set(e);
            t.instances[i].set(instance);
        }
        t.depth.set(held.len());
        t.atomic_scopes.set(u32::from(atomic));
        t.ctx.set(if atomic { CTX_ATOMIC_SCOPE } else { 0 });
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

    /// The held entries with their instances, outermost first.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = (Entry, usize)> + '_ {
        (0..self.depth()).map(|i| (self.entry(i), self.instance(i)))
    }

    /// Whether sleeping is forbidden here.
    #[inline]
    pub fn in_atomic(&self) -> bool {
        self.ctx.get() & (FLAG_ATOMIC as u8 | CTX_ATOMIC_SCOPE) != 0
    }

    /// Whether inside an `atomic_section`.
    pub fn in_atomic_scope(&self) -> bool {
        self.atomic_scopes.get() != 0
    }

    /// Whether allocating is forbidden here.
    #[inline]
    pub fn in_no_alloc(&self) -> bool {
        self.ctx.get() & FLAG_NO_ALLOC as u8 != 0 || self.no_alloc_scopes.get() != 0
    }

    /// Where the outermost `no_alloc` scope began, if inside one.
    pub fn no_alloc_site(&self) -> Option<&'static Location<'static>> {
        self.no_alloc_site.get()
    }

    /// Whether the thread-exit check still has to be armed.
    #[inline]
    pub fn unarmed(&self) -> bool {
        self.ctx.get() & CTX_UNARMED != 0
    }

    /// The thread-exit check is armed.
    pub fn set_armed(&self) {
        self.ctx.set(self.ctx.get() & !CTX_UNARMED);
    }

    /// The fast path of every cacheable acquisition: pushes it and returns
    /// its token when a chain-cache hit settles it. `None` leaves it to the
    /// slow path: an unarmed thread-exit check, an atomic context, a full
    /// stack, a lock already held by instance, or a chain not yet cached.
    /// Nothing is written before the decision.
    #[inline(always)]
    pub fn try_fast(
        &self,
        instance: usize,
        id: EntryId,
        site: &'static Location<'static>,
    ) -> Option<Held> {
        let depth = self.depth.get();
        if depth >= MAX_DEPTH || self.ctx.get() & CTX_SLOW != 0 {
            return None;
        }
        let key = id.mix_into(self.key.get());
        if depth != 0 {
            if self.instances[..depth].iter().any(|i| i.get() == instance) {
                return None;
            }
            if !chains::cached(key) {
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
        self.ctx.set(self.ctx.get() | id.ctx());
        Some(Held::new(instance, id))
    }

    /// The subclass for one more lock of `class` on this thread, taken by
    /// depth: one above the highest subclass of `class` held, 0 if none;
    /// `None` past the eight. The lock `instance` already held keeps its
    /// subclass, so taking it again is named as the same lock.
    #[inline]
    pub fn next_subclass(&self, class: u32, instance: usize) -> Option<u8> {
        let mut next = 0;
        for i in 0..self.depth.get() {
            let id = self.held[i].id.get();
            if id.class() == class {
                if self.instances[i].get() == instance {
                    return Some(id.subclass());
                }
                next = next.max(id.subclass() + 1);
            }
        }
        (next < 8).then_some(next)
    }

    /// [`try_fast`](Self::try_fast) for a lock taken by depth: its subclass
    /// is picked here, from the held stack, in the same visit. `Err`: not
    /// settled, with the id in its subclass, for the slow path; `Ok` with
    /// an untracked token past the eight subclasses.
    #[inline(always)]
    pub fn try_fast_by_depth(
        &self,
        instance: usize,
        id: EntryId,
        site: &'static Location<'static>,
    ) -> Result<Held, EntryId> {
        let Some(sub) = self.next_subclass(id.class(), instance) else {
            return Ok(Held::UNTRACKED);
        };
        let id = id.with_subclass(sub);
        self.try_fast(instance, id, site).ok_or(id)
    }

    /// The chain key with `a` pushed on the held sequence.
    #[inline]
    pub fn key_with(&self, a: &Acq) -> u64 {
        a.id().mix_into(self.key.get())
    }

    /// Pushes a validated acquisition with its chain key. The caller checked
    /// the depth bound.
    pub fn push(&self, a: &Acq, key: u64) -> Held {
        let depth = self.depth.get();
        let id = a.id();
        self.held[depth].set(Entry {
            id,
            refs: 0,
            order: a.how.order(),
            site: a.site,
            prev_key: self.key.get(),
        });
        self.instances[depth].set(a.instance);
        self.depth.set(depth + 1);
        self.key.set(key);
        self.ctx.set(self.ctx.get() | id.ctx());
        Held::new(a.instance, id)
    }

    /// Whether `a`, under a nest lock, joins the top entry (the same class
    /// and subclass, itself taken under a nest lock).
    pub fn merges_into_top(&self, a: &Acq) -> bool {
        let depth = self.depth();
        matches!(a.how, How::Nest(_)) && depth != 0 && {
            let top = self.entry(depth - 1).id;
            top.has(E_NEST) && top.node() == a.node()
        }
    }

    /// Counts `a` into the top entry instead of pushing it.
    pub fn merge_into_top(&self, a: &Acq) -> Held {
        let top = &self.held[self.depth() - 1];
        top.refs.set(top.refs.get() + 1);
        Held::new(a.instance, a.id())
    }

    /// The fast path of every release: the top entry, unmerged, of this
    /// instance and class. False leaves it to the slow path.
    #[inline(always)]
    pub fn try_release_top(&self, instance: usize, class: u32) -> bool {
        let i = self.depth.get().wrapping_sub(1);
        // One comparison covers both an empty stack and the bound.
        if self.instances.get(i).is_none_or(|h| h.get() != instance) {
            return false;
        }
        let top = &self.held[i];
        let id = top.id.get();
        // The same class, and not an entry merged under a nest lock.
        if id.class() != class || id.has(E_NEST) {
            return false;
        }
        self.depth.set(i);
        self.key.set(top.prev_key.get());
        // An entry with any class flag (an atomic, no-alloc or awaitable
        // class) recomputes the context: testing for the flags that matter
        // would cost every other release an instruction (measured).
        if id.ctx() != 0 {
            self.recompute_ctx();
        }
        true
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
                    e.id.has(E_NEST)
                        && e.id.class() == class
                        && (e.refs != 0 || self.instances[i].get() == SHARED)
                })
            })
    }

    /// The innermost entry recording `instance` itself (not a merged one).
    pub fn find_exact(&self, instance: usize) -> Option<usize> {
        (0..self.depth.get())
            .rev()
            .find(|&i| self.instances[i].get() == instance)
    }

    /// Removes the entries recording `instance` with a class other than
    /// `class`: they stand for a lock freed (unseen) while held.
    pub fn drop_stale(&self, instance: usize, class: u32) {
        while let Some(i) = (0..self.depth.get()).rev().find(|&i| {
            self.instances[i].get() == instance && self.held[i].id.get().class() != class
        }) {
            self.release_index(i, instance);
        }
    }

    /// Releases `instance` held at entry `i`: one merged lock out of a nest
    /// entry, or the entry itself.
    pub fn release_index(&self, i: usize, instance: usize) {
        match self.held[i].get().refs {
            0 => self.remove(i),
            refs => {
                self.held[i].refs.set(refs - 1);
                if self.instances[i].get() == instance {
                    // The lock the merged entry recorded is gone; the others
                    // of its class are matched by class from now on.
                    self.instances[i].set(SHARED);
                }
            }
        }
    }

    /// Removes entry `i`, shifting the ones above it down.
    fn remove(&self, i: usize) {
        let depth = self.depth.get();
        for j in i..depth - 1 {
            self.held[j].set(self.held[j + 1].get());
            self.instances[j].set(self.instances[j + 1].get());
        }
        self.depth.set(depth - 1);
        self.rekey_from(i);
    }

    /// Sets the mode of entry `i` (and optionally its site), re-keying the
    /// chain from it up.
    pub fn set_mode(&self, i: usize, mode: Mode, site: Option<&'static Location<'static>>) {
        let slot = &self.held[i];
        slot.id.set(slot.id.get().with_mode(mode));
        if let Some(site) = site {
            slot.site.set(site);
        }
        self.rekey_from(i);
    }

    /// Recomputes chain keys and context from entry `i` up, after an entry
    /// was removed or changed mode below the top.
    fn rekey_from(&self, i: usize) {
        let mut key = match i {
            0 => 0,
            _ => {
                let below = &self.held[i - 1];
                below.id.get().mix_into(below.prev_key.get())
            }
        };
        for slot in &self.held[i..self.depth.get()] {
            slot.prev_key.set(key);
            key = slot.id.get().mix_into(key);
        }
        self.key.set(key);
        self.recompute_ctx();
    }

    // ------------------------------------------------------------ tasks

    /// What identifies entry `i` across a tracked poll, without what a
    /// poll may change in a lock the thread held before it (its mode: a
    /// downgrade; its site: an upgrade; its merge count): class, subclass,
    /// entry flags and instance.
    pub fn stamp(&self, i: usize) -> u64 {
        let id = self.held[i].id.get().with_mode(Mode::Write);
        id.mix_into(self.instances[i].get() as u64)
    }

    /// Pushes an entry a tracked task saved (validated when it was taken),
    /// re-keyed above what the thread holds. The caller checked the bound.
    pub fn push_saved(&self, e: Entry, instance: usize) {
        let depth = self.depth.get();
        let key = self.key.get();
        self.held[depth].set(Entry { prev_key: key, ..e });
        self.instances[depth].set(instance);
        self.depth.set(depth + 1);
        self.key.set(e.id.mix_into(key));
        self.ctx.set(self.ctx.get() | e.id.ctx());
    }

    /// Pops the entries from `k` up (a tracked task's, going back to it),
    /// keeping the key and the held part of `ctx` right for what is left.
    pub fn truncate(&self, k: usize) {
        let depth = self.depth.get();
        if k < depth {
            self.key.set(self.held[k].prev_key.get());
            self.depth.set(k);
            self.recompute_ctx();
        }
    }

    fn recompute_ctx(&self) {
        let scopes = self.ctx.get() & (CTX_ATOMIC_SCOPE | CTX_UNARMED);
        let held = &self.held[..self.depth.get()];
        self.ctx
            .set(held.iter().fold(scopes, |c, s| c | s.id.get().ctx()));
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

/// Marks a region as one where a report cannot unwind (the allocator, a
/// thread-exit destructor) while alive, when `on`.
pub(crate) struct NoUnwind<'a>(&'a ThreadState, bool);

impl<'a> NoUnwind<'a> {
    pub fn enter(t: &'a ThreadState, on: bool) -> NoUnwind<'a> {
        if on {
            t.no_unwind.set(t.no_unwind.get() + 1);
        }
        NoUnwind(t, on)
    }
}

impl Drop for NoUnwind<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.no_unwind.set(self.0.no_unwind.get() - 1);
        }
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
        with_thread(|t| match kind {
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
        with_thread(|t| match self.kind {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enabled::entry::ClassBits;

    fn acq(class: u32, flags: u32, instance: usize) -> Acq {
        Acq {
            instance,
            serial: 0,
            class: ClassBits::new(class, flags),
            mode: Mode::Write,
            subclass: 0,
            how: How::Blocking,
            site: Location::caller(),
        }
    }

    fn push(t: &ThreadState, a: &Acq) {
        let _ = t.push(a, t.key_with(a));
    }

    /// A task's entries pushed back (re-keyed above the thread's) give the
    /// key and context a plain push would, and popping them restores the
    /// thread's key and context, scope bits included.
    #[test]
    fn saved_entries_rekey_and_restore() {
        let (t, plain) = (ThreadState::new(), ThreadState::new());
        let thread_own = acq(1, 0, 0x100);
        let task = [acq(2, FLAG_NO_ALLOC, 0x200), acq(3, 0, 0x300)];
        push(&t, &thread_own);
        push(&plain, &thread_own);
        let (key, ctx) = (t.key(), t.ctx.get());
        for a in &task {
            push(&plain, a);
        }
        let saved: Vec<_> = plain.entries().skip(1).collect();
        for &(e, instance) in &saved {
            t.push_saved(e, instance);
        }
        assert_eq!(
            (t.depth(), t.key(), t.ctx.get()),
            (3, plain.key(), plain.ctx.get())
        );
        assert!(t.in_no_alloc());
        assert_eq!(t.stamp(2), plain.stamp(2));
        t.truncate(1);
        assert_eq!((t.depth(), t.key(), t.ctx.get()), (1, key, ctx));
        assert!(!t.in_no_alloc() && t.unarmed(), "scope bits stay");
    }

    /// A stamp does not change with the mode (a downgrade in a poll).
    #[test]
    fn stamps_ignore_the_mode() {
        let t = ThreadState::new();
        push(&t, &acq(1, 0, 0x100));
        let before = t.stamp(0);
        t.set_mode(0, Mode::Read, None);
        assert_eq!(t.stamp(0), before);
    }
}
