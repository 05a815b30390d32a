//! `NotifierChain`: callbacks that may block, walked under a `PercpuRwSem`.

use core::fmt;
use core::ptr::NonNull;

use kernsync_lockdep::LockClass;
use kernsync_percpu::PercpuRwSem;

use crate::node::{free_chain, free_node, List, Node, Outcome, Prepared};

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

/// A callback registered on a [`NotifierChain`]; unregistered when dropped.
#[must_use = "dropping a Registration unregisters the callback"]
pub struct Registration<'a, E: ?Sized + 'static> {
    chain: &'a NotifierChain<E>,
    node: NonNull<Node<E>>,
}

chain_common!(NotifierChain, Registration);

impl<E: ?Sized + 'static> NotifierChain<E> {
    /// An empty chain whose lock's class is the caller's line.
    #[track_caller]
    pub const fn new() -> NotifierChain<E> {
        NotifierChain {
            lock: PercpuRwSem::new(()),
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

    /// Links a prepared callback under the chain's write side (waiting for
    /// the calls in flight), allocating nothing: the linking runs inside the
    /// validator's `no_alloc`.
    ///
    /// # Panics
    /// From inside a call of this chain (the write side would wait for that
    /// call, which is this thread).
    #[track_caller]
    pub fn register(&self, prepared: Prepared<E>) -> Registration<'_, E> {
        assert!(
            !self.lock.is_read_held_by_current_thread(),
            "kernsync-notifier: register() from inside a call of the same NotifierChain would \
             deadlock (the call holds the chain's read side): prepare() here, register() after \
             the call returns"
        );
        let node = Box::into_raw(prepared.node);
        let dead = {
            let _w = self.lock.write();
            let dead = self.list.unlink_dead();
            // SAFETY: a fresh node from `Box::into_raw`, in no list; the
            // write side makes us the only writer.
            unsafe { self.list.link(node) };
            dead
        };
        // SAFETY: unlinked under the write side, which excluded every call.
        unsafe { free_chain(dead) };
        // SAFETY: from `Box::into_raw`.
        unsafe { Registration::linked(self, node) }
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

impl<E: ?Sized + 'static> Drop for NotifierChain<E> {
    fn drop(&mut self) {
        // Registrations borrow the chain, so only forgotten ones (and dead
        // nodes) are left: their nodes are freed here.
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
