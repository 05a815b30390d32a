//! `NotifierChain`: callbacks that may block, walked under a `PercpuRwSem`.

use core::fmt;
use core::ptr::NonNull;
use std::sync::Arc;

use core::panic::Location;
use kernsync_lockdep::{LockClass, LockMap};

use crate::OWNER;

use kernsync_percpu::PercpuRwSem;

use crate::node::{free_chain, free_node, List, Node, Outcome, Prepared, Verdict};
use crate::registration::{sealed, RegistrationOn};

/// A chain of callbacks that may block (Linux's blocking notifier chain),
/// called in priority order under the read side of a
/// [`PercpuRwSem`]: a call costs a read of that lock (a store to the thread's
/// own slot) plus the callbacks; `register` and `unregister` are its rare
/// writers.
///
/// - [`prepare`](NotifierChain::prepare) allocates a node with no lock held;
///   [`register`](NotifierChain::register) links it under the write side
///   inside the validator's `no_alloc`, allocating nothing.
/// - Dropping or [`unregister`](Registration::unregister)ing a
///   [`Registration`] returns once no call can still run its callback.
///   From inside a call of the same chain it cannot wait (the call is its
///   own reader): the callback is marked dead (skipped by every walk from
///   then on; a `call_robust` already under way still rolls it back if it
///   had run, since the rollback covers exactly the callbacks that saw the
///   event) and unlinked and freed by the chain's next writer.
/// - `register` from inside a call of the same chain would wait for itself:
///   it panics with a message saying so (prepare inside, register outside).
/// - Calls see the chain as it was before or after a change, never half of
///   one: writers exclude calls.
///
/// ```
/// use kernsync_notifier::{NotifierChain, Verdict};
///
/// static REBOOT: NotifierChain<&str> = NotifierChain::new();
/// let prepared = REBOOT.prepare(|why: &&str| { assert_eq!(*why, "halt"); Verdict::Continue }, 0);
/// let reg = REBOOT.register(prepared); // allocates nothing
/// assert_eq!(REBOOT.call(&"halt").called, 1);
/// reg.unregister(); // no call can still run it
/// assert_eq!(REBOOT.call(&"halt").called, 0);
/// ```
pub struct NotifierChain<E: ?Sized + 'static> {
    lock: PercpuRwSem<()>,
    list: List<E>,
}

/// A callback registered on a [`NotifierChain`] it borrows; unregistered
/// when dropped (see [`RegistrationOn`]).
pub type Registration<'a, E> = RegistrationOn<&'a NotifierChain<E>>;

/// A callback registered on a [`NotifierChain`] it keeps alive through an
/// `Arc`; unregistered when dropped (see [`RegistrationOn`]).
pub type ArcRegistration<E> = RegistrationOn<Arc<NotifierChain<E>>>;

impl<E: ?Sized + 'static> NotifierChain<E> {
    /// An empty chain whose lock's class is the caller's line, shown as
    /// `notifier chain <file:line:col>` in reports.
    #[track_caller]
    pub const fn new() -> NotifierChain<E> {
        NotifierChain::with_map(LockMap::owned_by(OWNER, Location::caller(), None))
    }

    /// An empty chain whose lock's class is the caller's line and `name`,
    /// shown as `notifier chain <name>` in reports: chains made at one line
    /// with different names are of different classes.
    #[track_caller]
    pub const fn named(name: &'static str) -> NotifierChain<E> {
        NotifierChain::with_map(LockMap::owned_by(OWNER, Location::caller(), Some(name)))
    }

    const fn with_map(map: LockMap) -> NotifierChain<E> {
        NotifierChain {
            lock: PercpuRwSem::with_map((), map),
            list: List::new(),
        }
    }

    /// An empty chain whose lock is of class `class` (statics, and chains
    /// made in one place for many objects).
    pub const fn with_class(class: &'static LockClass) -> NotifierChain<E> {
        NotifierChain {
            lock: PercpuRwSem::with_class((), class),
            list: List::new(),
        }
    }

    /// Allocates a node for `callback` at `priority` (higher first), and
    /// readies this thread for `register` and `call` on this chain: what
    /// they would allocate on the thread's first use (the parking lot's
    /// thread data, the thread's reader slot of the chain's lock) is made
    /// here. Otherwise [`Prepared::new`]. Waits for no lock of the chain:
    /// call it before taking the locks `register` will be called under.
    #[track_caller]
    pub fn prepare(
        &self,
        callback: impl Fn(&E) -> Verdict + Send + Sync + 'static,
        priority: i32,
    ) -> Prepared<E> {
        let prepared = Prepared::new(callback, priority);
        self.warm_up();
        prepared
    }

    /// Links a prepared callback under the chain's write side (waiting for
    /// the calls in flight), allocating nothing: the linking runs inside the
    /// validator's `no_alloc`. The registration borrows the chain; on an
    /// `Arc`, [`register_arc`](NotifierChain::register_arc) gives one that
    /// keeps it alive instead.
    ///
    /// # Panics
    /// From inside a call of this chain (the write side would wait for that
    /// call, which is this thread).
    #[track_caller]
    pub fn register(&self, prepared: Prepared<E>) -> Registration<'_, E> {
        RegistrationOn::link(self, prepared)
    }

    /// [`register`](NotifierChain::register), with a registration that holds
    /// a clone of the `Arc` (parking_lot's `lock_arc`): it may be stored in
    /// an object or taken by its own callback, and the chain lives as long
    /// as it does. The same guarantees as the borrowed form.
    ///
    /// # Panics
    /// From inside a call of this chain, as `register`.
    #[track_caller]
    pub fn register_arc(self: &Arc<Self>, prepared: Prepared<E>) -> ArcRegistration<E> {
        RegistrationOn::link(Arc::clone(self), prepared)
    }

    /// [`prepare`](NotifierChain::prepare) and
    /// [`register`](NotifierChain::register) at once, for callers that hold
    /// no lock `register` could conflict with.
    #[track_caller]
    pub fn subscribe(
        &self,
        callback: impl Fn(&E) -> Verdict + Send + Sync + 'static,
        priority: i32,
    ) -> Registration<'_, E> {
        self.register(Prepared::new(callback, priority))
    }

    /// [`subscribe`](NotifierChain::subscribe) with an owning registration
    /// (see [`register_arc`](NotifierChain::register_arc)).
    #[track_caller]
    pub fn subscribe_arc(
        self: &Arc<Self>,
        callback: impl Fn(&E) -> Verdict + Send + Sync + 'static,
        priority: i32,
    ) -> ArcRegistration<E> {
        self.register_arc(Prepared::new(callback, priority))
    }

    /// Calls the callbacks in priority order until one stops or fails.
    #[inline]
    #[track_caller]
    pub fn call(&self, event: &E) -> Outcome {
        let _r = self.lock.read();
        self.list.walk(event, |_| {})
    }

    /// [`call`](NotifierChain::call); if a callback fails, the callbacks that
    /// had continued are called with `rollback`, in reverse order, from the
    /// same snapshot of the chain (the read side is held throughout).
    ///
    /// Linux's `notifier_call_chain_robust` rolls back in forward order; CPU
    /// hotplug tears its states down in reverse, and so do we. More than 32
    /// callbacks continuing before the failure costs an allocation.
    #[track_caller]
    pub fn call_robust(&self, event: &E, rollback: &E) -> Outcome {
        let _r = self.lock.read();
        self.list.walk_robust(event, rollback)
    }

    /// How many callbacks are registered (not counting ones unregistered
    /// from inside a call and not yet unlinked).
    #[track_caller]
    pub fn len(&self) -> usize {
        let _r = self.lock.read();
        self.list.len()
    }

    /// Whether no callback is registered.
    #[track_caller]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What `prepare` does so that this thread's `register` and first
    /// `call` allocate nothing (the `warm` module says what and why).
    fn warm_up(&self) {
        crate::warm::thread_parking();
        // The thread's reader slot of this chain's lock, which a first read
        // allocates. A try: it cannot wait, so it orders nothing (no edge
        // into the lock). Skipped inside a call, which has the slot already
        // (and a second read would be recursive).
        if !self.lock.is_read_held_by_current_thread() {
            drop(self.lock.try_read());
        }
    }
}

impl<E: ?Sized + 'static> sealed::Chain for NotifierChain<E> {
    type Event = E;

    #[track_caller]
    fn link_node(&self, node: Box<Node<E>>) -> NonNull<Node<E>> {
        assert!(
            !self.lock.is_read_held_by_current_thread(),
            "kernsync-notifier: register() from inside a call of the same NotifierChain would \
             deadlock (the call holds the chain's read side): prepare() here, register() after \
             the call returns"
        );
        let (node, dead) = {
            let _w = self.lock.write();
            let dead = self.list.unlink_dead();
            // Ours until linked; the list owns it from here.
            let node = NonNull::from(Box::leak(node));
            // SAFETY: a fresh node, leaked from its `Box`, in no list; the
            // write side makes us the only writer.
            unsafe { self.list.link(node.as_ptr()) };
            (node, dead)
        };
        // SAFETY: unlinked under the write side, which excluded every call.
        unsafe { free_chain(dead) };
        node
    }

    fn unregister_node(&self, node: *mut Node<E>) {
        if self.lock.is_read_held_by_current_thread() {
            // Inside a call of this chain: cannot wait for it.
            self.list.defer_removal(node);
            return;
        }
        let dead = {
            let _w = self.lock.write();
            self.list.unlink(node);
            self.list.unlink_dead()
        };
        // SAFETY: unlinked under the write side, which excluded every call;
        // freed (the callback dropped) with no lock of the chain held.
        unsafe {
            free_node(node);
            free_chain(dead);
        }
    }
}

impl<E: ?Sized + 'static> Default for NotifierChain<E> {
    #[track_caller]
    fn default() -> NotifierChain<E> {
        NotifierChain::new()
    }
}

impl<E: ?Sized + 'static> Drop for NotifierChain<E> {
    fn drop(&mut self) {
        // Registrations borrow the chain or own an `Arc` of it, so only
        // forgotten ones (and dead nodes) are left: their nodes are freed
        // here.
        self.list.free_all();
    }
}

impl<E: ?Sized + 'static> fmt::Debug for NotifierChain<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("NotifierChain");
        match self.lock.try_read() {
            Some(_r) => d.field("callbacks", &self.list.len()),
            None => d.field("callbacks", &format_args!("<locked>")),
        };
        d.finish()
    }
}
