//! Exported lock-order graphs: snapshots, DOT and JSON, merging, cycles.
//!
//! One process only sees the lock orders its own threads took. If one test
//! binary takes `A` then `B` and another takes `B` then `A`, neither can
//! report the deadlock. A [`GraphSnapshot`] is the validator's graph written
//! down; snapshots from several processes [merge](GraphSnapshot::merge) into
//! one graph, and [`cycles`](GraphSnapshot::cycles) finds the strong cycles
//! (the deadlocks, see [`DepKind`]) that no single process could see. The
//! `kernsync-lockdep` binary does this from the command line:
//! `kernsync-lockdep merge a.json b.json` exits with status 1 when the
//! merged graph has a strong cycle, so CI fails.
//!
//! # Identity across processes
//!
//! A class is identified by its name, its defining site (`file:line:col`)
//! and its subclass, so two classes merge only when all three match. Two
//! unrelated classes that share a name but are defined in different places
//! stay apart. Anonymous classes (one per lock instance) have no site and a
//! name the producer makes unique per process, so they never merge.
//!
//! # The JSON format
//!
//! A snapshot is one JSON object. Its `"format"` is always
//! `"kernsync-lockdep-graph"`. Its `"version"` is `1`; a reader rejects
//! versions it does not know. [`GraphSnapshot::to_json`] writes the members
//! in the order shown below, with one class, edge or suppression per line,
//! so the files diff well:
//!
//! ```json
//! {
//!   "format": "kernsync-lockdep-graph",
//!   "version": 1,
//!   "classes": [
//!     {"name": "mmap_lock", "site": "src/mm.rs:10:1", "subclass": 0},
//!     {"name": "cpu_hotplug_lock", "site": "src/cpu.rs:4:1", "subclass": 0},
//!     {"name": "anon#7", "site": null, "subclass": 0}
//!   ],
//!   "edges": [
//!     {"from": 0, "to": 1, "kind": "SN", "held_at": "src/mm.rs:80:9", "taken_at": "src/wq.rs:12:5", "declared": false}
//!   ],
//!   "suppressions": [
//!     {"from": "cpu_hotplug_lock", "to": "mmap_lock", "reason": "boot only", "hits": 0}
//!   ]
//! }
//! ```
//!
//! - `classes[i]`: `name` (string), `site` (string, or `null` for an anonymous
//!   class), `subclass` (integer, 0 to 255).
//! - `edges[j]`: `from` and `to` are indices into `classes`; `to` was acquired
//!   while `from` was held. `kind` is `"ER"`, `"EN"`, `"SR"` or `"SN"` (see
//!   [`DepKind`]). `held_at` and `taken_at` are the sites of the two
//!   acquisitions. `declared` is `true` for a declared order
//!   (`LockClass::before`) rather than an observed one.
//! - `suppressions[k]`: an allowed order between two class names, why it is
//!   allowed, and how many times it matched.
//!
//! All members are required. Members not listed here are ignored. Numbers
//! are non-negative integers. Strings use the usual JSON escapes.
//!
//! # Example
//!
//! ```
//! use kernsync_lockdep::export::GraphSnapshot;
//!
//! // Each process saw half of an ABBA inversion.
//! let half = |from: &str, to: &str| format!(
//!     r#"{{"format": "kernsync-lockdep-graph", "version": 1,
//!         "classes": [{{"name": "{from}", "site": "{from}.rs:1:1", "subclass": 0}},
//!                     {{"name": "{to}", "site": "{to}.rs:1:1", "subclass": 0}}],
//!         "edges": [{{"from": 0, "to": 1, "kind": "EN", "held_at": "t.rs:1:1",
//!                     "taken_at": "t.rs:2:1", "declared": false}}],
//!         "suppressions": []}}"#);
//! let one = GraphSnapshot::from_json(&half("a", "b"))?;
//! let two = GraphSnapshot::from_json(&half("b", "a"))?;
//! assert!(one.cycles()?.is_empty() && two.cycles()?.is_empty());
//!
//! let merged = GraphSnapshot::merge(&[one, two]);
//! let cycles = merged.cycles()?;
//! assert_eq!(cycles.len(), 1);
//! println!("{}", merged.describe_cycle(&cycles[0]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::cycle::{strong_path, Out};
use crate::json::{self, Field, Object, Quoted};
use crate::mode::DepKind;
use core::fmt::{self, Write as _};
use std::collections::{HashMap, HashSet};

/// The value of the `"format"` member of every snapshot.
const FORMAT: &str = "kernsync-lockdep-graph";
/// The format version this build writes and reads.
const VERSION: u64 = 1;
/// How many search states one strong-path search may enqueue. Each search
/// visits a class at most twice, so only a graph of more than half a million
/// classes can reach it.
const SEARCH_BOUND: usize = 1 << 20;

/// One class (graph node) of a snapshot.
///
/// Identity across processes is `(name, site, subclass)`: classes from
/// different snapshots merge when all three are equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClassNode {
    /// The class's name.
    pub name: String,
    /// Defining site `"file:line:col"`. `None` for anonymous per-instance
    /// classes, which never merge: the producer makes their names unique
    /// per process.
    pub site: Option<String>,
    /// The subclass (`*_nested(n)`), 0 for the class itself.
    pub subclass: u8,
}

/// One dependency edge: `to` was acquired while `from` was held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeRecord {
    /// The held class, an index into [`GraphSnapshot::classes`].
    pub from: usize,
    /// The acquired class, an index into [`GraphSnapshot::classes`].
    pub to: usize,
    /// How `from` was held and `to` taken.
    pub kind: DepKind,
    /// Where `from` was acquired: `"file:line:col"`, `"<allocation>"` or
    /// `"declared at file:line:col"`.
    pub held_at: String,
    /// Where `to` was acquired.
    pub taken_at: String,
    /// A declared order (`LockClass::before`), not an observed one.
    pub declared: bool,
}

/// A suppression ("this order is allowed") and how often it matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuppressionRecord {
    /// The name of the class held first.
    pub from: String,
    /// The name of the class taken second.
    pub to: String,
    /// Why the order is allowed.
    pub reason: String,
    /// How many times the suppression matched an acquisition.
    pub hits: u64,
}

/// The observed lock-order graph of one process, or of several merged.
///
/// An edge whose `from` or `to` is not an index into `classes` never comes
/// out of [`from_json`](Self::from_json); if one is built by hand,
/// [`merge`](Self::merge) and [`cycles`](Self::cycles) skip it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GraphSnapshot {
    /// The graph's nodes.
    pub classes: Vec<ClassNode>,
    /// The graph's edges.
    pub edges: Vec<EdgeRecord>,
    /// The suppressions in force, with their hit counts.
    pub suppressions: Vec<SuppressionRecord>,
}

/// A strong cycle found in a snapshot by [`GraphSnapshot::cycles`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CycleRecord {
    /// Indices into the snapshot's [`edges`](GraphSnapshot::edges), in
    /// cycle order: each edge's `to` is the next edge's `from`, and the last
    /// edge's `to` is the first edge's `from`.
    pub edges: Vec<usize>,
}

/// The error [`GraphSnapshot::from_json`] returns: where the text is wrong
/// and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    offset: usize,
    line: usize,
    column: usize,
    message: String,
}

impl ParseError {
    fn new(text: &str, e: json::Error) -> ParseError {
        let offset = e.offset.min(text.len());
        // Offsets from the parser are char boundaries; be safe anyway.
        let before = text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        ParseError {
            offset,
            line,
            column,
            message: e.message,
        }
    }

    /// The byte offset of the problem in the text.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The 1-based line of the problem.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The 1-based column (in characters) of the problem.
    pub fn column(&self) -> usize {
        self.column
    }

    /// What is wrong, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {} (byte {}): {}",
            self.line, self.column, self.offset, self.message
        )
    }
}

impl std::error::Error for ParseError {}

/// The cycle search reached its bound before it could decide: the graph may
/// or may not have a strong cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapacityExhausted;

impl fmt::Display for CapacityExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the cycle search reached its bound; the graph is too large to check")
    }
}

impl std::error::Error for CapacityExhausted {}

impl GraphSnapshot {
    /// The graph in Graphviz DOT: one box per class, labelled with its name
    /// (and `/subclass` when not 0), one arrow per edge, labelled with its
    /// kind (`EN`, ...). Declared orders are dashed. Sites are in tooltips.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph lockdep {\n  node [shape=box];\n");
        for (i, c) in self.classes.iter().enumerate() {
            let site = c.site.as_deref().unwrap_or("anonymous");
            let _ = writeln!(
                out,
                "  n{i} [label={}, tooltip={}];",
                dot_quote(&class_label(c)),
                dot_quote(site)
            );
        }
        for e in &self.edges {
            let tooltip = format!("held at {}, taken at {}", e.held_at, e.taken_at);
            let style = if e.declared { ", style=dashed" } else { "" };
            let _ = writeln!(
                out,
                "  n{} -> n{} [label=\"{}\", tooltip={}{style}];",
                e.from,
                e.to,
                e.kind.as_str(),
                dot_quote(&tooltip)
            );
        }
        out.push_str("}\n");
        out
    }

    /// The graph in the JSON format described in the [module docs](self).
    ///
    /// The output is stable: the same snapshot always gives the same text.
    pub fn to_json(&self) -> String {
        let classes = json_list(&self.classes, |c| {
            let site = c.site.as_deref().map(Quoted);
            let site = site.map_or("null".to_string(), |s| s.to_string());
            let name = Quoted(&c.name);
            format!(
                "{{\"name\": {name}, \"site\": {site}, \"subclass\": {}}}",
                c.subclass
            )
        });
        let edges = json_list(&self.edges, |e| {
            let (held, taken) = (Quoted(&e.held_at), Quoted(&e.taken_at));
            format!(
                "{{\"from\": {}, \"to\": {}, \"kind\": \"{}\", \"held_at\": {held}, \
                 \"taken_at\": {taken}, \"declared\": {}}}",
                e.from,
                e.to,
                e.kind.as_str(),
                e.declared
            )
        });
        let suppressions = json_list(&self.suppressions, |s| {
            let (from, to, reason) = (Quoted(&s.from), Quoted(&s.to), Quoted(&s.reason));
            format!(
                "{{\"from\": {from}, \"to\": {to}, \"reason\": {reason}, \"hits\": {}}}",
                s.hits
            )
        });
        format!(
            "{{\n  \"format\": \"{FORMAT}\",\n  \"version\": {VERSION},\n  \"classes\": {classes},\n  \
             \"edges\": {edges},\n  \"suppressions\": {suppressions}\n}}\n"
        )
    }

    /// Reads a snapshot in the JSON format described in the [module docs](self).
    ///
    /// Checks the syntax, the format tag and version, the type of every
    /// member, that edge endpoints are indices into `classes`, that kinds
    /// are known and that subclasses fit a `u8`.
    pub fn from_json(s: &str) -> Result<GraphSnapshot, ParseError> {
        decode(s).map_err(|e| ParseError::new(s, e))
    }

    /// Merges snapshots, usually from different processes, into one.
    ///
    /// Classes are unified by `(name, site, subclass)`, in order of first
    /// appearance. Edges that are the same after that (same `from`, `to` and
    /// `kind`) are kept once, as the first snapshot that has them recorded
    /// them (sites and `declared`). Suppressions are concatenated; those with
    /// the same `(from, to, reason)` are kept once with their hits summed.
    pub fn merge(graphs: &[GraphSnapshot]) -> GraphSnapshot {
        let mut merged = GraphSnapshot::default();
        let mut class_ids: HashMap<ClassNode, usize> = HashMap::new();
        let mut edge_keys: HashSet<(usize, usize, DepKind)> = HashSet::new();
        let mut suppression_ids: HashMap<(String, String, String), usize> = HashMap::new();
        for g in graphs {
            let remap: Vec<usize> = g
                .classes
                .iter()
                .map(|c| {
                    *class_ids.entry(c.clone()).or_insert_with(|| {
                        merged.classes.push(c.clone());
                        merged.classes.len() - 1
                    })
                })
                .collect();
            for e in &g.edges {
                let (Some(&from), Some(&to)) = (remap.get(e.from), remap.get(e.to)) else {
                    continue; // dangling edge built by hand; see the type's docs
                };
                if edge_keys.insert((from, to, e.kind)) {
                    merged.edges.push(EdgeRecord {
                        from,
                        to,
                        ..e.clone()
                    });
                }
            }
            for s in &g.suppressions {
                let key = (s.from.clone(), s.to.clone(), s.reason.clone());
                match suppression_ids.get(&key) {
                    Some(&i) => {
                        let hits = &mut merged.suppressions[i].hits;
                        *hits = hits.saturating_add(s.hits);
                    }
                    None => {
                        suppression_ids.insert(key, merged.suppressions.len());
                        merged.suppressions.push(s.clone());
                    }
                }
            }
        }
        merged
    }

    /// Finds the graph's strong cycles: the potential deadlocks.
    ///
    /// For each edge `f -> t`, searches for a strong path from `t` back to
    /// `f` that the edge closes into a strong cycle (see [`DepKind`] for
    /// when a cycle is strong); a cycle found from several of its edges is
    /// reported once. Each cycle starts with the edge it was found from, in
    /// the order of the snapshot's edges. Self-edges and dangling edges are
    /// ignored.
    ///
    /// The search is bounded; reaching the bound is [`CapacityExhausted`],
    /// never a silent "no cycle".
    pub fn cycles(&self) -> Result<Vec<CycleRecord>, CapacityExhausted> {
        let n = self.classes.len();
        // The search works on u32 ids; a graph that does not fit is too large.
        if u32::try_from(n).is_err() || u32::try_from(self.edges.len()).is_err() {
            return Err(CapacityExhausted);
        }
        let usable = |e: &EdgeRecord| e.from < n && e.to < n && e.from != e.to;
        let mut adj: Vec<Vec<Out>> = vec![Vec::new(); n];
        for (id, e) in self.edges.iter().enumerate() {
            if usable(e) {
                // Casts are lossless: both counts fit a u32 (checked above).
                adj[e.from].push(Out {
                    to: e.to as u32,
                    kind: e.kind,
                    id: id as u32,
                });
            }
        }
        let mut seen: HashSet<Vec<usize>> = HashSet::new();
        let mut found = Vec::new();
        for (id, e) in self.edges.iter().enumerate() {
            if !usable(e) {
                continue;
            }
            let path = strong_path(
                |v| adj[v as usize].as_slice(),
                e.to as u32,
                e.kind.enters_recursive(),
                e.from as u32,
                e.kind.leaves_shared(),
                SEARCH_BOUND,
            )
            .map_err(|_| CapacityExhausted)?;
            let Some(path) = path else { continue };
            let mut edges = Vec::with_capacity(path.len() + 1);
            edges.push(id);
            edges.extend(path.into_iter().map(|p| p as usize));
            let mut key = edges.clone();
            key.sort_unstable();
            if seen.insert(key) {
                found.push(CycleRecord { edges });
            }
        }
        Ok(found)
    }

    /// A human description of a cycle, one line per edge (no trailing
    /// newline), such as
    /// `A -(EN)-> B  (A held at x.rs:1:1, B taken at x.rs:2:2)`.
    ///
    /// Classes are named as in [`to_dot`](Self::to_dot), followed by their
    /// site when another class of the snapshot has the same name.
    pub fn describe_cycle(&self, c: &CycleRecord) -> String {
        let mut lines = Vec::with_capacity(c.edges.len());
        for &i in &c.edges {
            let Some(e) = self.edges.get(i) else {
                lines.push(format!("<edge {i} is not in this snapshot>"));
                continue;
            };
            let (a, b) = (self.describe_class(e.from), self.describe_class(e.to));
            let k = e.kind.as_str();
            lines.push(if e.declared {
                format!("{a} -({k})-> {b}  (declared order: {})", e.held_at)
            } else {
                format!(
                    "{a} -({k})-> {b}  ({a} held at {}, {b} taken at {})",
                    e.held_at, e.taken_at
                )
            });
        }
        lines.join("\n")
    }

    /// A class's label, disambiguated by its site when the label is shared.
    fn describe_class(&self, i: usize) -> String {
        let Some(c) = self.classes.get(i) else {
            return format!("<class {i} is not in this snapshot>");
        };
        let label = class_label(c);
        let shared = self
            .classes
            .iter()
            .any(|o| o != c && o.name == c.name && o.subclass == c.subclass);
        if shared {
            format!("{label} [{}]", c.site.as_deref().unwrap_or("anonymous"))
        } else {
            label
        }
    }
}

/// `name`, or `name/subclass` when the subclass is not 0.
fn class_label(c: &ClassNode) -> String {
    if c.subclass == 0 {
        c.name.clone()
    } else {
        format!("{}/{}", c.name, c.subclass)
    }
}

/// `s` as a DOT quoted string: quotes and backslashes escaped, line breaks
/// as `\n`, other control characters as spaces.
fn dot_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON array with one item per line, indented to sit in `to_json`'s object.
fn json_list<T>(items: &[T], item: impl Fn(&T) -> String) -> String {
    if items.is_empty() {
        return "[]".to_string();
    }
    let rows: Vec<String> = items.iter().map(|x| format!("    {}", item(x))).collect();
    format!("[\n{}\n  ]", rows.join(",\n"))
}

/// Parses and validates a snapshot.
fn decode(text: &str) -> Result<GraphSnapshot, json::Error> {
    let root = json::parse(text)?;
    let top = Object::new(&root, String::new())?;

    let format = top.get("format")?;
    let format_name = format.str()?;
    if format_name != FORMAT {
        let quoted = Quoted(format_name);
        return Err(format.error(format_args!(
            "unknown format {quoted} (expected \"{FORMAT}\")"
        )));
    }
    let version = top.get("version")?;
    let version_number = version.u64()?;
    if version_number != VERSION {
        return Err(version.error(format_args!(
            "unsupported version {version_number} (this build reads version {VERSION})"
        )));
    }

    let mut g = GraphSnapshot::default();
    for r in top.get("classes")?.objects()? {
        let sub = r.get("subclass")?;
        let subclass = u8::try_from(sub.u64()?).map_err(|_| sub.error("must be at most 255"))?;
        g.classes.push(ClassNode {
            name: r.get("name")?.str()?.to_string(),
            site: r.get("site")?.opt_str()?.map(str::to_string),
            subclass,
        });
    }
    let n = g.classes.len();
    for r in top.get("edges")?.objects()? {
        let kind = r.get("kind")?;
        let kind_name = kind.str()?;
        let Some(dep_kind) = DepKind::parse(kind_name) else {
            let quoted = Quoted(kind_name);
            return Err(kind.error(format_args!(
                "unknown dependency kind {quoted} (expected ER, EN, SR or SN)"
            )));
        };
        g.edges.push(EdgeRecord {
            from: class_index(&r.get("from")?, n)?,
            to: class_index(&r.get("to")?, n)?,
            kind: dep_kind,
            held_at: r.get("held_at")?.str()?.to_string(),
            taken_at: r.get("taken_at")?.str()?.to_string(),
            declared: r.get("declared")?.bool()?,
        });
    }
    for r in top.get("suppressions")?.objects()? {
        g.suppressions.push(SuppressionRecord {
            from: r.get("from")?.str()?.to_string(),
            to: r.get("to")?.str()?.to_string(),
            reason: r.get("reason")?.str()?.to_string(),
            hits: r.get("hits")?.u64()?,
        });
    }
    Ok(g)
}

/// An edge endpoint: an index into the `classes` classes read before.
fn class_index(f: &Field<'_>, classes: usize) -> Result<usize, json::Error> {
    let i = f.u64()?;
    match usize::try_from(i) {
        Ok(i) if i < classes => Ok(i),
        _ => Err(f.error(format_args!(
            "class index {i} is out of range ({classes} classes)"
        ))),
    }
}
