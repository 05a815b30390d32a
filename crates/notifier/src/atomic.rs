//! `AtomicNotifierChain`: callbacks that run in an atomic section, walked
//! RCU-style inside an `Srcu` read section that never blocks.

use core::fmt;
use core::ptr::NonNull;
use std::sync::Arc;

use core::panic::Location;
use kernsync_lockdep::{LockClass, LockMap};
use kernsync_percpu::Srcu;
#[cfg(not(loom))]
use kernsync_rwsem::Mutex;
#[cfg(loom)]
use loom_writers::Mutex;

use crate::node::{free_chain, free_node, List, Node, Outcome, Prepared, Verdict};
use crate::registration::{sealed, RegistrationOn};
use crate::OWNER;

/// The class of the writers' mutex of chains made by
/// [`AtomicNotifierChain::new`]: one for all of them, which is sound because
/// the mutex is held only while linking or unlinking (no user code runs under
/// it, so two are never nested).
static WRITERS: LockClass = LockClass::new("AtomicNotifierChain::writers");

/// A chain of callbacks that must not sleep (Linux's atomic notifier
/// chain), callable from atomic sections: a call never blocks, not even
/// behind a writer.
///
/// - RCU-style: a call walks the list inside an [`Srcu`] read section (one
///   store to the thread's own slot); `register` publishes a node with one
///   atomic store, so a call sees the chain before or after it; unregistering
///   unlinks the node and waits for the calls in flight (`synchronize`)
///   before freeing it, so a call that was on it finishes safely.
/// - The callbacks run inside the validator's `atomic_section`: a sleeping
///   lock or `might_sleep()` in one is reported.
/// - Writers (`register`, `unregister`) serialise on a mutex and may sleep.
///   Unregistering from inside a call of the same chain cannot wait for the
///   calls in flight (its own is one): the callback is marked dead (not
///   called again once the calls now running end), and unlinked and freed by
///   the chain's next `unregister` made outside a call (or its drop).
///
/// ```
/// use kernsync_notifier::{AtomicNotifierChain, Verdict};
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// static PANIC_NOTIFIERS: AtomicNotifierChain<u32> = AtomicNotifierChain::new();
/// static SEEN: AtomicU32 = AtomicU32::new(0);
/// let reg = PANIC_NOTIFIERS.subscribe(|code: &u32| {
///     SEEN.store(*code, Ordering::Relaxed); // no sleeping in here
///     Verdict::Continue
/// }, 0);
/// PANIC_NOTIFIERS.call(&7);
/// assert_eq!(SEEN.load(Ordering::Relaxed), 7);
/// drop(reg);
/// ```
pub struct AtomicNotifierChain<E: ?Sized + 'static> {
    calls: Srcu,
    writers: Mutex<()>,
    list: List<E>,
}

/// A callback registered on an [`AtomicNotifierChain`] it borrows;
/// unregistered when dropped (see [`RegistrationOn`]).
pub type AtomicRegistration<'a, E> = RegistrationOn<&'a AtomicNotifierChain<E>>;

/// A callback registered on an [`AtomicNotifierChain`] it keeps alive
/// through an `Arc`; unregistered when dropped (see [`RegistrationOn`]).
pub type ArcAtomicRegistration<E> = RegistrationOn<Arc<AtomicNotifierChain<E>>>;

impl<E: ?Sized + 'static> AtomicNotifierChain<E> {
    kernsync_primitive::const_fn! {
        /// An empty chain whose classes (the calls' `Srcu`, the writers' mutex)
        /// are the caller's line.
        #[track_caller]
        pub const fn new() -> AtomicNotifierChain<E> {
            AtomicNotifierChain {
                calls: Srcu::with_map(LockMap::owned_by(OWNER, Location::caller(), None)),
                // Not the caller's line too: the two locks would be one class,
                // and their edges would mix.
                writers: Mutex::with_class((), &WRITERS),
                list: List::new(),
            }
        }

        /// An empty chain whose calls' `Srcu` class is the caller's line and
        /// `name`, shown as `notifier chain <name>` in reports (its writers'
        /// mutex is the class shared by all atomic chains' writers): chains
        /// made at one line with different names are of different classes.
        #[track_caller]
        pub const fn named(name: &'static str) -> AtomicNotifierChain<E> {
            AtomicNotifierChain {
                calls: Srcu::with_map(LockMap::owned_by(OWNER, Location::caller(), Some(name))),
                writers: Mutex::with_class((), &WRITERS),
                list: List::new(),
            }
        }

        /// An empty chain whose calls' `Srcu` is of class `calls` and whose
        /// writers' mutex is of class `writers` (statics, and chains made in one
        /// place for many objects: reports then name the chain, not a line).
        pub const fn with_classes(
            calls: &'static LockClass,
            writers: &'static LockClass,
        ) -> AtomicNotifierChain<E> {
            AtomicNotifierChain {
                calls: Srcu::with_class(calls),
                writers: Mutex::with_class((), writers),
                list: List::new(),
            }
        }
    }

    /// Allocates a node for `callback` at `priority` (higher first), and
    /// readies this thread for `register` and `call` on this chain: what
    /// they would allocate on the thread's first use (the parking lot's
    /// thread data, the thread's slot of the calls' `Srcu`) is made here.
    /// Otherwise [`Prepared::new`]. Waits for no lock of the chain: call it
    /// before taking the locks `register` will be called under.
    #[track_caller]
    pub fn prepare(
        &self,
        callback: impl Fn(&E) -> Verdict + Send + Sync + 'static,
        priority: i32,
    ) -> Prepared<E> {
        let prepared = Prepared::new(callback, priority);
        crate::warm::thread_parking();
        // The thread's slot of the calls' domain, which a first section
        // allocates. A section never waits, so it orders nothing.
        drop(self.calls.read());
        prepared
    }

    /// Publishes a prepared callback, allocating nothing (inside the
    /// validator's `no_alloc`). Calls in flight see the chain before or
    /// after it. Takes the writers' mutex, so not from an atomic section.
    /// The registration borrows the chain; on an `Arc`,
    /// [`register_arc`](AtomicNotifierChain::register_arc) gives one that
    /// keeps it alive instead.
    #[track_caller]
    pub fn register(&self, prepared: Prepared<E>) -> AtomicRegistration<'_, E> {
        RegistrationOn::link(self, prepared)
    }

    /// [`register`](AtomicNotifierChain::register), with a registration that
    /// holds a clone of the `Arc` (parking_lot's `lock_arc`): it may be
    /// stored in an object or taken by its own callback, and the chain lives
    /// as long as it does. The same guarantees as the borrowed form.
    #[track_caller]
    pub fn register_arc(self: &Arc<Self>, prepared: Prepared<E>) -> ArcAtomicRegistration<E> {
        RegistrationOn::link(Arc::clone(self), prepared)
    }

    /// [`prepare`](AtomicNotifierChain::prepare) and
    /// [`register`](AtomicNotifierChain::register) at once, for callers that
    /// hold no lock `register` could conflict with.
    #[track_caller]
    pub fn subscribe(
        &self,
        callback: impl Fn(&E) -> Verdict + Send + Sync + 'static,
        priority: i32,
    ) -> AtomicRegistration<'_, E> {
        self.register(Prepared::new(callback, priority))
    }

    /// [`subscribe`](AtomicNotifierChain::subscribe) with an owning
    /// registration (see [`register_arc`](AtomicNotifierChain::register_arc)).
    #[track_caller]
    pub fn subscribe_arc(
        self: &Arc<Self>,
        callback: impl Fn(&E) -> Verdict + Send + Sync + 'static,
        priority: i32,
    ) -> ArcAtomicRegistration<E> {
        self.register_arc(Prepared::new(callback, priority))
    }

    /// Calls the callbacks in priority order until one stops or fails,
    /// inside an atomic section. Never blocks; takes no lock and allocates
    /// nothing (after the thread's first call, which makes its slot).
    #[inline]
    #[track_caller]
    pub fn call(&self, event: &E) -> Outcome {
        let _s = self.calls.read();
        kernsync_lockdep::atomic_section(|| self.list.walk(event, |_| {}))
    }

    /// [`call`](AtomicNotifierChain::call), rolling back in reverse order on
    /// a failure, from the nodes this call saw (see
    /// [`NotifierChain::call_robust`](crate::NotifierChain::call_robust)).
    #[track_caller]
    pub fn call_robust(&self, event: &E, rollback: &E) -> Outcome {
        let _s = self.calls.read();
        kernsync_lockdep::atomic_section(|| self.list.walk_robust(event, rollback))
    }

    /// How many callbacks are registered (not counting ones unregistered
    /// from inside a call and not yet unlinked).
    pub fn len(&self) -> usize {
        let _s = self.calls.read();
        self.list.len()
    }

    /// Whether no callback is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<E: ?Sized + 'static> sealed::Chain for AtomicNotifierChain<E> {
    type Event = E;

    #[track_caller]
    fn link_node(&self, node: Box<Node<E>>) -> NonNull<Node<E>> {
        let _w = self.writers.lock();
        // Ours until linked; the list owns it from here.
        let node = NonNull::from(Box::leak(node));
        // SAFETY: a fresh node, leaked from its `Box`, in no list; the
        // writers' mutex makes us the only writer.
        unsafe { self.list.link(node.as_ptr()) };
        node
    }

    fn unregister_node(&self, node: *mut Node<E>) {
        if self.calls.in_read_section() {
            // Inside a call of this chain: cannot wait for it.
            self.list.defer_removal(node);
            return;
        }
        let dead = {
            let _w = self.writers.lock();
            self.list.unlink(node);
            self.list.unlink_dead()
        };
        // Every call that could be on the unlinked nodes ends before this
        // returns; later calls cannot reach them.
        self.calls.synchronize();
        // SAFETY: unlinked, and no call can be on them any more.
        unsafe {
            free_node(node);
            free_chain(dead);
        }
    }
}

impl<E: ?Sized + 'static> Default for AtomicNotifierChain<E> {
    #[track_caller]
    fn default() -> AtomicNotifierChain<E> {
        AtomicNotifierChain::new()
    }
}

impl<E: ?Sized + 'static> Drop for AtomicNotifierChain<E> {
    fn drop(&mut self) {
        self.list.free_all();
    }
}

impl<E: ?Sized + 'static> fmt::Debug for AtomicNotifierChain<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AtomicNotifierChain")
            .field("callbacks", &self.len())
            .finish()
    }
}

/// The writers' mutex under loom: kernsync-rwsem's typed `Mutex` is not
/// built there, so its raw mutex (the same state machine, on the modelled
/// parking lot) with the one method the chain uses.
#[cfg(loom)]
mod loom_writers {
    use kernsync_lockdep::LockClass;
    use kernsync_rwsem::RawMutex;

    /// `kernsync_rwsem::Mutex<T>`, reduced to `with_class` (the class is
    /// not kept: loom models the state machine, not the validator) and
    /// `lock`.
    pub(super) struct Mutex<T> {
        raw: RawMutex,
        _value: T,
    }

    /// Unlocks on drop.
    pub(super) struct MutexGuard<'a>(&'a RawMutex);

    impl<T> Mutex<T> {
        pub(super) fn with_class(value: T, _class: &'static LockClass) -> Mutex<T> {
            Mutex {
                raw: RawMutex::new(),
                _value: value,
            }
        }

        pub(super) fn lock(&self) -> MutexGuard<'_> {
            self.raw.lock();
            MutexGuard(&self.raw)
        }
    }

    impl Drop for MutexGuard<'_> {
        fn drop(&mut self) {
            // SAFETY: a guard exists only for a lock taken by `lock` on this
            // thread and not yet released.
            unsafe { self.0.unlock() };
        }
    }
}
