//! Class resolution: from a `LockMap`'s key to a class id and its flags.
//!
//! A static `LockClass` is registered (with its declared order) on first
//! use; a construction site becomes one class per `file:line:col`, found
//! afterwards through a lock-free cache; a lock with no site gets a class of
//! its own. Registration returns what it found (declared orders that form a
//! cycle, a bound reached); reporting it is the caller's.

use super::entry::ClassBits;
use super::graph::{Bound, ClassInfo, Cycle, Graph, SiteName};
use crate::class::LockClass;
use crate::kind::LockKind;
use crate::table::Table;
use core::panic::Location;

/// How a `LockMap` finds its class.
#[derive(Clone, Copy)]
pub(crate) enum ClassKey {
    /// A named class (usually a `static`).
    Class(&'static LockClass),
    /// One class per construction site and [`SiteName`].
    Site(&'static Location<'static>, SiteName),
    /// A class of its own, made on first use.
    Instance,
    /// The class of the site of the lock's first acquisition, for locks
    /// built where no caller is known (lock_api's `const INIT`): resolved by
    /// the acquisition, which turns it into a [`ClassKey::Site`] keyed with
    /// [`FIRST_TAKEN`], or marks the lock not validated when that site is
    /// not the user's ([`is_foreign_site`]).
    FirstUse,
}

/// The owner word of a class formed by a first acquisition: its label
/// reads `lock first taken at file:line:col`.
pub(crate) const FIRST_TAKEN: &str = "lock first taken at";

/// Slots of the construction-site cache.
const SITE_SLOTS: usize = 1 << 14;

#[cfg(not(loom))]
static SITES: Table<SITE_SLOTS> = Table::new();
#[cfg(loom)]
static SITES: std::sync::LazyLock<Table<SITE_SLOTS>> = std::sync::LazyLock::new(Table::new);

/// The site cache's key: the `Location`'s address for a plain site, else a
/// hash of it with the names' addresses and lengths (a collision would
/// merge two classes, as likely as a chain-key collision: about 2^-64 per
/// pair; plain sites, the common case, cannot collide).
fn site_key(site: &'static Location<'static>, name: SiteName) -> u64 {
    let addr = site as *const Location<'static> as u64;
    if name == SiteName::NONE {
        return addr;
    }
    let word =
        |s: Option<&'static str>| s.map_or(0, |s| s.as_ptr() as u64 ^ (s.len() as u64) << 48);
    let mut h = addr;
    for w in [word(name.owner), word(name.name)] {
        h = (h.rotate_left(23) ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    h | 1 << 63 // never an address, never 0
}

/// The class of `key` if it needs no graph work: a static class already
/// registered, or a construction site already cached.
pub(crate) fn lookup(key: ClassKey) -> Option<ClassBits> {
    match key {
        ClassKey::Class(c) => {
            let id = c.registered_id();
            (id != 0).then(|| ClassBits::new(id, c.flags()))
        }
        ClassKey::Site(site, name) if !is_std_site(site) => SITES
            .get(site_key(site, name))
            .map(|id| ClassBits::new(id, 0)),
        _ => None,
    }
}

/// Registers the class of `key` in the graph (the caller holds it),
/// collecting the cycles its declared order closes into `cycles`.
pub(crate) fn register(
    g: &mut Graph,
    key: ClassKey,
    kind: &'static LockKind,
    cycles: &mut Vec<Cycle>,
) -> Result<ClassBits, Bound> {
    let bits = register_key(g, key, kind, cycles)?;
    g.record_kind(bits.class(), kind);
    Ok(bits)
}

fn register_key(
    g: &mut Graph,
    key: ClassKey,
    kind: &'static LockKind,
    cycles: &mut Vec<Cycle>,
) -> Result<ClassBits, Bound> {
    match key {
        ClassKey::Class(c) => Ok(ClassBits::new(g.register(c, cycles)?, c.flags())),
        ClassKey::Site(site, name) if !is_std_site(site) => {
            let id = g.site_class(site, name, kind)?;
            if g.site_classes() < SITE_SLOTS / 2 {
                SITES.insert(site_key(site, name), id);
            }
            Ok(ClassBits::new(id, 0))
        }
        ClassKey::Site(site, _) => anonymous(g, |n| {
            format!("anonymous#{n} (made in the standard library at {site})")
        }),
        ClassKey::Instance => anonymous(g, |n| format!("anonymous#{n}")),
        // Turned into a site by the acquisition before it gets here.
        ClassKey::FirstUse => Ok(ClassBits::NOT_VALIDATED),
    }
}

fn anonymous(g: &mut Graph, name: impl FnOnce(u32) -> String) -> Result<ClassBits, Bound> {
    g.anonymous += 1;
    let id = g.add_class(ClassInfo {
        name: name(g.anonymous),
        site: None,
        class: None,
        kind: &LockKind::LOCK_MAP,
    })?;
    Ok(ClassBits::new(id, 0))
}

/// A site in code that is not the user's: the standard library, or
/// lock_api's own source (a lock first taken by lock_api 0.4's
/// `RawReentrantMutex`, whose methods are not `#[track_caller]`). A class
/// formed there would join every lock that library takes, and join them
/// into false cycles.
pub(crate) fn is_foreign_site(site: &Location<'_>) -> bool {
    let f = site.file();
    is_std_site(site) || f.contains("/lock_api-0.") || f.contains("lock_api/src/")
}

/// A site in the standard library: `/rustc/<hash>/library/...` in shipped
/// builds, `.../library/{core,alloc,std}/src/...` when std is built from
/// source. It names no class of the user's (a lock made by `Default::default`
/// through `unwrap_or_default()`, say), so such a lock gets a class of its own.
fn is_std_site(site: &Location<'_>) -> bool {
    let f = site.file();
    f.starts_with("/rustc/")
        || [
            "library/core/src/",
            "library/alloc/src/",
            "library/std/src/",
        ]
        .iter()
        .any(|p| f.contains(p))
}
