//! `Once` and the wait every once-cell reports: initialisation is a wait
//! that can deadlock like a lock, modelled as Linux models `flush_work`.
//!
//! Each cell embeds a pseudo-lock (a [`LockMap`] with no lock behind it).
//! Every call that may wait for an initialisation (`call_once`, `wait`,
//! `get_or_init`, `set`, `force`) takes and releases it, and the
//! initialiser runs holding it, so:
//!
//! - an initialiser that takes a lock `L` records *cell → L*, and a thread
//!   that reaches the cell while holding `L` records *L → cell*: the cycle
//!   is reported from a run in which the two never raced;
//! - an initialiser that reaches its own cell again is recursive locking
//!   (std would deadlock or panic there).
//!
//! Nested initialisation of *different* cells made at one line (a lazy
//! tree whose nodes force their children) follows the data, and no
//! annotation can state its order: the pseudo-lock is taken as the next
//! subclass of its class ([`LockMap::acquire_by_depth`]), so it is never
//! reported as recursion on its own.

use core::fmt;
use core::panic::Location;
use std::sync::OnceState;

use kernsync_lockdep::{LockKind, LockMap, Mode};

/// The validator's description of a once-cell: it offers no annotation but
/// a name.
pub(crate) const fn kind(name: &'static str, named: &'static str) -> LockKind {
    LockKind {
        name,
        recursive_read: None,
        upgradable_read: None,
        nested: None,
        nest_lock: None,
        ordered: None,
        named: Some(named),
    }
}

const ONCE: LockKind = kind("Once", "kernsync::sync::Once::named");

/// A one-time initialisation with std's API (poisoning included), whose
/// waits the lock-order validator sees.
///
/// `call_once`, `call_once_force`, `wait` and `wait_force` take and release
/// the `Once`'s pseudo-lock, and the closure runs holding it: a closure that
/// takes a lock some other caller holds while it reaches this `Once` is a
/// reported cycle, found from a run that never raced. The class is the
/// construction site ([`Once::new`] is a `#[track_caller] const fn`), so
/// every `Once` made from the deprecated `ONCE_INIT` constant shares one
/// class, the constant's.
///
/// ```
/// use kernsync_sync::Once;
/// static INIT: Once = Once::new();
/// let mut runs = 0;
/// INIT.call_once(|| runs += 1);
/// INIT.call_once(|| runs += 1);
/// assert_eq!(runs, 1);
/// assert!(INIT.is_completed());
/// ```
pub struct Once {
    inner: std::sync::Once,
    map: LockMap,
}

impl Once {
    /// A new `Once`, of the class named by the caller's line.
    #[inline]
    #[track_caller]
    #[allow(clippy::new_without_default)] // as std's: `Once` has no `Default`
    pub const fn new() -> Once {
        Once::with_map(LockMap::at_site(Location::caller()))
    }

    /// A new `Once` of its own class named `name` in reports (the caller's
    /// line *and* `name`).
    #[inline]
    #[track_caller]
    pub const fn named(name: &'static str) -> Once {
        Once::with_map(LockMap::at_site_named(Location::caller(), name))
    }

    const fn with_map(map: LockMap) -> Once {
        Once {
            inner: std::sync::Once::new(),
            map: map.with_kind(&ONCE),
        }
    }

    /// Runs `f` if no call has completed yet, else waits for the one running
    /// (see [`std::sync::Once::call_once`]). Panics if the `Once` is poisoned.
    #[track_caller]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        let _wait = self.map.hold_by_depth(Mode::Write);
        self.inner.call_once(f);
    }

    /// [`call_once`](Once::call_once) that also runs on a poisoned `Once`
    /// (see [`std::sync::Once::call_once_force`]).
    #[track_caller]
    pub fn call_once_force<F: FnOnce(&OnceState)>(&self, f: F) {
        let _wait = self.map.hold_by_depth(Mode::Write);
        self.inner.call_once_force(f);
    }

    /// Whether a call has completed.
    #[inline]
    pub fn is_completed(&self) -> bool {
        self.inner.is_completed()
    }

    /// Blocks until a call completes; panics if the `Once` is poisoned.
    #[track_caller]
    pub fn wait(&self) {
        let _wait = self.map.hold_by_depth(Mode::Write);
        self.inner.wait();
    }

    /// Blocks until a call completes, poisoned or not.
    #[track_caller]
    pub fn wait_force(&self) {
        let _wait = self.map.hold_by_depth(Mode::Write);
        self.inner.wait_force();
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// A `Once` for `static` initialisers (deprecated in std for
/// [`Once::new`]). Every `Once` made from it shares one class.
#[deprecated(since = "0.1.0", note = "the `Once::new()` function is now preferred")]
#[allow(clippy::declare_interior_mutable_const)]
pub const ONCE_INIT: Once = Once::new();
