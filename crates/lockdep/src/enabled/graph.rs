//! The global dependency graph: classes, nodes (class, subclass), typed
//! edges, the chain cache, suppressions and the reported-once set.
//!
//! The graph sits behind one `std::sync::Mutex` (futex-based: it never
//! allocates, unlike parking_lot_core's contended path), taken only on a slow
//! path: a class's first use, a chain not seen before, a report. Every holder
//! of the lock runs as the validator's own work (`Busy`), so its allocations
//! do not re-enter the validator through a checking allocator.

use super::config;
use super::thread::{Busy, ThreadState, CLASS_FLAGS_SHIFT, THREAD};
use super::ClassKey;
use crate::class::{LockClass, FLAG_NOT_VALIDATED};
use crate::cycle::{strong_path, Exhausted, Out};
use crate::export::{ClassNode, EdgeRecord, GraphSnapshot, SuppressionRecord};
use crate::mode::{DepKind, Mode};
use crate::report::{Dependency, HeldLock, Site};
use crate::table::Table;
use crate::{Limits, LimitsError};
use core::panic::Location;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// Slots of the chain cache: twice the largest chain bound, so the table is
/// at most half full. 2^17 slots x 12 bytes = 1.5 MiB of zeroed memory, of
/// which only touched pages cost anything.
pub(crate) const CHAIN_SLOTS: usize = 1 << 17;
/// Slots of the construction-site cache.
const SITE_SLOTS: usize = 1 << 14;

#[cfg(not(loom))]
static CHAINS: Table<CHAIN_SLOTS> = Table::new();
#[cfg(not(loom))]
static SITES: Table<SITE_SLOTS> = Table::new();
#[cfg(loom)]
static CHAINS: std::sync::LazyLock<Table<CHAIN_SLOTS>> = std::sync::LazyLock::new(Table::new);
#[cfg(loom)]
static SITES: std::sync::LazyLock<Table<SITE_SLOTS>> = std::sync::LazyLock::new(Table::new);

static GRAPH: Mutex<Option<Graph>> = Mutex::new(None);

/// Whether the chain with this key has been validated (lock-free, no writes).
#[inline]
pub(crate) fn chain_cached(key: u64) -> bool {
    CHAINS.contains(key)
}

/// Runs `f` on the graph, as the validator's own work.
///
/// Not re-entrant: the graph lock is a plain mutex. The one way back in is
/// an allocator that locks, called for the validator's own allocations made
/// here; every entry point reachable from a lock operation therefore checks
/// [`entered`] first and, inside, leaves that acquisition unvalidated.
pub(crate) fn with<R>(f: impl FnOnce(&mut Graph) -> R) -> R {
    struct Leave<'a>(&'a ThreadState);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            self.0.in_graph.set(false);
        }
    }
    THREAD.with(|t| {
        debug_assert!(!t.in_graph.get(), "lockdep: graph entered twice");
        let _busy = Busy::enter(t);
        let mut g = lock();
        t.in_graph.set(true);
        let _leave = Leave(t);
        f(g.get_or_insert_with(Graph::new))
    })
}

/// Whether this thread is inside [`with`] (see there).
#[inline]
pub(crate) fn entered() -> bool {
    THREAD.with(|t| t.in_graph.get())
}

/// [`with`], or `None` if this thread is already inside it: for the report
/// builders a lock operation reaches, which then stay silent (the lock is
/// the allocator's, serving the validator's own allocation).
pub(crate) fn try_with<R>(f: impl FnOnce(&mut Graph) -> R) -> Option<R> {
    (!entered()).then(|| with(f))
}

fn lock() -> MutexGuard<'static, Option<Graph>> {
    // Nothing panics while holding it on purpose; if something did, the
    // graph is still structurally sound (every update is one push).
    GRAPH.lock().unwrap_or_else(|e| e.into_inner())
}

struct ClassInfo {
    name: String,
    /// The defining site: a `LockClass`'s, or the construction site.
    site: Option<&'static Location<'static>>,
    /// The `LockClass` this is, for suppressions given by reference.
    class: Option<&'static LockClass>,
}

struct NodeInfo {
    class: u32,
    subclass: u8,
    out: Vec<Out>,
}

struct EdgeInfo {
    from: u32,
    to: u32,
    held_mode: Mode,
    taken_mode: Mode,
    held_at: Site,
    taken_at: Site,
    declared: bool,
}

enum Matcher {
    Class(&'static LockClass),
    Name(String),
}

struct Allow {
    from: Matcher,
    to: Matcher,
    reason: String,
    hits: u64,
}

/// A cycle found while adding an edge: edge ids, the closing edge last.
pub(crate) struct Cycle(pub Vec<u32>);

/// The graph proper.
pub(crate) struct Graph {
    classes: Vec<ClassInfo>,
    sites: HashMap<(&'static str, u32, u32), u32>,
    nodes: Vec<NodeInfo>,
    node_ids: HashMap<(u32, u8), u32>,
    edges: Vec<EdgeInfo>,
    edge_ids: HashMap<(u32, u32, DepKind), u32>,
    chains: usize,
    reported: HashSet<u64>,
    allows: Vec<Allow>,
    limits: Limits,
    anonymous: u32,
}

impl Graph {
    fn new() -> Graph {
        let placeholder = ClassInfo {
            name: String::new(),
            site: None,
            class: None,
        };
        Graph {
            classes: vec![placeholder],
            sites: HashMap::new(),
            nodes: vec![NodeInfo {
                class: 0,
                subclass: 0,
                out: Vec::new(),
            }],
            node_ids: HashMap::new(),
            edges: Vec::new(),
            edge_ids: HashMap::new(),
            chains: 0,
            reported: HashSet::new(),
            allows: Vec::new(),
            limits: Limits::DEFAULT,
            anonymous: 0,
        }
    }

    /// Adds a class, or reports the class bound (`Err`).
    fn add_class(&mut self, info: ClassInfo) -> Result<u32, Bound> {
        if self.classes.len() > self.limits.classes {
            return Err(Bound::Classes);
        }
        self.classes.push(info);
        Ok(self.classes.len() as u32 - 1)
    }

    /// Registers a static class (and its declared order) on first use.
    ///
    /// The declarations are followed with a work list, not recursion: a
    /// chain of `before` declarations may be as deep as the class bound.
    /// Each class's edges are added when it is registered, before the classes
    /// it names have edges of their own, so the cycle searches stay short.
    fn register(&mut self, c: &'static LockClass, out: &mut Vec<Found>) -> Result<u32, Bound> {
        let id = c.id.load(core::sync::atomic::Ordering::Relaxed);
        if id != 0 {
            return Ok(id);
        }
        let id = self.register_one(c)?;
        let mut todo = vec![(id, c)];
        while let Some((from_id, from)) = todo.pop() {
            for later in from.declared_before() {
                let mut to = later.id.load(core::sync::atomic::Ordering::Relaxed);
                if to == 0 {
                    to = self.register_one(later)?;
                    todo.push((to, later));
                }
                let (f, t) = (self.node(from_id, 0)?, self.node(to, 0)?);
                let site = Site::Declared(from.site());
                if let Some(cycle) =
                    self.add_edge(f, t, Mode::Write, Mode::Write, site, site, true)?
                {
                    out.push(Found::Cycle(cycle));
                }
            }
        }
        Ok(id)
    }

    /// Gives a static class its id (its declarations are the caller's).
    fn register_one(&mut self, c: &'static LockClass) -> Result<u32, Bound> {
        let id = self.add_class(ClassInfo {
            name: c.name().to_owned(),
            site: Some(c.site()),
            class: Some(c),
        })?;
        // Pairs with the Acquire in `LockClass::registered_id`.
        c.id.store(id, core::sync::atomic::Ordering::Release);
        Ok(id)
    }

    /// The node of (class, subclass), made on first use.
    pub fn node(&mut self, class: u32, subclass: u8) -> Result<u32, Bound> {
        if let Some(&n) = self.node_ids.get(&(class, subclass)) {
            return Ok(n);
        }
        if self.nodes.len() > self.limits.classes {
            return Err(Bound::Classes);
        }
        self.nodes.push(NodeInfo {
            class,
            subclass,
            out: Vec::new(),
        });
        let n = self.nodes.len() as u32 - 1;
        self.node_ids.insert((class, subclass), n);
        Ok(n)
    }

    /// Adds the edge `from -> to` unless it exists or is suppressed, and
    /// returns the strong cycle it closes, if any.
    #[allow(clippy::too_many_arguments)]
    pub fn add_edge(
        &mut self,
        from: u32,
        to: u32,
        held_mode: Mode,
        taken_mode: Mode,
        held_at: Site,
        taken_at: Site,
        declared: bool,
    ) -> Result<Option<Cycle>, Bound> {
        let kind = DepKind::new(held_mode, taken_mode);
        if from == to || self.edge_ids.contains_key(&(from, to, kind)) {
            return Ok(None);
        }
        if !declared && self.suppressed(from, to) {
            return Ok(None);
        }
        if self.edges.len() >= self.limits.edges {
            return Err(Bound::Edges);
        }
        let nodes = &self.nodes;
        let path = strong_path(
            |n| nodes[n as usize].out.as_slice(),
            to,
            kind.enters_recursive(),
            from,
            kind.leaves_shared(),
            self.limits.search,
        )
        .map_err(|Exhausted| Bound::Search)?;
        let id = self.edges.len() as u32;
        self.edges.push(EdgeInfo {
            from,
            to,
            held_mode,
            taken_mode,
            held_at,
            taken_at,
            declared,
        });
        self.edge_ids.insert((from, to, kind), id);
        self.nodes[from as usize].out.push(Out { to, kind, id });
        if let Some(path) = config::dump_path() {
            let json = self.snapshot().to_json();
            write_atomically(path, &json);
        }
        Ok(path.map(|mut p| {
            p.push(id);
            Cycle(p)
        }))
    }

    fn suppressed(&mut self, from: u32, to: u32) -> bool {
        let (fc, tc) = (
            self.nodes[from as usize].class,
            self.nodes[to as usize].class,
        );
        let (f, t) = (&self.classes[fc as usize], &self.classes[tc as usize]);
        let matches = |m: &Matcher, c: &ClassInfo| match m {
            Matcher::Class(k) => c.class.is_some_and(|x| core::ptr::eq(x, *k)),
            Matcher::Name(n) => *n == c.name,
        };
        match self
            .allows
            .iter_mut()
            .find(|a| matches(&a.from, f) && matches(&a.to, t))
        {
            Some(a) => {
                a.hits += 1;
                true
            }
            None => false,
        }
    }

    /// Records a validated chain.
    pub fn insert_chain(&mut self, key: u64) -> Result<(), Bound> {
        if chain_cached(key) {
            return Ok(());
        }
        if self.chains >= self.limits.chains {
            return Err(Bound::Chains);
        }
        self.chains += 1;
        CHAINS.insert(key, 1);
        Ok(())
    }

    /// True the first time `key` is seen: each distinct problem is reported
    /// once per process.
    pub fn first_report(&mut self, key: impl Hash) -> bool {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        self.reported.insert(h.finish())
    }

    /// The bounds in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The label of (class, subclass): its name, with `/n` for subclass n.
    pub fn label(&self, class: u32, subclass: u8) -> String {
        let name = self
            .classes
            .get(class as usize)
            .map_or("<unknown>", |c| c.name.as_str());
        match subclass {
            0 => name.to_owned(),
            n => format!("{name}/{n}"),
        }
    }

    pub fn node_label(&self, node: u32) -> String {
        let n = &self.nodes[node as usize];
        self.label(n.class, n.subclass)
    }

    /// The report form of an edge.
    pub fn dependency(&self, edge: u32) -> Dependency {
        let e = &self.edges[edge as usize];
        Dependency {
            from: self.node_label(e.from),
            to: self.node_label(e.to),
            held_mode: e.held_mode,
            taken_mode: e.taken_mode,
            held_at: e.held_at,
            taken_at: e.taken_at,
            declared: e.declared,
        }
    }

    /// A thread's held locks, labelled.
    pub fn held_list(&self, t: &ThreadState) -> Vec<HeldLock> {
        (0..t.depth())
            .map(|i| {
                let e = t.entry(i);
                let mut h = HeldLock {
                    class: self.label(e.class, e.subclass),
                    mode: e.mode,
                    site: Site::Code(e.site),
                };
                if e.flags & super::thread::E_ALLOC != 0 {
                    h.site = Site::Allocation;
                }
                h
            })
            .collect()
    }

    /// The graph as a snapshot.
    pub fn snapshot(&self) -> GraphSnapshot {
        let pid = std::process::id();
        let classes = self.nodes[1..]
            .iter()
            .map(|n| {
                let c = &self.classes[n.class as usize];
                ClassNode {
                    name: match c.site {
                        Some(_) => c.name.clone(),
                        // Per-instance classes never merge across processes.
                        None => format!("{} (pid {pid})", c.name),
                    },
                    site: c.site.map(|s| s.to_string()),
                    subclass: n.subclass,
                }
            })
            .collect();
        let edges = self
            .edges
            .iter()
            .map(|e| EdgeRecord {
                from: e.from as usize - 1,
                to: e.to as usize - 1,
                kind: DepKind::new(e.held_mode, e.taken_mode),
                held_at: e.held_at.to_string(),
                taken_at: e.taken_at.to_string(),
                declared: e.declared,
            })
            .collect();
        let name = |m: &Matcher| match m {
            Matcher::Class(c) => c.name().to_owned(),
            Matcher::Name(n) => n.clone(),
        };
        let suppressions = self
            .allows
            .iter()
            .map(|a| SuppressionRecord {
                from: name(&a.from),
                to: name(&a.to),
                reason: a.reason.clone(),
                hits: a.hits,
            })
            .collect();
        GraphSnapshot {
            classes,
            edges,
            suppressions,
        }
    }
}

/// A bound of the graph that was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Bound {
    Classes,
    Edges,
    Chains,
    Search,
}

impl Bound {
    pub fn describe(self, l: &Limits) -> String {
        match self {
            Bound::Classes => format!("the class bound ({} classes and subclasses)", l.classes),
            Bound::Edges => format!("the dependency bound ({} edges)", l.edges),
            Bound::Chains => format!("the chain cache bound ({} chains)", l.chains),
            Bound::Search => format!("the cycle search bound ({} states)", l.search),
        }
    }
}

/// What registering a class found besides its id.
pub(crate) enum Found {
    Cycle(Cycle),
}

/// What resolving a class inside [`with`] gives: not validated this time,
/// and not to be cached (the next acquisition resolves it properly).
pub(crate) const UNRESOLVED: u64 = (FLAG_NOT_VALIDATED as u64) << CLASS_FLAGS_SHIFT | 1;

/// Resolves a `LockMap`'s class to `id | flags << CLASS_FLAGS_SHIFT`, or
/// [`UNRESOLVED`].
pub(super) fn resolve(key: ClassKey) -> u64 {
    if entered() && !matches!(key, ClassKey::Class(_)) {
        return UNRESOLVED;
    }
    match key {
        ClassKey::Class(c) => class_bits(c),
        ClassKey::Site(site, name) if !is_std_site(site) => {
            if let Some(id) = SITES.get(site as *const Location<'static> as u64) {
                return u64::from(id);
            }
            resolve_with(|g| {
                let k = (site.file(), site.line(), site.column());
                if let Some(&id) = g.sites.get(&k) {
                    return Ok(id);
                }
                let id = g.add_class(ClassInfo {
                    name: name.map_or_else(|| site.to_string(), str::to_owned),
                    site: Some(site),
                    class: None,
                })?;
                g.sites.insert(k, id);
                if g.sites.len() < SITE_SLOTS / 2 {
                    SITES.insert(site as *const Location<'static> as u64, id);
                }
                Ok(id)
            })
        }
        ClassKey::Site(site, _) => resolve_with(|g| {
            g.anonymous += 1;
            let name = format!(
                "anonymous#{} (made in the standard library at {site})",
                g.anonymous
            );
            g.add_class(ClassInfo {
                name,
                site: None,
                class: None,
            })
        }),
        ClassKey::Instance => resolve_with(|g| {
            g.anonymous += 1;
            let name = format!("anonymous#{}", g.anonymous);
            g.add_class(ClassInfo {
                name,
                site: None,
                class: None,
            })
        }),
    }
}

/// A site in the standard library: `/rustc/<hash>/library/...` in shipped
/// builds, `.../library/{core,alloc,std}/src/...` when std is built from source.
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

/// `id | flags << CLASS_FLAGS_SHIFT` of a static class, registering it on first use.
pub(crate) fn class_bits(c: &'static LockClass) -> u64 {
    let id = c.registered_id();
    if id != 0 {
        return u64::from(id) | (u64::from(c.flags()) << CLASS_FLAGS_SHIFT);
    }
    if entered() {
        return UNRESOLVED;
    }
    let mut found = Vec::new();
    let r = with(|g| g.register(c, &mut found).map_err(|b| b.describe(&g.limits)));
    for Found::Cycle(cycle) in found {
        super::slow::declared_cycle(cycle);
    }
    match r {
        Ok(id) => u64::from(id) | (u64::from(c.flags()) << CLASS_FLAGS_SHIFT),
        Err(bound) => {
            super::slow::capacity(bound);
            u64::from(FLAG_NOT_VALIDATED) << CLASS_FLAGS_SHIFT
        }
    }
}

fn resolve_with(f: impl FnOnce(&mut Graph) -> Result<u32, Bound>) -> u64 {
    match with(|g| f(g).map_err(|b| b.describe(&g.limits))) {
        Ok(id) => u64::from(id),
        Err(bound) => {
            super::slow::capacity(bound);
            u64::from(FLAG_NOT_VALIDATED) << CLASS_FLAGS_SHIFT
        }
    }
}

/// The label of a class (subclass 0 when `subclass` is 0).
pub(crate) fn class_label(class: u32, subclass: u8) -> String {
    try_with(|g| g.label(class, subclass)).unwrap_or_else(|| format!("class#{class}"))
}

pub(crate) fn set_limits(limits: Limits) -> Result<(), LimitsError> {
    if limits.chains > CHAIN_SLOTS / 2 {
        return Err(LimitsError::TooLarge("chains", CHAIN_SLOTS / 2));
    }
    if limits.classes > u32::MAX as usize / 2 || limits.edges > u32::MAX as usize / 2 {
        return Err(LimitsError::TooLarge(
            "classes or edges",
            u32::MAX as usize / 2,
        ));
    }
    with(|g| {
        // Both tables start with a placeholder at index 0.
        let classes_in_use = (g.classes.len() - 1).max(g.nodes.len() - 1);
        if limits.classes < classes_in_use
            || limits.edges < g.edges.len()
            || limits.chains < g.chains
        {
            return Err(LimitsError::BelowUse);
        }
        g.limits = limits;
        Ok(())
    })
}

/// Allows the order `from -> to` (taking `to` while holding `from`): the
/// dependency is not recorded, so no cycle through it is reported. `reason`
/// says why it is safe; it is kept in the graph dump. Declare it before the
/// locks are used: chains validated earlier stay validated.
pub fn allow_order(from: &'static LockClass, to: &'static LockClass, reason: &str) {
    let reason = reason.to_owned();
    with(|g| {
        g.allows.push(Allow {
            from: Matcher::Class(from),
            to: Matcher::Class(to),
            reason,
            hits: 0,
        })
    });
}

/// Reads suppressions from a file, one per line: `from -> to: reason`, where
/// `from` and `to` are class names; blank lines and `#` comments are skipped.
pub(crate) fn load_allow_file(path: &Path) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "kernsync-lockdep: cannot read KERNSYNC_LOCKDEP_ALLOW file {}: {e}",
                path.display()
            );
            return;
        }
    };
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_allow_line(line) {
            Some((from, to, reason)) => with(|g| {
                g.allows.push(Allow {
                    from: Matcher::Name(from),
                    to: Matcher::Name(to),
                    reason,
                    hits: 0,
                })
            }),
            None => eprintln!(
                "kernsync-lockdep: {}:{}: expected `from -> to: reason`, found {line:?}",
                path.display(),
                n + 1
            ),
        }
    }
}

fn parse_allow_line(line: &str) -> Option<(String, String, String)> {
    let (from, rest) = line.split_once("->")?;
    // The reason follows the first colon that ends a word (followed by a
    // space or the end): class names may hold colons (`mm::lock`, the
    // `file.rs:10:5` names of per-site classes).
    let colon = rest
        .char_indices()
        .find(|&(i, c)| c == ':' && rest[i + 1..].chars().next().is_none_or(char::is_whitespace))?
        .0;
    let (to, reason) = (&rest[..colon], &rest[colon + 1..]);
    let (from, to, reason) = (from.trim(), to.trim(), reason.trim());
    if from.is_empty() || to.is_empty() || reason.is_empty() {
        return None;
    }
    Some((from.to_owned(), to.to_owned(), reason.to_owned()))
}

/// The suppressions that have not matched any dependency so far in this
/// process: stale ones to delete (or orders the run never exercised).
pub fn unused_suppressions() -> Vec<SuppressionRecord> {
    with(|g| g.snapshot().suppressions)
        .into_iter()
        .filter(|s| s.hits == 0)
        .collect()
}

/// A snapshot of the dependency graph observed so far in this process.
pub fn graph() -> GraphSnapshot {
    with(|g| g.snapshot())
}

/// Writes the graph to the file named by `KERNSYNC_LOCKDEP_DUMP` now (it is
/// also rewritten whenever the graph gains an edge). Does nothing when the
/// variable is unset.
pub fn dump() -> std::io::Result<()> {
    config::validating();
    match config::dump_path() {
        Some(path) => {
            let json = graph().to_json();
            write_file(path, &json)
        }
        None => Ok(()),
    }
}

fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

fn write_atomically(path: &Path, text: &str) {
    if let Err(e) = write_file(path, text) {
        eprintln!(
            "kernsync-lockdep: cannot write KERNSYNC_LOCKDEP_DUMP file {}: {e}",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::parse_allow_line;

    #[test]
    fn allow_lines() {
        assert_eq!(
            parse_allow_line("a -> b: reviewed, never concurrent"),
            Some(("a".into(), "b".into(), "reviewed, never concurrent".into()))
        );
        assert_eq!(parse_allow_line("a -> b"), None);
        assert_eq!(parse_allow_line("a b: x"), None);
        assert_eq!(parse_allow_line(" -> b: x"), None);
        // Colons inside class names are not the separator.
        assert_eq!(
            parse_allow_line("mm::lock -> src/a.rs:10:5: taken once at start-up"),
            Some((
                "mm::lock".into(),
                "src/a.rs:10:5".into(),
                "taken once at start-up".into()
            ))
        );
        assert_eq!(parse_allow_line("a -> b:"), None);
    }
}
