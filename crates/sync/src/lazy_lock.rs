//! `LazyLock<T, F>`: std's lazy value, on this crate's validated
//! `OnceLock` (see the `once` module).

use core::cell::Cell;
use core::fmt;
use core::ops::{Deref, DerefMut};
use core::panic::{Location, RefUnwindSafe, UnwindSafe};

use kernsync_lockdep::{LockKind, LockMap, Mode};

use crate::once::kind;

const LAZY_LOCK: LockKind = kind("LazyLock", "kernsync::sync::LazyLock::named");

/// A value initialised on first access, with std's API, whose
/// initialisation is a wait the lock-order validator sees (as
/// [`OnceLock`](crate::OnceLock)'s).
///
/// If the initialiser panics, the `LazyLock` is poisoned: every later
/// access panics with std's message, "LazyLock instance has previously been
/// poisoned".
///
/// ```
/// use kernsync_sync::LazyLock;
/// static TABLE: LazyLock<Vec<u32>> = LazyLock::new(|| (0..4).collect());
/// assert_eq!(TABLE.len(), 4);
/// assert_eq!(LazyLock::get(&TABLE).map(Vec::len), Some(4));
/// ```
pub struct LazyLock<T, F = fn() -> T> {
    cell: std::sync::OnceLock<T>,
    /// The initialiser, until it is taken by the one initialisation the
    /// cell runs (or forever, if the value is never forced).
    init: Cell<Option<F>>,
    map: LockMap,
}

// SAFETY: `init` is touched through `&self` only inside the closure given to
// `cell.get_or_init`, which the `OnceLock` runs on one thread at a time (and
// never again once one has returned), so no two threads reach the `Cell`
// at once; the `F` moves to whichever thread runs it, hence `F: Send`. The
// value is shared and may be made on one thread and dropped on another,
// hence `T: Sync + Send`. These are std's bounds.
unsafe impl<T: Sync + Send, F: Send> Sync for LazyLock<T, F> {}

// As std: an initialiser's panic poisons the cell, which later accesses see.
impl<T: RefUnwindSafe + UnwindSafe, F: UnwindSafe> RefUnwindSafe for LazyLock<T, F> {}
impl<T: UnwindSafe, F: UnwindSafe> UnwindSafe for LazyLock<T, F> {}

impl<T, F: FnOnce() -> T> LazyLock<T, F> {
    /// A lazy value initialised by `f`, of the class named by the caller's line.
    #[inline]
    #[track_caller]
    pub const fn new(f: F) -> LazyLock<T, F> {
        LazyLock::with_map(f, LockMap::at_site(Location::caller()))
    }

    /// A lazy value of its own class named `name` in reports (the caller's
    /// line *and* `name`).
    #[inline]
    #[track_caller]
    pub const fn named(name: &'static str, f: F) -> LazyLock<T, F> {
        LazyLock::with_map(f, LockMap::at_site_named(Location::caller(), name))
    }

    const fn with_map(f: F, map: LockMap) -> LazyLock<T, F> {
        LazyLock {
            cell: std::sync::OnceLock::new(),
            init: Cell::new(Some(f)),
            map: map.with_kind(&LAZY_LOCK),
        }
    }

    /// The value, initialising it first if needed (waiting for an
    /// initialisation in progress). Panics if the `LazyLock` is poisoned.
    #[inline]
    #[track_caller]
    pub fn force(this: &LazyLock<T, F>) -> &T {
        let _wait = this.map.hold_by_depth(Mode::Write);
        this.cell.get_or_init(|| match this.init.take() {
            Some(f) => f(),
            None => poisoned(),
        })
    }

    /// The value, initialising it first if needed. Panics if the
    /// `LazyLock` is poisoned.
    #[track_caller]
    pub fn force_mut(this: &mut LazyLock<T, F>) -> &mut T {
        if this.cell.get().is_none() {
            // Nobody can wait on an exclusively borrowed cell, but the
            // initialiser still runs holding the pseudo-lock, so what it
            // takes is recorded as the class's (as in `force`).
            let _init = this.map.hold_by_depth(Mode::Write);
            let value = match this.init.get_mut().take() {
                Some(f) => f(),
                None => poisoned(),
            };
            let _ = this.cell.set(value);
        }
        match this.cell.get_mut() {
            Some(value) => value,
            None => unreachable!("the cell was just initialised"),
        }
    }
}

impl<T, F> LazyLock<T, F> {
    /// The value if it is initialised; never initialises nor waits.
    #[inline]
    pub fn get(this: &LazyLock<T, F>) -> Option<&T> {
        this.cell.get()
    }

    /// The value if it is initialised.
    #[inline]
    pub fn get_mut(this: &mut LazyLock<T, F>) -> Option<&mut T> {
        this.cell.get_mut()
    }
}

/// std's message for a `LazyLock` whose initialiser panicked.
#[cold]
#[track_caller]
fn poisoned() -> ! {
    panic!("LazyLock instance has previously been poisoned")
}

impl<T, F: FnOnce() -> T> Deref for LazyLock<T, F> {
    type Target = T;

    /// [`LazyLock::force`].
    #[inline]
    #[track_caller]
    fn deref(&self) -> &T {
        LazyLock::force(self)
    }
}

impl<T, F: FnOnce() -> T> DerefMut for LazyLock<T, F> {
    /// [`LazyLock::force_mut`].
    #[inline]
    #[track_caller]
    fn deref_mut(&mut self) -> &mut T {
        LazyLock::force_mut(self)
    }
}

impl<T: Default> Default for LazyLock<T> {
    /// A lazy `T::default()`, of the class named by the caller's line.
    #[inline]
    #[track_caller]
    fn default() -> LazyLock<T> {
        LazyLock::new(T::default)
    }
}

impl<T: fmt::Debug, F> fmt::Debug for LazyLock<T, F> {
    /// As std's: `LazyLock(value)`, or `LazyLock(<uninit>)` before it is forced.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("LazyLock");
        match self.cell.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}
