//! Exported graphs merge across processes, and cycles split between them are
//! found: through the public API and through the `kernsync-lockdep` binary.

use kernsync_lockdep::export::{
    ClassNode, CycleRecord, EdgeRecord, GraphSnapshot, SuppressionRecord,
};
use kernsync_lockdep::DepKind::{self, EN, ER, SN};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

fn class(name: &str, site: &str) -> ClassNode {
    ClassNode {
        name: name.to_string(),
        site: Some(site.to_string()),
        subclass: 0,
    }
}

/// A snapshot of one process: its classes `(name, site)` and edges
/// `(from, to, kind)` between them.
fn snapshot(classes: &[(&str, &str)], edges: &[(usize, usize, DepKind)]) -> GraphSnapshot {
    GraphSnapshot {
        classes: classes.iter().map(|&(n, s)| class(n, s)).collect(),
        edges: edges
            .iter()
            .map(|&(from, to, kind)| EdgeRecord {
                from,
                to,
                kind,
                held_at: format!("src/p.rs:{}:5", 10 + from),
                taken_at: format!("src/p.rs:{}:9", 20 + to),
                declared: false,
            })
            .collect(),
        suppressions: Vec::new(),
    }
}

/// Process one took `a` then `b` (in `k1`), process two `b` then `a` (in `k2`).
fn split_abba(k1: DepKind, k2: DepKind) -> [GraphSnapshot; 2] {
    let (a, b) = (("a", "src/a.rs:1:1"), ("b", "src/b.rs:1:1"));
    [
        snapshot(&[a, b], &[(0, 1, k1)]),
        snapshot(&[b, a], &[(0, 1, k2)]),
    ]
}

fn cycle_count(g: &GraphSnapshot) -> usize {
    g.cycles()
        .expect("small graphs never exhaust the search")
        .len()
}

#[test]
fn json_round_trip_keeps_everything() {
    let mut g = snapshot(
        &[
            ("quote\"d", "src/q.rs:1:1"),
            ("back\\slash", "C:\\src\\x.rs:2:3"),
            ("ünïcödé 中文 😀", "src/u.rs:4:5"),
            ("ctl\n\t\u{1}", "src/c.rs:6:7"),
        ],
        &[(0, 1, EN), (1, 2, ER), (2, 3, SN), (3, 0, DepKind::SR)],
    );
    g.classes.push(ClassNode {
        name: "anon#3".into(),
        site: None,
        subclass: 7,
    });
    g.edges[1].declared = true;
    g.edges[2].held_at = "<allocation>".into();
    g.suppressions.push(SuppressionRecord {
        from: "a\"".into(),
        to: "b\\".into(),
        reason: "boot only, \"trust me\" 😀".into(),
        hits: u64::MAX,
    });
    let text = g.to_json();
    assert!(text.contains("\"format\": \"kernsync-lockdep-graph\""));
    assert!(text.contains("\"version\": 1"));
    assert_eq!(GraphSnapshot::from_json(&text), Ok(g.clone()));
    assert_eq!(text, GraphSnapshot::from_json(&text).unwrap().to_json());
}

/// The layout the module docs of `export` show, byte for byte.
#[test]
fn to_json_writes_the_documented_layout() {
    let g = GraphSnapshot {
        classes: vec![
            class("mmap_lock", "src/mm.rs:10:1"),
            class("cpu_hotplug_lock", "src/cpu.rs:4:1"),
            ClassNode {
                name: "anon#7".into(),
                site: None,
                subclass: 0,
            },
        ],
        edges: vec![EdgeRecord {
            from: 0,
            to: 1,
            kind: SN,
            held_at: "src/mm.rs:80:9".into(),
            taken_at: "src/wq.rs:12:5".into(),
            declared: false,
        }],
        suppressions: vec![SuppressionRecord {
            from: "cpu_hotplug_lock".into(),
            to: "mmap_lock".into(),
            reason: "boot only".into(),
            hits: 0,
        }],
    };
    let documented = r#"{
  "format": "kernsync-lockdep-graph",
  "version": 1,
  "classes": [
    {"name": "mmap_lock", "site": "src/mm.rs:10:1", "subclass": 0},
    {"name": "cpu_hotplug_lock", "site": "src/cpu.rs:4:1", "subclass": 0},
    {"name": "anon#7", "site": null, "subclass": 0}
  ],
  "edges": [
    {"from": 0, "to": 1, "kind": "SN", "held_at": "src/mm.rs:80:9", "taken_at": "src/wq.rs:12:5", "declared": false}
  ],
  "suppressions": [
    {"from": "cpu_hotplug_lock", "to": "mmap_lock", "reason": "boot only", "hits": 0}
  ]
}
"#;
    assert_eq!(g.to_json(), documented);
    let empty = "{\n  \"format\": \"kernsync-lockdep-graph\",\n  \"version\": 1,\n  \
                 \"classes\": [],\n  \"edges\": [],\n  \"suppressions\": []\n}\n";
    assert_eq!(GraphSnapshot::default().to_json(), empty);
}

#[test]
fn from_json_accepts_compact_and_escaped_input() {
    let text = r#"{"format":"kernsync-lockdep-graph","version":1,
        "classes":[{"name":"a\u00e9\ud83d\ude00","site":null,"subclass":0,"extra":[1,{}]}],
        "edges":[],"suppressions":[]}"#;
    let g = GraphSnapshot::from_json(text).unwrap();
    assert_eq!(g.classes[0].name, "aé😀");
    assert_eq!(g.classes[0].site, None);
}

#[test]
fn from_json_rejects_bad_documents() {
    let good = snapshot(&[("a", "a.rs:1:1"), ("b", "b.rs:1:1")], &[(0, 1, EN)]).to_json();
    GraphSnapshot::from_json(&good).unwrap();
    let cases = [
        (
            "\"kernsync-lockdep-graph\"",
            "\"other-graph\"",
            "unknown format",
        ),
        ("\"version\": 1", "\"version\": 2", "unsupported version 2"),
        ("\"to\": 1", "\"to\": 2", "out of range"),
        ("\"from\": 0", "\"from\": 99999999999999999999", "too large"),
        (
            "\"kind\": \"EN\"",
            "\"kind\": \"XX\"",
            "unknown dependency kind",
        ),
        ("\"kind\": \"EN\"", "\"kind\": 1", "expected a string"),
        (
            "\"site\": \"a.rs:1:1\"",
            "\"site\": 3",
            "expected a string or null",
        ),
        ("\"subclass\": 0", "\"subclass\": -1", "negative"),
        ("\"edges\"", "\"edgez\"", "edges: missing"),
    ];
    for (from, to, expected) in cases {
        let bad = good.replacen(from, to, 1);
        assert_ne!(bad, good, "{from}");
        match GraphSnapshot::from_json(&bad) {
            Ok(_) => panic!("accepted {to}"),
            Err(e) => assert!(e.message().contains(expected), "{to}: {e}"),
        }
    }
    // Every proper prefix of the document (minus its final newline) is cut short.
    for end in 0..good.trim_end().len() {
        let e = GraphSnapshot::from_json(&good[..end]).unwrap_err();
        assert!(e.offset() <= end);
    }
    for garbage in ["", "null", "[1]", "{", "\u{0}", "{\"format\": 1}", "}{"] {
        assert!(GraphSnapshot::from_json(garbage).is_err(), "{garbage:?}");
    }
}

#[test]
fn from_json_survives_every_one_character_mutation() {
    let mut g = snapshot(
        &[("a", "a.rs:1:1"), ("é😀", "b.rs:1:1")],
        &[(0, 1, EN), (1, 0, ER)],
    );
    g.suppressions.push(SuppressionRecord {
        from: "a".into(),
        to: "b".into(),
        reason: "r".into(),
        hits: 1,
    });
    let text = g.to_json();
    for (at, _) in text.char_indices() {
        for c in ['"', '\\', '{', ']', ',', '0', '9', 'x', ' ', '\u{0}', 'é'] {
            let end = at + text[at..].chars().next().map_or(0, char::len_utf8);
            let mutated = format!("{}{c}{}", &text[..at], &text[end..]);
            // Ok or Err are both fine: the point is that it returns.
            if let Err(e) = GraphSnapshot::from_json(&mutated) {
                assert!(e.offset() <= mutated.len());
            }
        }
    }
}

#[test]
fn abba_split_across_processes_merges_into_one_cycle() {
    let halves = split_abba(EN, EN);
    assert_eq!(cycle_count(&halves[0]), 0);
    assert_eq!(cycle_count(&halves[1]), 0);
    let merged = GraphSnapshot::merge(&halves);
    assert_eq!(merged.classes.len(), 2);
    assert_eq!(merged.edges.len(), 2);
    let cycles = merged.cycles().unwrap();
    assert_eq!(cycles.len(), 1);
    let text = merged.describe_cycle(&cycles[0]);
    assert_eq!(
        text,
        "a -(EN)-> b  (a held at src/p.rs:10:5, b taken at src/p.rs:21:9)\n\
         b -(EN)-> a  (b held at src/p.rs:10:5, a taken at src/p.rs:21:9)"
    );
}

#[test]
fn same_names_at_different_sites_do_not_merge() {
    let one = snapshot(&[("a", "x/a.rs:1:1"), ("b", "x/b.rs:1:1")], &[(0, 1, EN)]);
    let two = snapshot(&[("b", "y/b.rs:1:1"), ("a", "y/a.rs:1:1")], &[(0, 1, EN)]);
    let merged = GraphSnapshot::merge(&[one, two]);
    assert_eq!(merged.classes.len(), 4);
    assert_eq!(cycle_count(&merged), 0);
}

#[test]
fn different_subclasses_do_not_merge() {
    let [one, mut two] = split_abba(EN, EN);
    two.classes[0].subclass = 1;
    let merged = GraphSnapshot::merge(&[one, two]);
    assert_eq!(merged.classes.len(), 3);
    assert_eq!(cycle_count(&merged), 0);
}

#[test]
fn recursive_read_then_shared_cycle_is_not_strong() {
    // a -(ER)-> b in one process, b -(SN)-> a in the other: b is entered by
    // an R edge and left by an S edge, so the cycle is not a deadlock.
    let merged = GraphSnapshot::merge(&split_abba(ER, SN));
    assert_eq!(merged.edges.len(), 2);
    assert_eq!(cycle_count(&merged), 0);
}

#[test]
fn exclusive_to_recursive_read_cycle_is_strong() {
    let merged = GraphSnapshot::merge(&split_abba(ER, ER));
    assert_eq!(cycle_count(&merged), 1);
}

#[test]
fn three_processes_three_locks_close_a_chain() {
    let (a, b, c) = (("a", "a.rs:1:1"), ("b", "b.rs:1:1"), ("c", "c.rs:1:1"));
    let parts = [
        snapshot(&[a, b], &[(0, 1, EN)]),
        snapshot(&[b, c], &[(0, 1, SN)]),
        snapshot(&[c, a], &[(0, 1, EN)]),
    ];
    for pair in [[0, 1], [1, 2], [0, 2]] {
        let two = GraphSnapshot::merge(&[parts[pair[0]].clone(), parts[pair[1]].clone()]);
        assert_eq!(cycle_count(&two), 0, "{pair:?}");
    }
    let merged = GraphSnapshot::merge(&parts);
    assert_eq!(merged.classes.len(), 3);
    let cycles = merged.cycles().unwrap();
    assert_eq!(cycles.len(), 1);
    assert_eq!(cycles[0].edges.len(), 3);
    // In cycle order: each edge leaves the class the previous one entered.
    let e = |i: usize| &merged.edges[cycles[0].edges[i]];
    for i in 0..3 {
        assert_eq!(e(i).to, e((i + 1) % 3).from);
    }
}

#[test]
fn merge_dedupes_edges_and_sums_suppressions() {
    let [mut one, mut two] = split_abba(EN, EN);
    two.edges.push(EdgeRecord {
        from: 1,
        to: 0,
        kind: EN,
        held_at: "later.rs:1:1".into(),
        taken_at: "later.rs:2:2".into(),
        declared: true,
    });
    let suppression = |reason: &str, hits| SuppressionRecord {
        from: "a".into(),
        to: "b".into(),
        reason: reason.into(),
        hits,
    };
    one.suppressions = vec![suppression("r", 2), suppression("other", 0)];
    two.suppressions = vec![suppression("r", 3)];
    let merged = GraphSnapshot::merge(&[one.clone(), two]);
    // two's extra edge is a -(EN)-> b again: kept once, with one's sites.
    assert_eq!(merged.edges.len(), 2);
    assert_eq!(merged.edges[0], one.edges[0]);
    assert_eq!(
        merged.suppressions,
        vec![suppression("r", 5), suppression("other", 0)]
    );
    assert_eq!(GraphSnapshot::merge(&[]), GraphSnapshot::default());
}

#[test]
fn dot_output_is_a_digraph_naming_every_class() {
    let mut merged = GraphSnapshot::merge(&split_abba(EN, SN));
    merged.classes[1].subclass = 3;
    let dot = merged.to_dot();
    assert!(dot.starts_with("digraph "), "{dot}");
    assert!(dot.contains("label=\"a\""), "{dot}");
    assert!(dot.contains("label=\"b/3\""), "{dot}");
    assert!(dot.contains("label=\"SN\""), "{dot}");
    assert!(dot.trim_end().ends_with('}'));

    let mut odd = snapshot(
        &[("a\"b\\c", "q.rs:1:1"), ("d\ne", "n.rs:1:1")],
        &[(0, 1, EN)],
    );
    odd.edges[0].declared = true;
    let dot = odd.to_dot();
    assert!(dot.contains(r#"n0 [label="a\"b\\c""#), "{dot}");
    assert!(dot.contains(r#"n1 [label="d\ne""#), "{dot}");
    assert!(dot.contains(r#"n0 -> n1 [label="EN""#), "{dot}");
    assert!(dot.contains("style=dashed"), "{dot}");
}

#[test]
fn empty_graph_round_trips() {
    let g = GraphSnapshot::default();
    assert_eq!(GraphSnapshot::from_json(&g.to_json()), Ok(g));
}

#[test]
fn a_cycle_is_found_once_whichever_edge_it_is_found_from() {
    let g = snapshot(
        &[("a", "a.rs:1:1"), ("b", "b.rs:1:1"), ("c", "c.rs:1:1")],
        &[(0, 1, EN), (1, 2, EN), (2, 0, EN)],
    );
    assert_eq!(
        g.cycles(),
        Ok(vec![CycleRecord {
            edges: vec![0, 1, 2]
        }])
    );
}

#[test]
fn parallel_edges_of_different_kinds_give_distinct_cycles() {
    let g = snapshot(
        &[("a", "a.rs:1:1"), ("b", "b.rs:1:1")],
        &[(0, 1, EN), (0, 1, ER), (1, 0, EN)],
    );
    let cycles = g.cycles().unwrap();
    assert_eq!(cycles.len(), 2);
    assert_eq!(cycles[0].edges, [0, 2]);
    assert_eq!(cycles[1].edges, [1, 2]);
}

#[test]
fn self_edges_and_dangling_edges_are_ignored() {
    let g = snapshot(&[("a", "a.rs:1:1")], &[(0, 0, EN), (0, 5, EN), (5, 0, EN)]);
    assert_eq!(g.cycles(), Ok(vec![]));
    assert_eq!(GraphSnapshot::merge(&[g]).edges.len(), 1);
}

#[test]
fn describe_disambiguates_shared_names_and_declared_orders() {
    let mut g = snapshot(
        &[("a", "a.rs:1:1"), ("b", "b.rs:1:1")],
        &[(0, 1, EN), (1, 0, SN)],
    );
    g.classes[1].subclass = 2;
    let both = CycleRecord { edges: vec![0, 1] };
    assert_eq!(
        g.describe_cycle(&both),
        "a -(EN)-> b/2  (a held at src/p.rs:10:5, b/2 taken at src/p.rs:21:9)\n\
         b/2 -(SN)-> a  (b/2 held at src/p.rs:11:5, a taken at src/p.rs:20:9)"
    );
    g.classes[1] = ClassNode {
        name: "a".into(),
        site: None,
        subclass: 0,
    };
    g.edges[1].declared = true;
    g.edges[1].held_at = "declared at d.rs:3:1".into();
    assert_eq!(
        g.describe_cycle(&CycleRecord { edges: vec![1, 7] }),
        "a [anonymous] -(SN)-> a [a.rs:1:1]  (declared order: declared at d.rs:3:1)\n\
         <edge 7 is not in this snapshot>"
    );
}

#[test]
fn parse_errors_give_line_column_and_offset() {
    let text = "{\"format\": \"kernsync-lockdep-graph\",\n \"version\": 2}";
    let e = GraphSnapshot::from_json(text).unwrap_err();
    assert_eq!((e.line(), e.column(), e.offset()), (2, 13, 49));
    assert_eq!(
        e.to_string(),
        "line 2, column 13 (byte 49): version: unsupported version 2 (this build reads version 1)"
    );
}

#[test]
fn parse_errors_name_the_member() {
    let mut g = snapshot(&[("a", "a.rs:1:1"), ("b", "b.rs:1:1")], &[(0, 1, EN)]);
    g.classes[1].subclass = 1;
    let text = g.to_json();
    let message = |from: &str, to: &str| {
        let bad = text.replacen(from, to, 1);
        assert_ne!(bad, text, "{from}");
        GraphSnapshot::from_json(&bad)
            .unwrap_err()
            .message()
            .to_string()
    };
    assert_eq!(
        message("\"subclass\": 1", "\"subclass\": 256"),
        "classes[1].subclass: must be at most 255"
    );
    assert_eq!(
        message("\"declared\": false", "\"declared\": 0"),
        "edges[0].declared: expected a boolean, found a number"
    );
    assert_eq!(
        message("\"held_at\"", "\"held\""),
        "edges[0].held_at: missing"
    );
    assert_eq!(
        message("\"to\": 1", "\"to\": 2"),
        "edges[0].to: class index 2 is out of range (2 classes)"
    );
    assert_eq!(
        GraphSnapshot::from_json("[]").unwrap_err().message(),
        "the document: expected an object, found an array"
    );
}

// ---- the command-line tool ----

/// A file under the temporary directory, unique to this process and call,
/// removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str, text: Option<&str>) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("kernsync-lockdep-{}-{n}-{tag}", std::process::id());
        let path = std::env::temp_dir().join(name);
        if let Some(text) = text {
            std::fs::write(&path, text).expect("write a temporary file");
        }
        TempFile(path)
    }

    fn graph(tag: &str, g: &GraphSnapshot) -> TempFile {
        TempFile::new(tag, Some(&g.to_json()))
    }

    fn arg(&self) -> &str {
        self.0.to_str().expect("temporary paths are UTF-8 here")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn cli(args: &[&str]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_kernsync-lockdep"))
        .args(args)
        .output()
        .expect("run kernsync-lockdep");
    (
        status.code().expect("exited normally"),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

#[test]
fn cli_merge_fails_on_a_split_abba() {
    let [one, two] = split_abba(EN, EN);
    let (f1, f2) = (
        TempFile::graph("one.json", &one),
        TempFile::graph("two.json", &two),
    );
    let (code, out, err) = cli(&["merge", f1.arg(), f2.arg()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("possible deadlock"), "{out}");
    assert!(
        out.contains("a -(EN)-> b  (a held at src/p.rs:10:5"),
        "{out}"
    );
    assert!(
        out.contains("b -(EN)-> a  (b held at src/p.rs:10:5"),
        "{out}"
    );
    // Each half alone is fine.
    assert_eq!(cli(&["cycles", f1.arg()]).0, 0);
    assert_eq!(cli(&["merge", f2.arg()]).0, 0);
}

#[test]
fn cli_merge_passes_without_a_strong_cycle() {
    let [mut one, two] = split_abba(ER, SN);
    one.suppressions.push(SuppressionRecord {
        from: "a".into(),
        to: "c".into(),
        reason: "legacy".into(),
        hits: 0,
    });
    let (f1, f2) = (
        TempFile::graph("one.json", &one),
        TempFile::graph("two.json", &two),
    );
    let (code, out, err) = cli(&["merge", f1.arg(), f2.arg()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("possible deadlock"), "{out}");
    assert!(out.contains("unused suppression: a -> c (legacy)"), "{out}");
}

#[test]
fn cli_reports_malformed_input_with_file_and_position() {
    let good = TempFile::graph("good.json", &split_abba(EN, EN)[0]);
    let bad = TempFile::new(
        "bad.json",
        Some("{\"format\": \"kernsync-lockdep-graph\",\n  oops}"),
    );
    let (code, out, err) = cli(&["merge", good.arg(), bad.arg()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains(bad.arg()), "{err}");
    assert!(err.contains("line 2, column 3 (byte 39)"), "{err}");
    let missing = TempFile::new("missing.json", None);
    let (code, _, err) = cli(&["cycles", missing.arg()]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read"), "{err}");
}

#[test]
fn cli_merge_writes_json_and_dot() {
    let [one, two] = split_abba(EN, EN);
    let (f1, f2) = (
        TempFile::graph("one.json", &one),
        TempFile::graph("two.json", &two),
    );
    let (json, dot) = (
        TempFile::new("out.json", None),
        TempFile::new("out.dot", None),
    );
    let (code, _, _) = cli(&[
        "merge",
        "-o",
        json.arg(),
        f1.arg(),
        "--dot",
        dot.arg(),
        f2.arg(),
    ]);
    assert_eq!(code, 1);
    let written = std::fs::read_to_string(&json.0).expect("merged JSON written");
    let parsed = GraphSnapshot::from_json(&written).expect("merged JSON parses back");
    assert_eq!(parsed, GraphSnapshot::merge(&[one, two]));
    let dot_text = std::fs::read_to_string(&dot.0).expect("DOT written");
    assert!(dot_text.starts_with("digraph "));
    // The merged file is itself a valid input.
    let (code, out, _) = cli(&["cycles", json.arg()]);
    assert_eq!(code, 1, "{out}");
    let (code, out, _) = cli(&["dot", json.arg()]);
    assert_eq!((code, out), (0, dot_text));
}

#[test]
fn cli_usage_errors_exit_2() {
    let f = TempFile::graph("g.json", &split_abba(EN, EN)[0]);
    for args in [
        &[][..],
        &["--help"],
        &["frobnicate"],
        &["merge"],
        &["merge", "-o"],
        &["merge", "--bogus", f.arg()],
        &["cycles"],
        &["cycles", f.arg(), f.arg()],
        &["dot"],
    ] {
        let (code, out, err) = cli(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("usage:"), "{args:?}: {err}");
    }
}
