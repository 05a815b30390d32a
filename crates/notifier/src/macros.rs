//! [`chain_common!`]: what both chains and their registrations have alike.

/// Emits, for a chain type `$Chain<E>` (with `register(&self, Prepared<E>)
/// -> $Registration<'_, E>` and `unregister_node(&self, *mut Node<E>)`) and
/// its registration `$Registration<'a, E> { chain: &'a $Chain<E>, node:
/// NonNull<Node<E>> }`: the chain's `prepare`, `subscribe` and `Default`;
/// the registration's `Send`, `Sync`, `unregister`, `Drop` (which
/// unregisters) and `Debug`, and `linked`, which makes one for a node just
/// registered.
macro_rules! chain_common {
    ($Chain:ident, $Registration:ident) => {
        impl<E: ?Sized + 'static> $Chain<E> {
            /// Allocates a node for `callback` at `priority` (higher first).
            /// Takes no lock of the chain: call it before taking the locks
            /// `register` will be called under. The same as
            /// [`Prepared::new`].
            #[track_caller]
            pub fn prepare(
                &self,
                callback: impl Fn(&E) -> $crate::Verdict + Send + Sync + 'static,
                priority: i32,
            ) -> $crate::Prepared<E> {
                $crate::Prepared::new(callback, priority)
            }

            /// [`prepare`](Self::prepare) and [`register`](Self::register) at
            /// once, for callers that hold no lock `register` could conflict
            /// with.
            #[track_caller]
            pub fn subscribe(
                &self,
                callback: impl Fn(&E) -> $crate::Verdict + Send + Sync + 'static,
                priority: i32,
            ) -> $Registration<'_, E> {
                self.register($crate::Prepared::new(callback, priority))
            }
        }

        impl<E: ?Sized + 'static> Default for $Chain<E> {
            #[track_caller]
            fn default() -> $Chain<E> {
                $Chain::new()
            }
        }

        // SAFETY: a registration is a handle on a node of a `Sync` chain; the
        // node's callback is `Send + Sync`, and unregistering works from any
        // thread.
        unsafe impl<E: ?Sized + 'static> Send for $Registration<'_, E> {}
        // SAFETY: `&Registration` gives access to nothing.
        unsafe impl<E: ?Sized + 'static> Sync for $Registration<'_, E> {}

        impl<'a, E: ?Sized + 'static> $Registration<'a, E> {
            /// The registration of `node`, just linked into `chain`.
            ///
            /// # Safety
            /// `node` is from `Box::into_raw` (so not null).
            unsafe fn linked(chain: &'a $Chain<E>, node: *mut $crate::node::Node<E>) -> Self {
                $Registration {
                    chain,
                    // SAFETY: not null, by the caller's contract.
                    node: unsafe { ::core::ptr::NonNull::new_unchecked(node) },
                }
            }

            /// Removes the callback; returns once no call can still run it
            /// (so what it borrows may be freed). From inside a call of the
            /// same chain, it only guarantees the callback is not called
            /// again once the calls now running end.
            pub fn unregister(self) {
                // Drop does it.
            }
        }

        impl<E: ?Sized + 'static> Drop for $Registration<'_, E> {
            fn drop(&mut self) {
                self.chain.unregister_node(self.node.as_ptr());
            }
        }

        impl<E: ?Sized + 'static> ::core::fmt::Debug for $Registration<'_, E> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(stringify!($Registration))
                    .finish_non_exhaustive()
            }
        }
    };
}
