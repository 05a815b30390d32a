//! [`Acquiring`]: the one future type behind every acquisition of this
//! crate (`lock`, `read`, `write`, `upgradable_read`, their owned forms and
//! `upgrade`), named by type aliases beside each lock.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};

use crate::raw::{RawSemaphore, Waiter};
use crate::{Check, Token};
use kernsync_lockdep::LockMap;

/// Whatever an acquisition waits on its semaphore through: a lock borrowed
/// or in an `Arc`, or the guard an upgrade starts from. Not implementable
/// outside this crate.
pub trait Handle: Unpin + sealed::Sealed {
    #[doc(hidden)]
    fn sem(&self) -> &RawSemaphore;
    #[doc(hidden)]
    fn map(&self) -> &LockMap;
}

pub(crate) mod sealed {
    /// Seals [`Handle`](super::Handle).
    pub trait Sealed {}
}

/// A future acquiring a lock: resolves to the guard `G`.
///
/// Each lock names its instances with a type alias
/// ([`LockFuture`](crate::LockFuture), [`ReadFuture`](crate::ReadFuture),
/// ...). It is `Unpin`, and cancel-safe: dropping it before it resolves
/// (while it waits, or after it was granted the lock but before it was
/// polled again) leaves no waiter behind and loses no permit; the next
/// waiter proceeds. Parked waiters are served in FIFO order; a running task
/// may take a lock just released before the woken waiter runs, but no
/// waiter is passed over more than a few times or past 0.5 ms (see
/// [`raw`](crate::raw)).
#[must_use = "futures do nothing unless polled"]
pub struct Acquiring<H: Handle, G> {
    /// `None` once resolved.
    handle: Option<H>,
    waiter: Waiter,
    /// The validator's entry of this acquisition (a tracked task's, held
    /// while it waits); handed to the guard, or released if cancelled.
    token: Token,
    make: fn(H, Token) -> G,
}

impl<H: Handle, G> Acquiring<H, G> {
    /// Waits for `permits` on `handle`'s semaphore (queued first if
    /// `first`), then makes the guard with `make`, giving it `token`.
    #[inline]
    pub(crate) fn new(
        handle: H,
        permits: usize,
        first: bool,
        token: Token,
        make: fn(H, Token) -> G,
    ) -> Self {
        Acquiring {
            handle: Some(handle),
            waiter: Waiter::new(permits, first),
            token,
            make,
        }
    }
}

impl<H: Handle, G> Future for Acquiring<H, G> {
    type Output = G;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<G> {
        let this = self.get_mut();
        let handle = this
            .handle
            .as_ref()
            .expect("kernsync-async: lock future polled after it resolved");
        ready!(handle.sem().poll_acquire(&mut this.waiter, cx));
        let handle = this.handle.take().expect("checked above");
        let token = core::mem::replace(&mut this.token, Token::NONE);
        Poll::Ready((this.make)(handle, token))
    }
}

impl<H: Handle, G> Drop for Acquiring<H, G> {
    #[inline]
    fn drop(&mut self) {
        // Permits granted but not yet taken go back first; the handle (an
        // upgradable guard, for an upgrade) is dropped after, releasing its own.
        if let Some(handle) = &self.handle {
            handle.sem().cancel(&mut self.waiter);
            // A cancelled acquisition leaves no held entry behind either.
            let token = core::mem::replace(&mut self.token, Token::NONE);
            Check::release(handle.map(), token);
        }
    }
}

impl<H: Handle, G> fmt::Debug for Acquiring<H, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquiring")
            .field("resolved", &self.handle.is_none())
            .field("waiter", &self.waiter)
            .finish()
    }
}
