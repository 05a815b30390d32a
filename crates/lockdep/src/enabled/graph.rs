//! The global dependency graph: classes, nodes (class, subclass), typed
//! edges, the chain cache's bookkeeping, suppressions and the reported-once
//! set.
//!
//! The graph sits behind one `std::sync::Mutex` (futex-based: it never
//! allocates, unlike parking_lot_core's contended path), taken only on a slow
//! path: a class's first use, a chain not seen before, a report. Every holder
//! of the lock runs as the validator's own work (`Busy`), so its allocations
//! do not re-enter the validator through a checking allocator.
//!
//! This layer finds things and returns them (a [`Cycle`] an edge closes, a
//! [`Bound`] reached); it never builds or delivers a report.

use super::backtrace::{self, TraceId};
use super::chains::{self, CHAIN_SLOTS};
use super::thread::{with_thread, Busy, ThreadState};
use crate::class::LockClass;
use crate::cycle::{strong_path, Exhausted, Out};
use crate::export::{ClassNode, EdgeRecord, GraphSnapshot, SuppressionRecord};
use crate::kind::LockKind;
use crate::limits::{Limits, LimitsError};
use crate::mode::{DepKind, Mode};
use crate::report::{Dependency, Site};
use core::panic::Location;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

static GRAPH: Mutex<Option<Graph>> = Mutex::new(None);

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
    with_thread(|t| {
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
    with_thread(|t| t.in_graph.get())
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

/// What a construction-site class is called, beside its site: a name the
/// user gave (`Mutex::named`), and the owner of an internal lock (the
/// chain a notifier chain's lock belongs to). Both are part of the class's
/// key: a helper that names its locks differently makes different classes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub(crate) struct SiteName {
    pub owner: Option<&'static str>,
    pub name: Option<&'static str>,
}

impl SiteName {
    /// A plain site: no name, no owner.
    pub const NONE: SiteName = SiteName {
        owner: None,
        name: None,
    };

    /// The class's label: `name`, or the site, after the owner if any.
    pub fn label(self, site: &Location<'_>) -> String {
        let own = match self.name {
            Some(name) => name.to_owned(),
            None => site.to_string(),
        };
        match self.owner {
            Some(owner) => format!("{owner} {own}"),
            None => own,
        }
    }
}

/// What the graph keeps of a class.
pub(crate) struct ClassInfo {
    pub name: String,
    /// The defining site: a `LockClass`'s, or the construction site.
    pub site: Option<&'static Location<'static>>,
    /// The `LockClass` this is, for suppressions given by reference.
    pub class: Option<&'static LockClass>,
    /// What its locks offer (from the first lock of the class used).
    pub kind: &'static LockKind,
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
    /// Where the edge was born (`KERNSYNC_LOCKDEP_BACKTRACE=1`), in `traces`.
    trace: Option<TraceId>,
}

/// What a suppression matches a class by.
pub(crate) enum Matcher {
    /// The class itself (`allow_order`).
    Class(&'static LockClass),
    /// Its name (the allow file).
    Name(String),
    /// A glob over its defining site's file or its name (an allow-file
    /// name with `*` or `?`): classes in code the user does not own.
    Glob(String),
}

impl Matcher {
    /// The allow file's word for a class: a glob if it has `*` or `?`.
    pub fn parse(word: String) -> Matcher {
        match word.contains(['*', '?']) {
            true => Matcher::Glob(word),
            false => Matcher::Name(word),
        }
    }

    fn matches(&self, c: &ClassInfo) -> bool {
        match self {
            Matcher::Class(k) => c.class.is_some_and(|x| core::ptr::eq(x, *k)),
            Matcher::Name(n) => *n == c.name,
            Matcher::Glob(g) => {
                glob(g.as_bytes(), c.name.as_bytes())
                    || c.site
                        .is_some_and(|s| glob(g.as_bytes(), s.file().as_bytes()))
            }
        }
    }

    fn text(&self) -> String {
        match self {
            Matcher::Class(c) => c.name().to_owned(),
            Matcher::Name(n) | Matcher::Glob(n) => n.clone(),
        }
    }
}

/// Whether `text` matches `pattern`, where `*` (or `**`) is any run of
/// characters, `/` included, and `?` any one character. Linear-time
/// backtracking over the last `*`.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                while pattern.get(p) == Some(&b'*') {
                    p += 1;
                }
                star = Some((p, t));
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

struct Allow {
    from: Matcher,
    to: Matcher,
    reason: String,
    hits: u64,
}

/// A cycle found while adding an edge: edge ids, the closing edge last.
#[derive(Clone)]
pub(crate) struct Cycle(pub Vec<u32>);

/// The graph proper.
pub(crate) struct Graph {
    classes: Vec<ClassInfo>,
    sites: HashMap<(&'static str, u32, u32, SiteName), u32>,
    nodes: Vec<NodeInfo>,
    node_ids: HashMap<(u32, u8), u32>,
    edges: Vec<EdgeInfo>,
    edge_ids: HashMap<(u32, u32, DepKind), u32>,
    chains: usize,
    reported: HashSet<u64>,
    allows: Vec<Allow>,
    limits: Limits,
    /// Classes made without a site, numbered for their names.
    pub anonymous: u32,
    /// Edges were added since the dump was last written.
    dirty: bool,
    /// The edges' backtraces.
    traces: backtrace::Store,
}

impl Graph {
    fn new() -> Graph {
        let placeholder = ClassInfo {
            name: String::new(),
            site: None,
            class: None,
            kind: &LockKind::LOCK_MAP,
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
            dirty: false,
            traces: backtrace::Store::default(),
        }
    }

    /// Adds a class, or reports the class bound (`Err`).
    pub fn add_class(&mut self, info: ClassInfo) -> Result<u32, Bound> {
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
    pub fn register(&mut self, c: &'static LockClass, out: &mut Vec<Cycle>) -> Result<u32, Bound> {
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
                    out.push(cycle);
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
            kind: &LockKind::LOCK_MAP,
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
        let trace = (!declared)
            .then(|| self.traces.capture(taken_at.location()))
            .flatten();
        self.edges.push(EdgeInfo {
            from,
            to,
            held_mode,
            taken_mode,
            held_at,
            taken_at,
            declared,
            trace,
        });
        self.edge_ids.insert((from, to, kind), id);
        self.nodes[from as usize].out.push(Out { to, kind, id });
        self.dirty = true;
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
        match self
            .allows
            .iter_mut()
            .find(|a| a.from.matches(f) && a.to.matches(t))
        {
            Some(a) => {
                a.hits += 1;
                true
            }
            None => false,
        }
    }

    /// Whether a suppression `class -> class` allows taking a lock of
    /// `class` while one is held (a second read of one lock, two locks of
    /// the class nested): the allow file's way to silence a judged-safe
    /// recursion, which has no second class to name. Counts as a hit.
    pub fn recursion_allowed(&mut self, class: u32) -> bool {
        let c = &self.classes[class as usize];
        match self
            .allows
            .iter_mut()
            .find(|a| a.from.matches(c) && a.to.matches(c))
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
        if chains::cached(key) {
            return Ok(());
        }
        if self.chains >= self.limits.chains {
            return Err(Bound::Chains);
        }
        self.chains += 1;
        chains::insert(key);
        Ok(())
    }

    /// Whether edges were added since the last call (for the graph dump).
    pub fn take_dirty(&mut self) -> bool {
        core::mem::take(&mut self.dirty)
    }

    /// The construction-site class of `site`, made on first use.
    pub fn site_class(
        &mut self,
        site: &'static Location<'static>,
        name: SiteName,
        kind: &'static LockKind,
    ) -> Result<u32, Bound> {
        let k = (site.file(), site.line(), site.column(), name);
        if let Some(&id) = self.sites.get(&k) {
            return Ok(id);
        }
        let id = self.add_class(ClassInfo {
            name: name.label(site),
            site: Some(site),
            class: None,
            kind,
        })?;
        self.sites.insert(k, id);
        Ok(id)
    }

    /// Records what the locks of `class` offer, unless a lock type's
    /// description is recorded already (the first one used wins).
    pub fn record_kind(&mut self, class: u32, kind: &'static LockKind) {
        if let Some(c) = self.classes.get_mut(class as usize) {
            // By value: a promoted `const` may have one address per codegen
            // unit, so the default is not one address.
            if *c.kind == LockKind::LOCK_MAP {
                c.kind = kind;
            }
        }
    }

    /// What the locks of `class` offer.
    pub fn kind(&self, class: u32) -> &'static LockKind {
        self.classes
            .get(class as usize)
            .map_or(&LockKind::LOCK_MAP, |c| c.kind)
    }

    /// The construction site of a class made per site (not a `LockClass`,
    /// not anonymous): every lock made at that line is of the class.
    pub fn construction_site(&self, class: u32) -> Option<&'static Location<'static>> {
        let c = self.classes.get(class as usize)?;
        c.class.is_none().then_some(c.site).flatten()
    }

    /// How many construction-site classes exist.
    pub fn site_classes(&self) -> usize {
        self.sites.len()
    }

    /// Adds a suppression of `from -> to`.
    pub fn allow(&mut self, from: Matcher, to: Matcher, reason: String) {
        self.allows.push(Allow {
            from,
            to,
            reason,
            hits: 0,
        });
    }

    /// Changes the bounds, unless one is below what is in use.
    pub fn set_limits(&mut self, limits: Limits) -> Result<(), LimitsError> {
        // Both tables start with a placeholder at index 0.
        let classes_in_use = (self.classes.len() - 1).max(self.nodes.len() - 1);
        if limits.classes < classes_in_use
            || limits.edges < self.edges.len()
            || limits.chains < self.chains
        {
            return Err(LimitsError::BelowUse);
        }
        self.limits = limits;
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
            backtrace: e.trace.map(|t| self.traces.get(t)),
            held_in: self.traces.function(e.held_at.location()),
            taken_in: e.trace.and_then(|t| self.traces.first_function(t)),
        }
    }

    /// The function seen taking a lock at `site`, if a backtrace was
    /// taken there (a new edge into it).
    pub fn function_at(&self, site: Site) -> Option<std::sync::Arc<str>> {
        self.traces.function(site.location())
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
        let name = Matcher::text;
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

/// Bounds the validator can hold at all: the chain cache is a fixed table,
/// and ids are `u32`s.
pub(crate) fn check_maxima(limits: &Limits) -> Result<(), LimitsError> {
    if limits.chains > CHAIN_SLOTS / 2 {
        return Err(LimitsError::TooLarge("chains", CHAIN_SLOTS / 2));
    }
    if limits.classes > u32::MAX as usize / 2 || limits.edges > u32::MAX as usize / 2 {
        return Err(LimitsError::TooLarge(
            "classes or edges",
            u32::MAX as usize / 2,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        let m = |p: &str, t: &str| glob(p.as_bytes(), t.as_bytes());
        let site = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.38.0/src/sync/mutex.rs";
        assert!(m("*/tokio-1.*/src/**", site));
        assert!(m("**/tokio-1.38.0/src/sync/*.rs", site));
        assert!(!m("*/tokio-0.*/src/**", site));
        assert!(m("a?c", "abc") && !m("a?c", "ac"));
        assert!(m("*", "") && m("**", "x/y") && !m("", "x"));
        assert!(m("*b*b*b", "abababab") && !m("*b*b*b*c", "abababab"));
        assert!(m(
            "lock first taken at src/*",
            "lock first taken at src/db.rs:3:9"
        ));
    }
}
