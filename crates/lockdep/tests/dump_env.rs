//! `KERNSYNC_LOCKDEP_DUMP=path` keeps a JSON snapshot of the graph current:
//! rewritten when the graph gains an edge and on `dump()`, with each class
//! identified by its name and defining site, and the suppressions (with
//! their hits, so stale ones show). `graph()` exports DOT and JSON too.
//!
//! The variable is read once, at the validator's first use, so it is set
//! first thing in the only test.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::export::{ClassNode, GraphSnapshot, SuppressionRecord};
use kernsync_lockdep::{
    allow_order, capture, dump, graph, is_enabled, DepKind, Held, LockClass, LockMap, Mode,
};
use std::panic::Location;
use std::path::{Path, PathBuf};

/// Removes the dump file (and a stray temporary) when the test ends.
struct TempFiles(Vec<PathBuf>);

impl Drop for TempFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Acquires `m` for write and returns the site the validator records.
#[track_caller]
fn take(m: &LockMap) -> (Held, &'static Location<'static>) {
    (m.acquire(Mode::Write), Location::caller())
}

fn read(path: &Path) -> GraphSnapshot {
    let text = std::fs::read_to_string(path).expect("the dump file exists");
    GraphSnapshot::from_json(&text).expect("the dump file parses")
}

fn index(g: &GraphSnapshot, class: &LockClass) -> usize {
    let node = ClassNode {
        name: class.name().to_owned(),
        site: Some(class.site().to_string()),
        subclass: 0,
    };
    let found: Vec<usize> = (0..g.classes.len())
        .filter(|&i| g.classes[i] == node)
        .collect();
    assert_eq!(found.len(), 1, "{node:?} once in {:#?}", g.classes);
    found[0]
}

#[test]
fn dump_file_tracks_the_graph() {
    let pid = std::process::id();
    let path = std::env::temp_dir().join(format!("kernsync-lockdep-dump-{pid}.json"));
    let tmp = path.with_extension(format!("tmp{pid}"));
    let _cleanup = TempFiles(vec![path.clone(), tmp.clone()]);
    let _ = std::fs::remove_file(&path);
    std::env::set_var("KERNSYNC_LOCKDEP_DUMP", &path);
    std::env::remove_var("KERNSYNC_LOCKDEP");
    assert!(is_enabled());

    // Classes alone add no edge: no file yet.
    let (ca, cb) = (LockClass::leak("dump_a"), LockClass::leak("dump_b"));
    let (a, b) = (LockMap::new(ca), LockMap::new(cb));
    let ((), reports) = capture(|| {
        let h = a.acquire(Mode::Write);
        a.release(h);
    });
    assert!(reports.is_empty(), "{reports:#?}");
    assert!(!path.exists(), "written only when the graph gains an edge");

    // The first edge writes it.
    let ((at_a, at_b), reports) = capture(|| {
        let (ha, at_a) = take(&a);
        let (hb, at_b) = take(&b);
        b.release(hb);
        a.release(ha);
        (at_a, at_b)
    });
    assert!(reports.is_empty(), "{reports:#?}");
    let g = read(&path);
    assert_eq!(g.classes.len(), 2, "{:#?}", g.classes);
    let (ia, ib) = (index(&g, ca), index(&g, cb));
    assert_eq!(g.edges.len(), 1, "{:#?}", g.edges);
    let e = &g.edges[0];
    assert_eq!((e.from, e.to, e.kind), (ia, ib, DepKind::EN));
    assert_eq!(e.held_at, at_a.to_string());
    assert_eq!(e.taken_at, at_b.to_string());
    assert!(!e.declared);
    assert!(g.suppressions.is_empty());
    assert_eq!(g, graph(), "the file is the graph");
    assert!(!tmp.exists(), "the temporary file was renamed into place");

    // Each new edge rewrites it: b -> c (a read), and a -> c.
    let cc = LockClass::leak("dump_c");
    let c = LockMap::new(cc);
    let ((), reports) = capture(|| {
        let ha = a.acquire(Mode::Write);
        let hb = b.acquire(Mode::Write);
        let hc = c.acquire(Mode::Read);
        c.release(hc);
        b.release(hb);
        a.release(ha);
    });
    assert!(reports.is_empty(), "{reports:#?}");
    let g = read(&path);
    let ic = index(&g, cc);
    let mut edges: Vec<(usize, usize, DepKind)> =
        g.edges.iter().map(|e| (e.from, e.to, e.kind)).collect();
    edges.sort_by_key(|&(f, t, k)| (f, t, k.as_str()));
    let mut expected = vec![
        (ia, ib, DepKind::EN),
        (ia, ic, DepKind::EN),
        (ib, ic, DepKind::EN),
    ];
    expected.sort_by_key(|&(f, t, k)| (f, t, k.as_str()));
    assert_eq!(edges, expected);

    // A suppression shows in the graph (unmatched: zero hits) once dumped;
    // dump() rewrites the file even without a new edge.
    let (cp, cq) = (LockClass::leak("dump_p"), LockClass::leak("dump_q"));
    allow_order(cp, cq, "dumped with zero hits");
    std::fs::remove_file(&path).expect("remove the dump");
    dump().expect("dump() writes the file");
    let g = read(&path);
    assert_eq!(
        g.suppressions,
        [SuppressionRecord {
            from: "dump_p".to_owned(),
            to: "dump_q".to_owned(),
            reason: "dumped with zero hits".to_owned(),
            hits: 0,
        }]
    );
    assert_eq!(g, graph());
    assert!(!tmp.exists());

    // The same graph as DOT and as JSON.
    let snap = graph();
    let dot = snap.to_dot();
    assert!(dot.starts_with("digraph"), "{dot}");
    for name in ["dump_a", "dump_b", "dump_c"] {
        assert!(dot.contains(&format!("label=\"{name}\"")), "{name}: {dot}");
    }
    assert_eq!(dot.matches(" -> n").count(), 3, "{dot}");
    assert_eq!(
        GraphSnapshot::from_json(&snap.to_json()).expect("parses"),
        snap
    );
}
