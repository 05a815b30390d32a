//! Nodes, the callbacks' answers, and the list both chains walk.
//!
//! The list is singly linked in priority order and changed only by a
//! chain's writer; every link is an atomic pointer published with Release
//! and read with Acquire, so a walker that does not exclude writers (the
//! atomic chain's calls) sees each node whole, and a node being removed keeps
//! its own `next`, so a walker standing on it goes on (RCU's `list_del`).

use core::fmt;
use core::ptr;
// The shim's atomics: std's in a build (the same types as before), loom's
// under `--cfg loom`, so the models see every link.
use kernsync_primitive::atomic::{AtomicBool, AtomicPtr, Ordering};

/// What a callback tells the walk.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    /// Done here; call the next callback (`NOTIFY_OK` / `NOTIFY_DONE`).
    Continue,
    /// Handled: call no further callback (`NOTIFY_STOP`).
    Stop,
    /// Failed with this error code (an errno, say): call no further
    /// callback (`NOTIFY_BAD`, `notifier_from_errno`).
    Fail(i32),
}

/// Why a walk ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ended {
    /// Every callback ran and continued.
    Completed,
    /// A callback returned [`Verdict::Stop`].
    Stopped,
    /// A callback returned [`Verdict::Fail`] with this code.
    Failed(i32),
}

/// What a call did: how many callbacks ran (the one that stopped or failed
/// included) and why the walk ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Outcome {
    /// Callbacks called.
    pub called: usize,
    /// Why the walk ended.
    pub ended: Ended,
}

impl Outcome {
    /// The error code, if a callback failed.
    pub fn error(&self) -> Option<i32> {
        match self.ended {
            Ended::Failed(code) => Some(code),
            _ => None,
        }
    }
}

/// The callback type of a chain of events `E`.
pub(crate) type Callback<E> = dyn Fn(&E) -> Verdict + Send + Sync;

/// One registered callback.
///
/// (Public only so the sealed `Chain` trait can name it; unnameable outside
/// the crate.)
pub struct Node<E: ?Sized + 'static> {
    /// The next node (lower or equal priority); set before publication.
    next: AtomicPtr<Node<E>>,
    priority: i32,
    /// Unregistered from inside a call of its chain: walks skip it; it is
    /// unlinked and freed by the chain's next writer.
    dead: AtomicBool,
    /// The chain's stack of dead nodes waiting to be unlinked.
    next_dead: AtomicPtr<Node<E>>,
    callback: Box<Callback<E>>,
}

/// A callback with its node allocated, not yet in any chain: made with no
/// lock held, kept, sent to another thread or dropped unused at will, and
/// linked by `register` without allocating.
pub struct Prepared<E: ?Sized + 'static> {
    pub(crate) node: Box<Node<E>>,
}

impl<E: ?Sized + 'static> Prepared<E> {
    /// Allocates the node for `callback` at `priority` (higher runs first;
    /// equal priorities run in registration order). Takes no lock.
    ///
    /// It is an allocation point for the validator (`might_alloc`), so
    /// preparing under a no-alloc class or inside `no_alloc` is reported at
    /// the caller's line even without `CheckedAlloc` installed.
    #[track_caller]
    pub fn new(
        callback: impl Fn(&E) -> Verdict + Send + Sync + 'static,
        priority: i32,
    ) -> Prepared<E> {
        kernsync_lockdep::might_alloc();
        Prepared {
            node: Box::new(Node {
                next: AtomicPtr::new(ptr::null_mut()),
                priority,
                dead: AtomicBool::new(false),
                next_dead: AtomicPtr::new(ptr::null_mut()),
                callback: Box::new(callback),
            }),
        }
    }

    /// The priority it will be registered at.
    pub fn priority(&self) -> i32 {
        self.node.priority
    }
}

impl<E: ?Sized + 'static> fmt::Debug for Prepared<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("priority", &self.node.priority)
            .finish_non_exhaustive()
    }
}

/// A chain's list, and its stack of nodes unregistered from inside calls.
pub(crate) struct List<E: ?Sized + 'static> {
    head: AtomicPtr<Node<E>>,
    dead: AtomicPtr<Node<E>>,
}

// SAFETY: the list owns its nodes; callbacks are `Send + Sync`, and every
// link is atomic.
unsafe impl<E: ?Sized + 'static> Send for List<E> {}
// SAFETY: as above: shared access only walks atomic links and calls `Sync`
// callbacks.
unsafe impl<E: ?Sized + 'static> Sync for List<E> {}

impl<E: ?Sized + 'static> List<E> {
    kernsync_primitive::const_fn! {
        /// An empty list.
        pub(crate) const fn new() -> List<E> {
            List {
                head: AtomicPtr::new(ptr::null_mut()),
                dead: AtomicPtr::new(ptr::null_mut()),
            }
        }
    }

    /// Calls every live callback in order until one stops or fails;
    /// `on_ok` sees each node whose callback continued.
    #[inline]
    pub(crate) fn walk(&self, event: &E, mut on_ok: impl FnMut(&Node<E>)) -> Outcome {
        let mut called = 0;
        // Acquire (here and for each `next`): pairs with the Release that
        // published the node, so it is seen whole.
        let mut p = self.head.load(Ordering::Acquire);
        // SAFETY: a node reached from the list stays allocated while the
        // caller's read side is held (the writer frees only after waiting
        // for it).
        while let Some(n) = unsafe { p.as_ref() } {
            if !n.dead.load(Ordering::Relaxed) {
                called += 1;
                match (n.callback)(event) {
                    Verdict::Continue => on_ok(n),
                    Verdict::Stop => {
                        return Outcome {
                            called,
                            ended: Ended::Stopped,
                        }
                    }
                    Verdict::Fail(code) => {
                        return Outcome {
                            called,
                            ended: Ended::Failed(code),
                        }
                    }
                }
            }
            p = n.next.load(Ordering::Acquire);
        }
        Outcome {
            called,
            ended: Ended::Completed,
        }
    }

    /// [`walk`](List::walk), and on a failure the callbacks that continued
    /// are called again with `rollback`, in reverse order, from the nodes
    /// this walk saw (the same snapshot). The first 32 are kept on the stack;
    /// a longer run allocates.
    pub(crate) fn walk_robust(&self, event: &E, rollback: &E) -> Outcome {
        const ON_STACK: usize = 32;
        let mut first: [*const Node<E>; ON_STACK] = [ptr::null(); ON_STACK];
        let mut more: Vec<*const Node<E>> = Vec::new();
        let mut n_ok = 0;
        let outcome = self.walk(event, |n| {
            if n_ok < ON_STACK {
                first[n_ok] = n;
            } else {
                more.push(n);
            }
            n_ok += 1;
        });
        if outcome.error().is_some() {
            let back = more
                .iter()
                .rev()
                .chain(first[..n_ok.min(ON_STACK)].iter().rev());
            for &n in back {
                // SAFETY: seen by this walk, under the same read side.
                let _ = unsafe { ((*n).callback)(rollback) };
            }
        }
        outcome
    }

    /// [`insert`](List::insert) inside the validator's `no_alloc`: the
    /// `register` step of both chains, which must allocate nothing (an
    /// allocation here is reported).
    ///
    /// `#[track_caller]` like `register`, so the scope is the caller's line
    /// (each distinct problem is reported once per site).
    ///
    /// # Safety
    /// As for [`insert`](List::insert).
    #[track_caller]
    pub(crate) unsafe fn link(&self, node: *mut Node<E>) {
        kernsync_lockdep::no_alloc(|| {
            // The mutation CI builds to prove the scope works: linking that
            // allocates must be reported (tests/register_under_checked_alloc.rs).
            #[cfg(kernsync_mutant_alloc_in_register)]
            drop(std::hint::black_box(Box::new(0u8)));
            // SAFETY: the caller's contract, forwarded.
            unsafe { self.insert(node) }
        });
    }

    /// Links `node` after every node of higher or equal priority (stable
    /// among equals). The caller is the chain's only writer now. Allocates
    /// nothing.
    ///
    /// # Safety
    /// `node` is a node leaked from its `Box` (`Box::into_raw`, `Box::leak`),
    /// in no list; the list owns it from now on.
    pub(crate) unsafe fn insert(&self, node: *mut Node<E>) {
        // SAFETY: ours until published below.
        let priority = unsafe { (*node).priority };
        let mut link = &self.head;
        loop {
            let next = link.load(Ordering::Relaxed);
            // SAFETY: nodes in the list are alive; writers are serialised.
            match unsafe { next.as_ref() } {
                Some(n) if n.priority >= priority => link = &n.next,
                _ => {
                    // SAFETY: unpublished: ours.
                    unsafe { (*node).next.store(next, Ordering::Relaxed) };
                    // Release: publishes the node whole (pairs with `walk`).
                    link.store(node, Ordering::Release);
                    return;
                }
            }
        }
    }

    /// Unlinks `node` (its own `next` is kept, so a walker on it goes on).
    /// The caller is the only writer; the node is freed only after every
    /// walk that may be on it has ended.
    pub(crate) fn unlink(&self, node: *const Node<E>) {
        let mut link = &self.head;
        loop {
            let next = link.load(Ordering::Relaxed);
            if ptr::eq(next, node) {
                // SAFETY: `node` is in the list, alive.
                let after = unsafe { (*node).next.load(Ordering::Relaxed) };
                link.store(after, Ordering::Release);
                return;
            }
            // SAFETY: nodes in the list are alive; writers are serialised.
            match unsafe { next.as_ref() } {
                Some(n) => link = &n.next,
                None => unreachable!("kernsync-notifier: unlinking a node not in its chain"),
            }
        }
    }

    /// Marks `node` dead (no walk calls it from now on) and queues it for
    /// the next writer; for an unregistration from inside a call, which
    /// cannot wait for the calls in flight (its own is one). Allocates
    /// nothing and takes no lock.
    pub(crate) fn defer_removal(&self, node: *mut Node<E>) {
        // SAFETY: a registered node, alive until unlinked and freed by a
        // writer, which happens after this push.
        let n = unsafe { &*node };
        n.dead.store(true, Ordering::Relaxed);
        let mut top = self.dead.load(Ordering::Relaxed);
        loop {
            n.next_dead.store(top, Ordering::Relaxed);
            // Release: the link above is seen by the writer that pops it.
            match self
                .dead
                .compare_exchange_weak(top, node, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => top = now,
            }
        }
    }

    /// The chain's writer: unlinks every node queued by `defer_removal` and
    /// returns them as a chain through `next_dead`, to be freed by
    /// [`free_chain`] once no walk can be on them.
    pub(crate) fn unlink_dead(&self) -> *mut Node<E> {
        if self.dead.load(Ordering::Relaxed).is_null() {
            return ptr::null_mut();
        }
        // Acquire: pairs with the Release push.
        let first = self.dead.swap(ptr::null_mut(), Ordering::Acquire);
        let mut p = first;
        // SAFETY: queued nodes are alive and still linked.
        while let Some(n) = unsafe { p.as_ref() } {
            self.unlink(n);
            p = n.next_dead.load(Ordering::Relaxed);
        }
        first
    }

    /// Frees every node, for the chain's drop (no walk and no registration
    /// can be alive: the chain is borrowed by both).
    pub(crate) fn free_all(&mut self) {
        let mut p = with_mut(&mut self.head, |p| *p);
        while !p.is_null() {
            // SAFETY: owned by the list, unreachable by anyone else now.
            let node = unsafe { Box::from_raw(p) };
            p = node.next.load(Ordering::Relaxed);
        }
        with_mut(&mut self.head, |p| *p = ptr::null_mut());
        with_mut(&mut self.dead, |p| *p = ptr::null_mut());
    }

    /// How many live (not dead) callbacks are linked (for tests and Debug).
    pub(crate) fn len(&self) -> usize {
        let mut count = 0;
        let mut p = self.head.load(Ordering::Acquire);
        // SAFETY: as in `walk`: the caller holds the read side.
        while let Some(n) = unsafe { p.as_ref() } {
            count += usize::from(!n.dead.load(Ordering::Relaxed));
            p = n.next.load(Ordering::Acquire);
        }
        count
    }
}

/// `f` on the pointer an exclusively borrowed link holds: `get_mut`, which
/// loom's atomics lack.
#[cfg(not(loom))]
#[inline]
fn with_mut<T, R>(link: &mut AtomicPtr<T>, f: impl FnOnce(&mut *mut T) -> R) -> R {
    f(link.get_mut())
}

/// Under loom, its `with_mut` (the same exclusive access, checked).
#[cfg(loom)]
fn with_mut<T, R>(link: &mut AtomicPtr<T>, f: impl FnOnce(&mut *mut T) -> R) -> R {
    link.with_mut(f)
}

/// Frees a chain of dead nodes returned by [`List::unlink_dead`].
///
/// # Safety
/// The nodes are unlinked and no walk can be on them any more.
pub(crate) unsafe fn free_chain<E: ?Sized + 'static>(mut p: *mut Node<E>) {
    while !p.is_null() {
        // SAFETY: the caller's contract; each node came from Box::into_raw.
        let node = unsafe { Box::from_raw(p) };
        p = node.next_dead.load(Ordering::Relaxed);
    }
}

/// Frees one unlinked node.
///
/// # Safety
/// As for [`free_chain`].
pub(crate) unsafe fn free_node<E: ?Sized + 'static>(p: *mut Node<E>) {
    // SAFETY: the caller's contract.
    drop(unsafe { Box::from_raw(p) });
}
