//! The classes of named chains: `notifier chain <name>`, one per
//! construction site and name, made and leaked on first use and found again
//! afterwards, so memory grows with the program's `named` call sites (and
//! the distinct names they pass), never with the chains made there.

use std::panic::Location;
use std::sync::{Mutex, PoisonError};

use kernsync_lockdep::LockClass;

/// Every class made so far: (site, name as given, class). A short list,
/// searched only when a named chain is made.
static CLASSES: Mutex<Vec<(&'static Location<'static>, &'static str, &'static LockClass)>> =
    Mutex::new(Vec::new());

/// The class `notifier chain <name>` of chains made at the caller's site
/// with this name (`what` is appended for a chain's second lock).
#[track_caller]
pub(crate) fn class(name: &str, what: &str) -> &'static LockClass {
    let site = Location::caller();
    // A plain std mutex: a leaf (nothing is locked under it, and no
    // callback runs), held only to find or add an entry.
    let mut classes = CLASSES.lock().unwrap_or_else(PoisonError::into_inner);
    let full = format!("notifier chain {name}{what}");
    if let Some(&(_, _, class)) = classes.iter().find(|(s, n, _)| *s == site && *n == full) {
        return class;
    }
    let class = LockClass::leak(&full);
    classes.push((site, class.name(), class));
    class
}
