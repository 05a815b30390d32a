//! `OnceLock<T>`: std's cell, whose initialisation the validator sees as a
//! wait (see the `once` module).

use core::fmt;
use core::panic::Location;

use kernsync_lockdep::{LockKind, LockMap, Mode};

use crate::once::kind;

const ONCE_LOCK: LockKind = kind("OnceLock", "kernsync::sync::OnceLock::named");

/// A cell written once, with std's API, whose initialisation is a wait the
/// lock-order validator sees.
///
/// `get_or_init`, `set` and `wait` take and release the cell's pseudo-lock,
/// and the initialiser runs holding it: an initialiser that takes a lock
/// `L`, and a caller that reaches the cell holding `L`, form a reported
/// cycle even if they never raced; an initialiser that reaches its own cell
/// again is reported as recursive locking (std would deadlock). `get` never
/// waits and is not seen. The class is the construction site.
///
/// ```
/// use kernsync_sync::OnceLock;
/// static CONFIG: OnceLock<String> = OnceLock::new();
/// assert_eq!(CONFIG.get_or_init(|| "on".to_string()), "on");
/// assert_eq!(CONFIG.get().map(String::as_str), Some("on"));
/// assert_eq!(CONFIG.set("off".to_string()), Err("off".to_string()));
/// ```
pub struct OnceLock<T> {
    inner: std::sync::OnceLock<T>,
    map: LockMap,
}

impl<T> OnceLock<T> {
    /// An empty cell, of the class named by the caller's line.
    #[inline]
    #[track_caller]
    #[must_use]
    pub const fn new() -> OnceLock<T> {
        OnceLock::with_map(LockMap::at_site(Location::caller()))
    }

    /// An empty cell of its own class named `name` in reports (the caller's
    /// line *and* `name`).
    #[inline]
    #[track_caller]
    #[must_use]
    pub const fn named(name: &'static str) -> OnceLock<T> {
        OnceLock::with_map(LockMap::at_site_named(Location::caller(), name))
    }

    const fn with_map(map: LockMap) -> OnceLock<T> {
        OnceLock {
            inner: std::sync::OnceLock::new(),
            map: map.with_kind(&ONCE_LOCK),
        }
    }

    /// The value, if initialised; never waits.
    #[inline]
    pub fn get(&self) -> Option<&T> {
        self.inner.get()
    }

    /// The value, if initialised.
    #[inline]
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.inner.get_mut()
    }

    /// Blocks until the cell is initialised, and returns the value.
    #[track_caller]
    pub fn wait(&self) -> &T {
        let _wait = self.map.hold_by_depth(Mode::Write);
        self.inner.wait()
    }

    /// Initialises the cell with `value` unless it is already (waiting for
    /// an initialisation in progress), giving `value` back if it was.
    #[track_caller]
    pub fn set(&self, value: T) -> Result<(), T> {
        let _wait = self.map.hold_by_depth(Mode::Write);
        self.inner.set(value)
    }

    /// The value, initialising it with `f` first if the cell is empty (or
    /// waiting for an initialisation in progress). If `f` panics, the panic
    /// propagates and the cell stays empty.
    #[track_caller]
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        let _wait = self.map.hold_by_depth(Mode::Write);
        self.inner.get_or_init(f)
    }

    /// The value, if the cell was initialised.
    #[inline]
    pub fn into_inner(self) -> Option<T> {
        let OnceLock { inner, map } = self;
        drop(map);
        inner.into_inner()
    }

    /// Takes the value out, leaving the cell empty.
    #[inline]
    pub fn take(&mut self) -> Option<T> {
        self.inner.take()
    }
}

impl<T> Default for OnceLock<T> {
    /// An empty cell, of the class named by the caller's line.
    #[inline]
    #[track_caller]
    fn default() -> OnceLock<T> {
        OnceLock::new()
    }
}

impl<T> From<T> for OnceLock<T> {
    /// A cell holding `value`, of the class named by the caller's line.
    #[inline]
    #[track_caller]
    fn from(value: T) -> OnceLock<T> {
        OnceLock {
            inner: std::sync::OnceLock::from(value),
            map: LockMap::at_site(Location::caller()).with_kind(&ONCE_LOCK),
        }
    }
}

impl<T: Clone> Clone for OnceLock<T> {
    /// A cell holding a clone of the value, if any, of the class named by
    /// the caller's line.
    #[inline]
    #[track_caller]
    fn clone(&self) -> OnceLock<T> {
        OnceLock {
            inner: self.inner.clone(),
            map: LockMap::at_site(Location::caller()).with_kind(&ONCE_LOCK),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl<T: PartialEq> PartialEq for OnceLock<T> {
    #[inline]
    fn eq(&self, other: &OnceLock<T>) -> bool {
        self.inner == other.inner
    }
}

impl<T: Eq> Eq for OnceLock<T> {}
