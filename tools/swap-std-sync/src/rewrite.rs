//! Finds the `std::sync` paths of one source file and the edits that make
//! them `kernsync::sync` paths.
//!
//! - A path whose first segment is `std` (or `::std`) and second is `sync`
//!   has its `std` replaced by `kernsync`, in expressions, types, patterns,
//!   macro bodies and `use` trees alike.
//! - In a `use` tree, a `sync` branch of a `std::{..}` group cannot be
//!   renamed in place: it is removed from the group and imported by a new
//!   `use kernsync::sync::..;` item with the same attributes and visibility,
//!   placed right after the original item (or replacing it when nothing of
//!   it is left).
//! - What cannot be rewritten safely is a [`Problem`]: a glob import of `std`
//!   (it brings `sync` into scope unnamed), `std` renamed by `as` (its
//!   `sync` paths would be written through the new name), a `use` item or
//!   a path with `std` that does not parse (a macro body's `$` fragments).
//!
//! Comments and literals are never touched.

use crate::lex::{lex, Kind, Token};

/// One replacement of the byte range `start..end` by `text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    /// First byte replaced.
    pub start: usize,
    /// One past the last byte replaced.
    pub end: usize,
    /// The replacement.
    pub text: String,
}

/// Something the rewriter will not rewrite, at a 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Line of the offending token.
    pub line: usize,
    /// What is wrong, and why it cannot be rewritten.
    pub message: String,
}

/// The edits that swap every `std::sync` path of `src`, or why it cannot be done.
pub fn plan(src: &str) -> Result<Vec<Edit>, Vec<Problem>> {
    let tokens = match lex(src) {
        Ok(t) => t,
        Err(e) => {
            return Err(vec![Problem {
                line: line_of(src, e.offset),
                message: format!("unterminated {}: cannot tell code from literals", e.what),
            }])
        }
    };
    let code: Vec<Token> = tokens.into_iter().filter(|t| !t.is_comment()).collect();
    let mut p = Planner {
        src,
        code: &code,
        edits: Vec::new(),
        problems: Vec::new(),
    };
    p.run();
    if p.problems.is_empty() {
        p.edits.sort_by_key(|e| e.start);
        Ok(p.edits)
    } else {
        Err(p.problems)
    }
}

/// Applies non-overlapping edits to `src`.
pub fn apply(src: &str, edits: &[Edit]) -> String {
    let mut out = String::with_capacity(src.len() + 64);
    let mut at = 0;
    for e in edits {
        assert!(e.start >= at, "overlapping edits at byte {}", e.start);
        out.push_str(&src[at..e.start]);
        out.push_str(&e.text);
        at = e.end;
    }
    out.push_str(&src[at..]);
    out
}

/// How many `kernsync::sync` paths the code of `src` holds (comments and
/// literals not counted).
pub fn count_kernsync_sync(src: &str) -> usize {
    let Ok(tokens) = lex(src) else { return 0 };
    let code: Vec<&Token> = tokens.iter().filter(|t| !t.is_comment()).collect();
    code.windows(3)
        .filter(|w| {
            w[0].text(src) == "kernsync" && w[1].kind == Kind::PathSep && w[2].text(src) == "sync"
        })
        .count()
}

/// Inserts `extern crate kernsync;` into a crate root, after its inner
/// attributes and inner doc comments (edition 2015 resolves `use` paths
/// from the crate root, so the crate must be named there).
pub fn add_extern_crate(src: &str) -> Result<String, Problem> {
    const ITEM: &str = "#[allow(unused_extern_crates)]\nextern crate kernsync;\n";
    let tokens = lex(src).map_err(|e| Problem {
        line: line_of(src, e.offset),
        message: format!("unterminated {}", e.what),
    })?;
    let text = |i: usize| tokens.get(i).map(|t| t.text(src));
    let mut i = 0;
    loop {
        match tokens.get(i) {
            Some(t) if matches!(t.kind, Kind::Comment | Kind::InnerDoc) => i += 1,
            Some(_)
                if text(i) == Some("#") && text(i + 1) == Some("!") && text(i + 2) == Some("[") =>
            {
                i = match matching(&tokens, src, i + 2) {
                    Some(close) => close + 1,
                    None => {
                        return Err(Problem {
                            line: line_of(src, tokens[i].start),
                            message: "unbalanced inner attribute".into(),
                        })
                    }
                }
            }
            _ => break,
        }
    }
    let at = tokens.get(i).map_or(src.len(), |t| t.start);
    let at = src[..at]
        .rfind('\n')
        .map_or(0, |n| n + 1)
        .max(tokens.get(i.wrapping_sub(1)).map_or(0, |t| t.end));
    let mut out = String::with_capacity(src.len() + ITEM.len() + 1);
    out.push_str(&src[..at]);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(ITEM);
    out.push_str(&src[at..]);
    Ok(out)
}

/// The index of the token closing the bracket opened at `open`.
fn matching(tokens: &[Token], src: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        if t.kind != Kind::Punct {
            continue;
        }
        match t.text(src) {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn line_of(src: &str, offset: usize) -> usize {
    src[..offset].bytes().filter(|&b| b == b'\n').count() + 1
}

/// A parsed use tree: `[::] seg::seg.. [as x | ::* | ::{..}]`.
struct UseTree {
    /// Index (in the code tokens) of its first token.
    first: usize,
    /// Index one past its last token.
    last: usize,
    /// Its path segments and their token indices.
    segs: Vec<(String, usize)>,
    tail: Tail,
}

enum Tail {
    None,
    Rename,
    Glob,
    Group(Vec<UseTree>),
}

/// What became of a use tree: kept where it is (perhaps with edits inside),
/// or removed, its `std::sync` part moved to the new `kernsync::sync` item.
enum Fate {
    Keep,
    Remove,
}

struct Planner<'a> {
    src: &'a str,
    code: &'a [Token],
    edits: Vec<Edit>,
    problems: Vec<Problem>,
}

impl<'a> Planner<'a> {
    fn text(&self, i: usize) -> &'a str {
        self.code.get(i).map_or("", |t| t.text(self.src))
    }

    fn kind(&self, i: usize) -> Option<Kind> {
        self.code.get(i).map(|t| t.kind)
    }

    fn problem(&mut self, token: usize, message: impl Into<String>) {
        let line = line_of(self.src, self.code[token].start);
        self.problems.push(Problem {
            line,
            message: message.into(),
        });
    }

    fn replace_std(&mut self, token: usize) {
        let t = self.code[token];
        self.edits.push(Edit {
            start: t.start,
            end: t.end,
            text: "kernsync".into(),
        });
    }

    fn run(&mut self) {
        let mut i = 0;
        while i < self.code.len() {
            if self.kind(i) == Some(Kind::Ident) && self.text(i) == "use" && self.text(i + 1) != "<"
            {
                i = self.use_item(i);
            } else {
                if self.text(i) == "std" && self.is_first_segment(i) && !self.is_metavar(i) {
                    self.std_path(i);
                }
                i += 1;
            }
        }
    }

    /// Whether the ident at `i` is a macro metavariable (`$std`).
    fn is_metavar(&self, i: usize) -> bool {
        i > 0 && self.text(i - 1) == "$" && self.code[i - 1].end == self.code[i].start
    }

    /// Whether the ident at `i` starts a path (is not `a::std`).
    fn is_first_segment(&self, i: usize) -> bool {
        if i == 0 || self.kind(i - 1) != Some(Kind::PathSep) {
            return true;
        }
        // `::std` is absolute unless `::` follows a path segment or generics.
        match self.code.get(i.wrapping_sub(2)) {
            None => true,
            Some(t) if t.kind == Kind::Ident => {
                let w = t.text(self.src);
                is_keyword(w) && !matches!(w, "self" | "super" | "crate" | "Self")
            }
            Some(t) => t.text(self.src) != ">",
        }
    }

    /// A `std` path outside `use` items.
    fn std_path(&mut self, i: usize) {
        if self.kind(i + 1) != Some(Kind::PathSep) {
            return;
        }
        match self.text(i + 2) {
            "sync" if self.kind(i + 2) == Some(Kind::Ident) => self.replace_std(i),
            "$" => self.problem(
                i,
                "`std::$..`: a macro fragment after `std::` may be `sync`",
            ),
            _ => {}
        }
    }

    /// The `use` item whose keyword is at `kw`; returns the index after it.
    fn use_item(&mut self, kw: usize) -> usize {
        let end = self.item_end(kw);
        let parsed = self
            .parse_tree(kw + 1)
            .filter(|(_, next)| *next == end && self.text(end) == ";");
        let Some((tree, _)) = parsed else {
            if let Some(s) = (kw..end).find(|&j| self.text(j) == "std" && !self.is_metavar(j)) {
                self.problem(s, "a `use` item naming `std` that this tool cannot parse");
            }
            return end + 1;
        };
        let mut moved = Vec::new();
        let fate = self.tree(&tree, &[], &mut moved);
        if moved.is_empty() {
            return end + 1;
        }
        let lead = if self.kind(kw + 1) == Some(Kind::PathSep) {
            "::"
        } else {
            ""
        };
        let path = if moved.len() == 1 {
            match moved[0].as_str() {
                "self" => String::new(),
                m => match m.strip_prefix("self ") {
                    Some(rename) => format!(" {rename}"),
                    None => format!("::{m}"),
                },
            }
        } else {
            // A moved group joins the list by its contents: `self` may not
            // stand in a group without a prefix (`{{self, Arc}, ..}`).
            let items: Vec<&str> = moved
                .iter()
                .map(
                    |m| match m.strip_prefix('{').and_then(|m| m.strip_suffix('}')) {
                        Some(inner) => inner.trim().trim_end_matches(',').trim_end(),
                        None => m.as_str(),
                    },
                )
                .filter(|m| !m.is_empty())
                .collect();
            format!("::{{{}}}", items.join(", "))
        };
        let new_use = format!("use {lead}kernsync::sync{path};");
        let (use_start, semi_end) = (self.code[kw].start, self.code[end].end);
        match fate {
            Fate::Remove => self.edits.push(Edit {
                start: use_start,
                end: semi_end,
                text: new_use,
            }),
            Fate::Keep => {
                let item_start = self.code[self.item_start(kw)].start;
                let line_start = self.src[..item_start].rfind('\n').map_or(0, |n| n + 1);
                let before = &self.src[line_start..item_start];
                let indent = if before.trim().is_empty() { before } else { "" };
                let prefix = &self.src[item_start..use_start];
                let text = format!("\n{indent}{prefix}{new_use}");
                self.edits.push(Edit {
                    start: semi_end,
                    end: semi_end,
                    text,
                });
            }
        }
        end + 1
    }

    /// The index of the `;` ending the item at `kw` (or of the last token).
    fn item_end(&self, kw: usize) -> usize {
        let mut depth = 0i32;
        for j in kw..self.code.len() {
            match self.text(j) {
                "{" | "(" | "[" => depth += 1,
                "}" | ")" | "]" => {
                    depth -= 1;
                    if depth < 0 {
                        return j;
                    }
                }
                ";" if depth == 0 => return j,
                _ => {}
            }
        }
        self.code.len() - 1
    }

    /// The first token of the item whose `use` is at `kw`: its visibility
    /// and outer attributes included.
    fn item_start(&self, kw: usize) -> usize {
        let mut j = kw;
        if j > 0 && self.text(j - 1) == "pub" {
            j -= 1;
        } else if j > 0 && self.text(j - 1) == ")" {
            if let Some(open) = self.matching_back(j - 1) {
                if open > 0 && self.text(open - 1) == "pub" {
                    j = open - 1;
                }
            }
        }
        while j > 0 && self.text(j - 1) == "]" {
            match self.matching_back(j - 1) {
                Some(open) if open > 0 && self.text(open - 1) == "#" => j = open - 1,
                _ => break,
            }
        }
        j
    }

    fn matching_back(&self, close: usize) -> Option<usize> {
        let mut depth = 0usize;
        for j in (0..=close).rev() {
            match self.text(j) {
                ")" | "]" | "}" => depth += 1,
                "(" | "[" | "{" => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(j);
                    }
                }
                _ => {}
            }
        }
        None
    }

    fn parse_tree(&self, mut i: usize) -> Option<(UseTree, usize)> {
        let first = i;
        if self.kind(i) == Some(Kind::PathSep) {
            i += 1;
        }
        let mut segs = Vec::new();
        let tail = loop {
            match (self.kind(i)?, self.text(i)) {
                (Kind::Ident, w) if w != "as" => {
                    segs.push((w.to_owned(), i));
                    i += 1;
                    if self.kind(i) == Some(Kind::PathSep) {
                        i += 1;
                        continue;
                    }
                    if self.text(i) == "as" {
                        if self.kind(i + 1) != Some(Kind::Ident) {
                            return None;
                        }
                        i += 2;
                        break Tail::Rename;
                    }
                    break Tail::None;
                }
                (Kind::Punct, "*") => {
                    i += 1;
                    break Tail::Glob;
                }
                (Kind::Punct, "{") => {
                    i += 1;
                    let mut children = Vec::new();
                    while self.text(i) != "}" {
                        let (child, next) = self.parse_tree(i)?;
                        children.push(child);
                        i = next;
                        match self.text(i) {
                            "," => i += 1,
                            "}" => {}
                            _ => return None,
                        }
                    }
                    i += 1;
                    break Tail::Group(children);
                }
                _ => return None,
            }
        };
        Some((
            UseTree {
                first,
                last: i,
                segs,
                tail,
            },
            i,
        ))
    }

    /// Plans the edits of `t`, whose parent path is `prefix`; pushes what
    /// moves to the new item onto `moved`, as paths relative to `std::sync`.
    fn tree(&mut self, t: &UseTree, prefix: &[&str], moved: &mut Vec<String>) -> Fate {
        let own: Vec<&str> = t.segs.iter().map(|(s, _)| s.as_str()).collect();
        let full: Vec<&str> = if own == ["self"] {
            prefix.to_vec()
        } else {
            prefix.iter().chain(&own).copied().collect()
        };
        if full.len() >= 2 && full[0] == "std" && full[1] == "sync" && own != ["self"] {
            if prefix.is_empty() {
                self.replace_std(t.segs[0].1);
                return Fate::Keep;
            }
            // Under `std::{..}`: `sync` is this tree's first segment.
            let sync_tok = t.segs[0].1;
            let rest = if self.kind(sync_tok + 1) == Some(Kind::PathSep) {
                self.src[self.code[sync_tok + 2].start..self.code[t.last - 1].end].to_owned()
            } else {
                let after = &self.src[self.code[sync_tok].end..self.code[t.last - 1].end];
                format!("self{after}")
            };
            moved.push(rest);
            return Fate::Remove;
        }
        match &t.tail {
            Tail::Glob if full == ["std"] => {
                self.problem(
                    t.first,
                    "glob import of `std` brings `sync` into scope unnamed",
                );
            }
            Tail::Rename if full == ["std"] => {
                self.problem(
                    t.first,
                    "`std` renamed: its `sync` paths would be written through the new name",
                );
            }
            Tail::Group(children) if full.is_empty() || full == ["std"] => {
                let fates: Vec<Fate> = children
                    .iter()
                    .map(|c| self.tree(c, &full, moved))
                    .collect();
                let kept: Vec<usize> = (0..children.len())
                    .filter(|&k| matches!(fates[k], Fate::Keep))
                    .collect();
                if kept.is_empty() && !children.is_empty() {
                    return Fate::Remove;
                }
                self.remove_children(children, &kept);
            }
            _ => {}
        }
        Fate::Keep
    }

    /// Deletes from a group the children not in `kept` (at least one is kept).
    fn remove_children(&mut self, children: &[UseTree], kept: &[usize]) {
        let Some(&last_kept) = kept.last() else {
            return;
        };
        let tok = |p: &Self, i: usize| p.code[i];
        for k in 0..last_kept {
            if !kept.contains(&k) {
                let (start, end) = (
                    tok(self, children[k].first).start,
                    tok(self, children[k + 1].first).start,
                );
                self.edits.push(Edit {
                    start,
                    end,
                    text: String::new(),
                });
            }
        }
        if last_kept + 1 < children.len() {
            let start = tok(self, children[last_kept].last - 1).end;
            let end = tok(self, children[children.len() - 1].last - 1).end;
            self.edits.push(Edit {
                start,
                end,
                text: String::new(),
            });
        }
    }
}

fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "as" | "async"
            | "await"
            | "break"
            | "const"
            | "continue"
            | "crate"
            | "dyn"
            | "else"
            | "enum"
            | "extern"
            | "false"
            | "fn"
            | "for"
            | "if"
            | "impl"
            | "in"
            | "let"
            | "loop"
            | "match"
            | "mod"
            | "move"
            | "mut"
            | "pub"
            | "ref"
            | "return"
            | "self"
            | "Self"
            | "static"
            | "struct"
            | "super"
            | "trait"
            | "true"
            | "type"
            | "unsafe"
            | "use"
            | "where"
            | "while"
            | "yield"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rewrite of `src`, checked to leave nothing to rewrite.
    fn swap(src: &str) -> String {
        let edits = plan(src).unwrap_or_else(|p| panic!("{p:?}"));
        let out = apply(src, &edits);
        assert_eq!(plan(&out), Ok(vec![]), "not a fixed point:\n{out}");
        out
    }

    fn refused(src: &str) -> Vec<Problem> {
        plan(src).expect_err("should be refused")
    }

    #[test]
    fn simple_use_items_are_renamed_in_place() {
        assert_eq!(swap("use std::sync::Mutex;"), "use kernsync::sync::Mutex;");
        assert_eq!(
            swap("use ::std::sync::{Arc, Mutex};"),
            "use ::kernsync::sync::{Arc, Mutex};"
        );
        assert_eq!(swap("use std::sync;"), "use kernsync::sync;");
        assert_eq!(swap("use std::sync as s;"), "use kernsync::sync as s;");
        assert_eq!(
            swap("use std::sync::atomic::{AtomicUsize, Ordering};"),
            "use kernsync::sync::atomic::{AtomicUsize, Ordering};"
        );
        assert_eq!(swap("use std::sync::*;"), "use kernsync::sync::*;");
    }

    #[test]
    fn paths_in_code_are_renamed() {
        let src = "fn f() -> std::sync::Arc<::std::sync::Mutex<u8>> {\n    \
                   let _ = <std::sync::Mutex<u8> as ::std::default::Default>::default();\n    \
                   std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);\n    \
                   match x { std::sync::TryLockError::WouldBlock => {} _ => {} }\n    \
                   todo!()\n}";
        let out = swap(src);
        assert_eq!(out.matches("kernsync::sync").count(), 6, "{out}");
        assert!(out.contains("::kernsync::sync::Mutex<u8>>"), "{out}");
        assert!(out.contains("::std::default::Default"), "{out}");
        assert!(!out.contains("std::sync"), "{out}");
    }

    #[test]
    fn other_std_paths_and_non_first_segments_stay() {
        let src = "use std::fmt; use crate::std::sync::X; fn f() { a::std::sync::g(); self::std::sync::h(); \
                   <T>::std::sync::i(); core::sync::atomic::fence(O); alloc::sync::Arc::new(1); }";
        assert_eq!(swap(src), src);
    }

    #[test]
    fn comments_and_literals_stay() {
        let src = "// use std::sync::Mutex;\n/* std::sync::Arc */\n/// ```\n/// use std::sync::Mutex;\n/// ```\n\
                   fn f() { let s = \"std::sync::Mutex\"; let r = r#\"use std::{sync::Mutex};\"#; }";
        assert_eq!(swap(src), src);
    }

    #[test]
    fn a_sync_branch_moves_out_of_a_std_group() {
        assert_eq!(
            swap("use std::{fmt, sync::{Arc, Mutex}, thread};"),
            "use std::{fmt, thread};\nuse kernsync::sync::{Arc, Mutex};"
        );
        assert_eq!(
            swap("use std::{sync::Mutex, fmt};"),
            "use std::{fmt};\nuse kernsync::sync::Mutex;"
        );
        assert_eq!(
            swap("use std::{fmt, sync};"),
            "use std::{fmt};\nuse kernsync::sync;"
        );
        assert_eq!(
            swap("use std::{fmt, sync as s};"),
            "use std::{fmt};\nuse kernsync::sync as s;"
        );
        assert_eq!(
            swap("use std::{fmt, sync::{self, Arc}, sync::atomic::{AtomicBool, Ordering}};"),
            "use std::{fmt};\nuse kernsync::sync::{self, Arc, atomic::{AtomicBool, Ordering}};"
        );
    }

    #[test]
    fn a_group_of_sync_only_is_replaced() {
        assert_eq!(swap("use std::{sync::Arc};"), "use kernsync::sync::Arc;");
        assert_eq!(
            swap("use std::{sync::Arc, sync::Mutex};"),
            "use kernsync::sync::{Arc, Mutex};"
        );
        assert_eq!(swap("use std::{sync};"), "use kernsync::sync;");
        assert_eq!(
            swap("use std::{sync::{self, Arc}};"),
            "use kernsync::sync::{self, Arc};"
        );
        assert_eq!(
            swap("use std::{sync::{\n    Arc,\n    Mutex,\n}, sync::{}, sync::Once};"),
            "use kernsync::sync::{Arc,\n    Mutex, Once};"
        );
    }

    #[test]
    fn self_of_std_stays() {
        assert_eq!(
            swap("use std::{self, sync::Mutex};"),
            "use std::{self};\nuse kernsync::sync::Mutex;"
        );
    }

    #[test]
    fn multi_line_groups_keep_their_layout() {
        let src = "mod m {\n    #[cfg(test)]\n    pub(crate) use std::{\n        collections::HashMap,\n        \
                   sync::{Arc, Mutex}, // the locks\n        thread,\n    };\n    fn f() {}\n}\n";
        assert_eq!(
            swap(src),
            "mod m {\n    #[cfg(test)]\n    pub(crate) use std::{\n        collections::HashMap,\n        \
             thread,\n    };\n    #[cfg(test)]\n    pub(crate) use kernsync::sync::{Arc, Mutex};\n    fn f() {}\n}\n"
        );
        let tail = "use std::{\n    fmt,\n    sync::Mutex,\n};\n";
        assert_eq!(
            swap(tail),
            "use std::{\n    fmt,\n};\nuse kernsync::sync::Mutex;\n"
        );
    }

    #[test]
    fn attributes_and_visibility_go_with_the_new_item() {
        assert_eq!(
            swap("#[cfg(feature = \"x\")]\n#[allow(unused)] pub use std::{io, sync::Mutex};"),
            "#[cfg(feature = \"x\")]\n#[allow(unused)] pub use std::{io};\n\
             #[cfg(feature = \"x\")]\n#[allow(unused)] pub use kernsync::sync::Mutex;"
        );
    }

    #[test]
    fn nested_groups_from_the_root() {
        assert_eq!(
            swap("use {std::{fmt, sync::Mutex}, core::mem};"),
            "use {std::{fmt}, core::mem};\nuse kernsync::sync::Mutex;"
        );
        assert_eq!(
            swap("use {std::{sync::Mutex}, core::mem};"),
            "use {core::mem};\nuse kernsync::sync::Mutex;"
        );
        assert_eq!(
            swap("use {std::sync::Mutex, core::mem};"),
            "use {kernsync::sync::Mutex, core::mem};"
        );
    }

    #[test]
    fn removing_several_children_keeps_the_rest_well_formed() {
        assert_eq!(
            swap("use std::{sync::A, a, sync::B, b, sync::C};"),
            "use std::{a, b};\nuse kernsync::sync::{A, B, C};"
        );
        assert_eq!(
            swap("use std::{a, sync::B, sync::C,};"),
            "use std::{a,};\nuse kernsync::sync::{B, C};"
        );
    }

    #[test]
    fn uses_in_blocks_and_macro_bodies() {
        assert_eq!(
            swap("fn f() {\n    use std::{mem, sync::Mutex};\n}"),
            "fn f() {\n    use std::{mem};\n    use kernsync::sync::Mutex;\n}"
        );
        assert_eq!(
            swap("macro_rules! m { () => { use std::sync::Mutex; $crate::f(std::sync::Arc::new(1)) } }"),
            "macro_rules! m { () => { use kernsync::sync::Mutex; $crate::f(kernsync::sync::Arc::new(1)) } }"
        );
        // Precise capturing is not a use item.
        assert_eq!(
            swap("fn f<'a>() -> impl Sized + use<'a> { std::sync::Once::new() }"),
            "fn f<'a>() -> impl Sized + use<'a> { kernsync::sync::Once::new() }"
        );
    }

    #[test]
    fn what_cannot_be_rewritten_is_refused_with_its_line() {
        assert_eq!(refused("fn a() {}\nuse std::*;")[0].line, 2);
        assert_eq!(refused("use std::{fmt, *};").len(), 1);
        assert!(refused("use std as s;")[0].message.contains("renamed"));
        assert!(refused("use std::{self as s, sync::Mutex};")[0]
            .message
            .contains("renamed"));
        assert!(
            refused("macro_rules! m { ($m:ident) => { std::$m::Mutex::new(1) } }")[0]
                .message
                .contains("macro fragment")
        );
        assert!(
            refused("macro_rules! m { ($p:path) => { use std::$p; } }")[0]
                .message
                .contains("cannot parse")
        );
        assert!(refused("fn f() { let s = \"unterminated; }")[0]
            .message
            .contains("unterminated string"));
    }

    #[test]
    fn unparsable_uses_without_std_are_left_alone() {
        let src = "macro_rules! m { ($p:path) => { use $p; std::sync::Arc::new(1) } }";
        assert_eq!(
            swap(src),
            "macro_rules! m { ($p:path) => { use $p; kernsync::sync::Arc::new(1) } }"
        );
    }

    #[test]
    fn a_metavariable_named_std_is_not_std() {
        let src = "macro_rules! m { ($std:path) => { pub use $std; $std::sync::f(); } }";
        assert_eq!(swap(src), src);
    }

    #[test]
    fn kernsync_sync_paths_are_counted_in_code_only() {
        assert_eq!(count_kernsync_sync("use kernsync::sync::Mutex; // kernsync::sync\nfn f() { kernsync::sync::Arc::new(\"kernsync::sync\"); }"), 2);
    }

    #[test]
    fn extern_crate_goes_after_inner_attributes_and_docs() {
        let src = "// license\n//! Crate docs.\n#![deny(missing_docs)]\n//! More docs.\n\n/// The item.\npub fn f() {}\n";
        assert_eq!(
            add_extern_crate(src).unwrap(),
            "// license\n//! Crate docs.\n#![deny(missing_docs)]\n//! More docs.\n\n\
             #[allow(unused_extern_crates)]\nextern crate kernsync;\n/// The item.\npub fn f() {}\n"
        );
        assert_eq!(
            add_extern_crate("").unwrap(),
            "#[allow(unused_extern_crates)]\nextern crate kernsync;\n"
        );
        assert_eq!(
            add_extern_crate("#![cfg_attr(x, allow(y))] fn f() {}").unwrap(),
            "#![cfg_attr(x, allow(y))]\n#[allow(unused_extern_crates)]\nextern crate kernsync;\n fn f() {}"
        );
    }
}
