//! Lock classes: the unit the validator orders.

use core::fmt;
use core::panic::Location;
use core::sync::atomic::{AtomicU32, Ordering};

/// Class flag: the class is atomic (non-sleeping, like a spinlock); sleeping
/// locks taken while it is held are reported.
pub(crate) const FLAG_ATOMIC: u32 = 1 << 0;
/// Class flag: allocation is forbidden while a lock of this class is held.
pub(crate) const FLAG_NO_ALLOC: u32 = 1 << 1;
/// Class flag: a lock of this class may be held across an `.await` (an
/// async lock): a tracked task's poll that returns `Pending` holding it is
/// fine. Set per handle by `LockMap::awaitable`, never by a `LockClass`.
/// It rides in a held entry's context byte like the two above, but no
/// rule of the fast path reads it (it is not in `CTX_SLOW`).
#[allow(dead_code)] // the disabled twin never reads class flags
pub(crate) const FLAG_AWAITABLE: u32 = 1 << 2;
/// Class flag: acquisitions of this class are not tracked at all. The top
/// bit of the flags byte, so a `LockMap`'s cached bits are negative for such
/// a class and one signed test covers "unresolved or not validated".
pub(crate) const FLAG_NOT_VALIDATED: u32 = 1 << 7;

/// A lock class: every lock of one class is one node of the dependency graph.
///
/// Lockdep orders *classes*, not lock instances: if any lock of class `A` was
/// ever held while a lock of class `B` was taken, then `A -> B` is a
/// dependency for every pair of instances. That is what lets one ordinary run
/// find deadlocks between instances that never met.
///
/// A class is usually a `static`, named after the lock it stands for:
///
/// ```
/// use kernsync_lockdep::LockClass;
/// static MMAP_LOCK: LockClass = LockClass::new("mmap_lock");
/// static CPU_HOTPLUG: LockClass = LockClass::new("cpu_hotplug_lock").before(&[&MMAP_LOCK]);
/// assert_eq!(MMAP_LOCK.name(), "mmap_lock");
/// ```
///
/// Its identity is its address while the process runs, and its name plus its
/// defining site (`file:line:col`, recorded by [`LockClass::new`]) across
/// processes, so two unrelated classes that share a name do not merge in
/// exported graphs. Locks built with a `#[track_caller]` constructor and no
/// class get one class per construction site instead (see `LockMap`).
pub struct LockClass {
    name: &'static str,
    site: &'static Location<'static>,
    flags: u32,
    before: &'static [&'static LockClass],
    /// The validator's index of this class: 0 until first use.
    pub(crate) id: AtomicU32,
}

impl LockClass {
    /// A class named `name`, defined at the caller's site.
    #[track_caller]
    pub const fn new(name: &'static str) -> LockClass {
        LockClass {
            name,
            site: Location::caller(),
            flags: 0,
            before: &[],
            id: AtomicU32::new(0),
        }
    }

    /// A class made at run time and leaked, for scenarios that need fresh
    /// classes (tests share one graph per process) or classes per object type
    /// discovered at run time. Each call makes a new class; its memory (a few
    /// dozen bytes plus the name) is never returned.
    ///
    /// The class's defining site is the caller's line (`#[track_caller]`).
    /// Called through a function pointer (`names.map(LockClass::leak)`) it
    /// is a line inside `core` instead, and exported graphs identify a class
    /// by name and site: call it from a closure (`names.map(|n|
    /// LockClass::leak(n))`).
    #[track_caller]
    pub fn leak(name: &str) -> &'static LockClass {
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        Box::leak(Box::new(LockClass::new_at(name, Location::caller())))
    }

    /// A class named `name` whose defining site is `site`.
    pub const fn new_at(name: &'static str, site: &'static Location<'static>) -> LockClass {
        LockClass {
            name,
            site,
            flags: 0,
            before: &[],
            id: AtomicU32::new(0),
        }
    }

    /// Marks the class atomic (non-sleeping, like a spinlock or a section
    /// with preemption off): taking a sleeping lock or reaching a
    /// `might_sleep()` point while one is held is reported.
    pub const fn atomic(mut self) -> LockClass {
        self.flags |= FLAG_ATOMIC;
        self
    }

    /// Forbids allocation while a lock of this class is held: `might_alloc()`
    /// (and so every allocation through `CheckedAlloc`) reports it.
    pub const fn no_alloc(mut self) -> LockClass {
        self.flags |= FLAG_NO_ALLOC;
        self
    }

    /// Excludes the class from validation: its locks are not tracked at all
    /// (lockdep's `lockdep_set_novalidate_class`). Use it for a lock whose
    /// ordering you have judged by other means; prefer a suppression of one
    /// order (`allow_order`), which keeps every other check.
    pub const fn not_validated(mut self) -> LockClass {
        self.flags |= FLAG_NOT_VALIDATED;
        self
    }

    /// Declares that locks of this class must be taken *before* (outside)
    /// locks of each class in `later`, like a hand-written lock rank. The
    /// order is part of the graph from this class's first use, so taking this
    /// class while holding one of `later` is reported even though the
    /// declared order itself was never exercised.
    pub const fn before(mut self, later: &'static [&'static LockClass]) -> LockClass {
        self.before = later;
        self
    }

    /// The class's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Where the class was defined.
    pub const fn site(&self) -> &'static Location<'static> {
        self.site
    }

    /// The classes this one is declared to be taken before.
    pub const fn declared_before(&self) -> &'static [&'static LockClass] {
        self.before
    }

    #[allow(dead_code)] // the disabled twin never reads class flags
    pub(crate) const fn flags(&self) -> u32 {
        self.flags
    }

    /// Whether the class is atomic (see [`LockClass::atomic`]).
    pub const fn is_atomic(&self) -> bool {
        self.flags & FLAG_ATOMIC != 0
    }

    /// Whether allocation is forbidden under this class (see [`LockClass::no_alloc`]).
    pub const fn is_no_alloc(&self) -> bool {
        self.flags & FLAG_NO_ALLOC != 0
    }

    #[allow(dead_code)] // the disabled twin never registers classes
    pub(crate) fn registered_id(&self) -> u32 {
        // Pairs with the Release store in the graph's class registration, so a
        // thread that sees the id also sees the class's graph entry published.
        self.id.load(Ordering::Acquire)
    }
}

impl fmt::Debug for LockClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockClass")
            .field("name", &self.name)
            .field("site", &format_args!("{}", self.site))
            .finish_non_exhaustive()
    }
}
