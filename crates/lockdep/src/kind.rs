//! What a kind of lock offers, so a report's advice fits the lock it is
//! about. The validator knows no lock types (the lock crates only report to
//! it); each lock type passes a `const` [`LockKind`] with its `LockMap`,
//! recorded with the class at its first use, and the hints are built from it.

/// What a kind of lock offers, by the names of its methods: each `Some` is
/// a method (or methods) the type really has, which a report's hint may
/// tell the user to call. A compile test in the lock crates calls every
/// method their descriptions name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LockKind {
    /// The type, as users write it (`"RwSem"`).
    pub name: &'static str,
    /// Taking a read that never waits for a waiting writer (`"read_recursive"`).
    pub recursive_read: Option<&'static str>,
    /// Taking a read that can become a write (`"upgradable_read"`).
    pub upgradable_read: Option<&'static str>,
    /// Taking the lock as a subclass of its class (`"lock_nested"`).
    pub nested: Option<&'static str>,
    /// Taking many locks of one class under an outer lock (`"lock_nest_lock"`).
    pub nest_lock: Option<&'static str>,
    /// Taking locks of one class in a stated key order (`"lock_ordered"`).
    pub ordered: Option<&'static str>,
    /// Making a lock of its own class inline (`"named"`).
    pub named: Option<&'static str>,
}

impl LockKind {
    /// A lock driven through [`LockMap`](crate::LockMap) directly, which
    /// offers every mode and annotation as a `LockMap` method: the kind of
    /// a `LockMap` that was given none.
    pub const LOCK_MAP: LockKind = LockKind {
        name: "LockMap",
        recursive_read: Some("acquire(Mode::RecursiveRead)"),
        upgradable_read: None,
        nested: Some("acquire_nested"),
        nest_lock: Some("acquire_nest_lock"),
        ordered: Some("acquire_ordered"),
        named: Some("LockMap::named"),
    };

    /// Whether the kind offers any annotation that says nesting two locks
    /// of its class is ordered.
    pub const fn annotates_nesting(&self) -> bool {
        self.nested.is_some() || self.nest_lock.is_some() || self.ordered.is_some()
    }
}
