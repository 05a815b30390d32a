//! [`RegistrationOn`]: one registration type for both chains, borrowed
//! (`&'a NotifierChain<E>`) or owning (`Arc<NotifierChain<E>>`).
//!
//! The chains implement the sealed [`Chain`](sealed::Chain) (link a node,
//! unregister a node); the handles implement the sealed
//! [`Handle`](sealed::Handle) (reach the chain); everything a registration
//! does is written here once, on top of those two.

use core::fmt;
use core::ptr::NonNull;
use std::sync::Arc;

use crate::node::{Node, Prepared};

pub(crate) mod sealed {
    use crate::node::Node;
    use core::ptr::NonNull;

    /// What a registration needs of its chain.
    pub trait Chain: Sync + 'static {
        /// The chain's event type.
        type Event: ?Sized + 'static;

        /// Links `node`, allocating nothing; the chain owns it from now on
        /// (a panic before it is linked drops it).
        #[track_caller]
        fn link_node(&self, node: Box<Node<Self::Event>>) -> NonNull<Node<Self::Event>>;

        /// Unlinks `node` (linked by `link_node`) and frees it once no call
        /// can still run it; from inside a call of this chain, marks it dead
        /// for the next writer instead.
        fn unregister_node(&self, node: *mut Node<Self::Event>);
    }

    /// How a registration reaches its chain. Implemented only for handles
    /// that keep the chain alive, at one address, for as long as the handle
    /// lives (a borrow, an `Arc`): a registration relies on that.
    pub trait Handle {
        /// The chain.
        type Chain: Chain;

        /// The chain, the same one every time.
        fn chain(&self) -> &Self::Chain;
    }
}

use sealed::{Chain, Handle};

/// A handle a [`RegistrationOn`] can reach its chain through:
/// `&'a NotifierChain<E>`, `Arc<NotifierChain<E>>`,
/// `&'a AtomicNotifierChain<E>` or `Arc<AtomicNotifierChain<E>>`
/// ([`NotifierChain`](crate::NotifierChain),
/// [`AtomicNotifierChain`](crate::AtomicNotifierChain)).
///
/// Sealed: a registration unlinks its node from the chain the handle leads
/// to, so the handle must lead to the same chain, alive, for as long as it
/// lives; the crate vouches for these four.
pub trait ChainHandle: Handle {}

impl<H: Handle> ChainHandle for H {}

impl<C: Chain> Handle for &C {
    type Chain = C;

    #[inline]
    fn chain(&self) -> &C {
        self
    }
}

impl<C: Chain> Handle for Arc<C> {
    type Chain = C;

    #[inline]
    fn chain(&self) -> &C {
        self
    }
}

/// The node type of the chain `H` leads to.
type NodeOf<H> = Node<<<H as Handle>::Chain as Chain>::Event>;

/// A callback registered on the chain `H` leads to; unregistered when
/// dropped.
///
/// One type for both chains and both ways of holding them; the four are
/// named by aliases:
///
/// | | borrows the chain | keeps the chain alive |
/// |---|---|---|
/// | [`NotifierChain`](crate::NotifierChain) | [`Registration<'a, E>`](crate::Registration) from `register` | [`ArcRegistration<E>`](crate::ArcRegistration) from `register_arc` |
/// | [`AtomicNotifierChain`](crate::AtomicNotifierChain) | [`AtomicRegistration<'a, E>`](crate::AtomicRegistration) from `register` | [`ArcAtomicRegistration<E>`](crate::ArcAtomicRegistration) from `register_arc` |
///
/// The borrowed form ties the registration to a borrow of the chain, which
/// is free and enough for a chain in a `static` or one that outlives its
/// subscribers on the stack. The owning form holds an `Arc` of the chain, as
/// parking_lot's `Mutex::lock_arc` (`self: &Arc<Self>`) gives an
/// `ArcMutexGuard`: a registration stored in an object, or taken by its own
/// callback to unregister itself, then needs no `'static` or leaked chain.
/// The chain is dropped when its last `Arc` goes, registrations included.
/// (A callback that owns an `ArcRegistration` of its own chain is an `Arc`
/// cycle, as with any `Arc`: the chain lives until the callback lets go of
/// it, by unregistering itself, say.)
///
/// Both forms keep the same promise: dropping or
/// [`unregister`](RegistrationOn::unregister)ing returns only when no call
/// can still run the callback (so what the callback borrows may be freed);
/// from inside a call of the same chain it cannot wait for that call, and
/// only guarantees the callback is not called again once the calls now
/// running end.
#[must_use = "dropping a registration unregisters the callback"]
pub struct RegistrationOn<H: ChainHandle> {
    chain: H,
    node: NonNull<NodeOf<H>>,
}

impl<H: ChainHandle> RegistrationOn<H> {
    /// Links `prepared` into the chain `chain` leads to (allocating nothing)
    /// and returns its registration.
    #[track_caller]
    #[inline]
    pub(crate) fn link(chain: H, prepared: Prepared<<H::Chain as Chain>::Event>) -> Self {
        let node = chain.chain().link_node(prepared.node);
        RegistrationOn { chain, node }
    }

    /// Removes the callback; returns once no call can still run it (so what
    /// it borrows may be freed). From inside a call of the same chain, it
    /// only guarantees the callback is not called again once the calls now
    /// running end. The same as dropping the registration.
    pub fn unregister(self) {
        // Drop does it.
    }
}

impl<H: ChainHandle> Drop for RegistrationOn<H> {
    fn drop(&mut self) {
        // The handle still leads to the chain (it is dropped after this, and
        // for an `Arc` that may drop the chain, with the node already gone).
        self.chain.chain().unregister_node(self.node.as_ptr());
    }
}

// SAFETY: a registration is a handle on a node of a `Sync` chain; the node's
// callback is `Send + Sync` and unregistering works from any thread, so it
// may move wherever its handle may.
unsafe impl<H: ChainHandle + Send> Send for RegistrationOn<H> {}
// SAFETY: `&RegistrationOn` gives access to nothing (not even the handle).
unsafe impl<H: ChainHandle> Sync for RegistrationOn<H> {}

impl<H: ChainHandle> fmt::Debug for RegistrationOn<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistrationOn").finish_non_exhaustive()
    }
}
