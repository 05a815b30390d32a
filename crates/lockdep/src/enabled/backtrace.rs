//! Backtraces that start at the user's code (`KERNSYNC_LOCKDEP_BACKTRACE=1`),
//! and the compact store that keeps one per dependency edge.
//!
//! # Trimming
//!
//! A backtrace taken inside the validator begins with some twenty frames of
//! its own. [`trim`] drops the leading frames that are
//!
//! - the validator's and the lock crates' (a path starting with `kernsync::`
//!   or `kernsync_<crate>::`: the validator, and every layer of a lock down to
//!   the public method the user called) and `lock_api`'s;
//! - std's, core's and alloc's (`std::`, `core::`, `alloc::`, `__rust*`)
//!   among them: the backtrace machinery, the thread-local access, closures'
//!   `call_once`, the global allocator's shims;
//!
//! so the first frame kept is the first one outside all of those: the user's
//! function, at the line of its lock call (or allocation, or assertion). A
//! user type that wraps a `LockMap` is the user's code, so its method is
//! that first frame. If no frame is the user's (a report raised from a
//! thread-exit destructor), the frames after the last kernsync one are kept;
//! if that leaves nothing, everything is.
//!
//! The runtime's frames below the user's entry point are left out too, as
//! std's own short backtraces do: from the first
//! `__rust_begin_short_backtrace` frame down (what calls `main`, a test, a
//! spawned thread's closure). The kept frames are renumbered from 0 and
//! bounded: at most [`MAX_FRAMES`] are kept, and a last line says how many
//! more there were.
//!
//! The text parsed is std's `Display` of a `Backtrace` (`Backtrace::frames`
//! is unstable): a frame line `  N: path::to::function` followed by at most
//! one `at file:line:col` line. Text of any other shape (a backtrace std
//! could not capture, or a future format) is kept whole, never lost.
//!
//! # The store
//!
//! An edge's backtrace is kept as frame ids: each distinct frame text (a
//! function and its location) is stored once, each distinct trace (a list
//! of ids) once, and an edge keeps a [`TraceId`] (4 bytes, within the
//! edge record's padding). See `Limits` for the memory this costs.
//!
//! This module uses no other module of the validator.

use core::num::NonZeroU32;
use core::panic::Location;
use std::backtrace::Backtrace;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The most frames a trimmed backtrace keeps.
pub(crate) const MAX_FRAMES: usize = 16;

/// Whether backtraces are taken (`KERNSYNC_LOCKDEP_BACKTRACE`, read once by
/// `config`). Relaxed: set once, before the first validation.
static ON: AtomicBool = AtomicBool::new(false);

/// Sets whether backtraces are taken.
pub(crate) fn set_on(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

/// Whether backtraces are taken.
pub(crate) fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// One frame of a parsed backtrace.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Frame<'a> {
    /// The function's path.
    pub function: &'a str,
    /// `file:line:col`, when the frame has debug info.
    pub location: Option<&'a str>,
}

impl Frame<'_> {
    /// Whether this frame's `file:line` is the site's.
    fn is_at(&self, site: &Location<'_>) -> bool {
        let Some(loc) = self.location else {
            return false;
        };
        let mut parts = loc.rsplitn(3, ':');
        let (_col, line, file) = (parts.next(), parts.next(), parts.next());
        line.and_then(|l| l.parse::<u32>().ok()) == Some(site.line())
            && file.is_some_and(|f| same_file(f, site.file()))
    }
}

/// Whether two paths of a source file name the same file: std prints a
/// backtrace's paths absolute or relative to the working directory (a
/// crate's, under `cargo test`), a `Location`'s are relative to where rustc
/// ran (the workspace's root), so one must end with the other at a `/`.
fn same_file(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_start_matches("./"), b.trim_start_matches("./"));
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    long.ends_with(short)
        && (long.len() == short.len() || long[..long.len() - short.len()].ends_with('/'))
}

/// Parses std's `Display` of a backtrace; `None` if a line is of neither
/// form (frame or location) or there is no frame.
pub(crate) fn parse(text: &str) -> Option<Vec<Frame<'_>>> {
    let mut frames: Vec<Frame<'_>> = Vec::new();
    for line in text.lines() {
        let l = line.trim_start();
        if l.is_empty() {
            continue;
        }
        if let Some(loc) = l.strip_prefix("at ") {
            let last = frames.last_mut()?;
            if last.location.is_some() {
                return None;
            }
            last.location = Some(loc.trim_end());
            continue;
        }
        let (n, function) = l.split_once(": ")?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        frames.push(Frame {
            function: function.trim_end(),
            location: None,
        });
    }
    (!frames.is_empty()).then_some(frames)
}

/// The path of `function` without a leading `<` (a trait impl's form).
fn path(function: &str) -> &str {
    function.strip_prefix('<').unwrap_or(function)
}

/// The validator's and the lock crates' frames.
fn ours(function: &str) -> bool {
    let p = path(function);
    p.starts_with("kernsync::") || p.starts_with("kernsync_") || p.starts_with("lock_api::")
}

/// The standard library's frames.
fn glue(function: &str) -> bool {
    let p = path(function);
    ["std::", "core::", "alloc::", "__rust"]
        .iter()
        .any(|s| p.starts_with(s))
}

/// The index of the first frame kept (see the module docs).
pub(crate) fn user_start(frames: &[Frame<'_>]) -> usize {
    match frames
        .iter()
        .position(|f| !ours(f.function) && !glue(f.function))
    {
        Some(i) => i,
        None => match frames.iter().rposition(|f| ours(f.function)) {
            Some(i) if i + 1 < frames.len() => i + 1,
            _ => 0,
        },
    }
}

/// Writes `frames` as std does, numbered from 0, then the count of the
/// frames left out, if any.
fn render<'a>(frames: impl Iterator<Item = Frame<'a>>, omitted: usize) -> String {
    let mut s = String::new();
    for (i, f) in frames.enumerate() {
        let _ = writeln!(s, "{i:4}: {}", f.function);
        if let Some(loc) = f.location {
            let _ = writeln!(s, "             at {loc}");
        }
    }
    if omitted != 0 {
        let _ = writeln!(s, "      ({omitted} more frames)");
    }
    s
}

/// The kept frames of a backtrace (see the module docs) and how many were
/// left out past the bound; `None` if it cannot be parsed.
fn kept(text: &str) -> Option<(Vec<Frame<'_>>, usize)> {
    let mut frames = parse(text)?;
    frames.drain(..user_start(&frames));
    let total = frames.len();
    // Below the user's entry point (`main`, a test, a thread's closure):
    // the runtime's frames, left out as std's own short backtraces do.
    if let Some(i) = frames
        .iter()
        .position(|f| f.function.contains("__rust_begin_short_backtrace"))
        .filter(|&i| i != 0)
    {
        frames.truncate(i);
    }
    frames.truncate(MAX_FRAMES);
    let omitted = total - frames.len();
    Some((frames, omitted))
}

/// `text` (std's `Display` of a backtrace) trimmed to start at the user's
/// code, or unchanged if it cannot be parsed.
pub(crate) fn trim(text: &str) -> String {
    match kept(text) {
        Some((frames, omitted)) => render(frames.into_iter(), omitted),
        None => text.to_owned(),
    }
}

/// The current stack, trimmed.
pub(crate) fn capture() -> String {
    trim(&Backtrace::force_capture().to_string())
}

/// The function of the frame of `trace` at `site`'s file and line.
pub(crate) fn function_at<'a>(trace: &'a str, site: &Location<'_>) -> Option<&'a str> {
    parse(trace)?
        .into_iter()
        .find(|f| f.is_at(site))
        .map(|f| f.function)
}

/// A stored backtrace (an index into [`Store`], plus one).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TraceId(NonZeroU32);

/// A trace's first word: the trace is one unparsed text, the next word.
const RAW: u32 = u32::MAX;

/// The backtraces of the edges, deduplicated by frame and by trace, and
/// the function found at each acquisition site. Owned by the graph (under
/// its lock).
#[derive(Default)]
pub(crate) struct Store {
    /// Distinct texts: a frame (`function`, or `function\nlocation`), or an
    /// unparsed backtrace.
    texts: Vec<Arc<str>>,
    text_ids: HashMap<Arc<str>, u32>,
    /// Distinct traces: the count of frames left out past the bound (or
    /// [`RAW`]), then text ids.
    traces: Vec<Arc<[u32]>>,
    trace_ids: HashMap<Arc<[u32]>, u32>,
    /// Where a site's acquisition was seen: the frame there.
    sites: HashMap<&'static Location<'static>, u32>,
}

impl Store {
    fn text(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.text_ids.get(s) {
            return id;
        }
        let id = self.texts.len() as u32;
        let s: Arc<str> = Arc::from(s);
        self.texts.push(s.clone());
        self.text_ids.insert(s, id);
        id
    }

    /// Captures the current stack when backtraces are on, trimmed, and
    /// stores it; learns the function at `site` if a kept frame is there.
    pub fn capture(&mut self, site: Option<&'static Location<'static>>) -> Option<TraceId> {
        on().then(|| self.insert(&Backtrace::force_capture().to_string(), site))
    }

    /// Stores the backtrace `text` (std's `Display`), trimmed.
    pub fn insert(&mut self, text: &str, site: Option<&'static Location<'static>>) -> TraceId {
        let words: Vec<u32> = match kept(text) {
            Some((frames, omitted)) => {
                let mut words = vec![omitted as u32];
                for f in &frames {
                    let id = match f.location {
                        Some(loc) => self.text(&format!("{}\n{loc}", f.function)),
                        None => self.text(f.function),
                    };
                    words.push(id);
                    if let Some(site) = site.filter(|s| f.is_at(s)) {
                        self.sites.entry(site).or_insert(id);
                    }
                }
                words
            }
            None => vec![RAW, self.text(text)],
        };
        let id = match self.trace_ids.get(words.as_slice()) {
            Some(&id) => id,
            None => {
                let id = self.traces.len() as u32;
                let words: Arc<[u32]> = Arc::from(words);
                self.traces.push(words.clone());
                self.trace_ids.insert(words, id);
                id
            }
        };
        TraceId(NonZeroU32::new(id + 1).expect("fewer than u32::MAX traces"))
    }

    fn frame(&self, id: u32) -> Frame<'_> {
        let text = &*self.texts[id as usize];
        let (function, location) = match text.split_once('\n') {
            Some((f, l)) => (f, Some(l)),
            None => (text, None),
        };
        Frame { function, location }
    }

    fn words(&self, id: TraceId) -> &[u32] {
        &self.traces[id.0.get() as usize - 1]
    }

    /// The text of a stored backtrace.
    pub fn get(&self, id: TraceId) -> Arc<str> {
        match self.words(id) {
            [RAW, text] => self.texts[*text as usize].clone(),
            [omitted, frames @ ..] => {
                let frames = frames.iter().map(|&f| self.frame(f));
                render(frames, *omitted as usize).into()
            }
            [] => Arc::from(""),
        }
    }

    /// The function of a stored backtrace's first frame.
    pub fn first_function(&self, id: TraceId) -> Option<Arc<str>> {
        match self.words(id) {
            [RAW, ..] | [] | [_] => None,
            [_, first, ..] => Some(self.frame(*first).function.into()),
        }
    }

    /// The function seen at `site`, if a backtrace taken there had a frame
    /// at its file and line.
    pub fn function(&self, site: Option<&'static Location<'static>>) -> Option<Arc<str>> {
        let id = *self.sites.get(site?)?;
        Some(self.frame(id).function.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of a backtrace taken in a report: the validator's frames,
    /// std's among them, then the user's.
    const TAKEN: &str = "   0: kernsync_lockdep::enabled::reports::build
             at ./src/enabled/reports.rs:19:21
   1: <kernsync_lockdep::enabled::map::LockMap>::acquire
             at ./src/enabled/map.rs:120:9
   2: std::thread::local::LocalKey<T>::with
             at /rustc/x/library/std/src/thread/local.rs:311:12
   3: kernsync_rwsem::checked::acquire
             at ./crates/rwsem/src/checked.rs:40:5
   4: <lock_api::rwlock::RwLock<R,T>>::write
             at /home/u/.cargo/registry/src/lock_api-0.5.0/src/rwlock.rs:9:1
   5: app::transfer
             at ./src/main.rs:12:5
   6: __rust_try
   7: app::main
             at ./src/main.rs:30:5
";

    #[test]
    fn parses_frames_and_locations() {
        let frames = parse(TAKEN).expect("parsed");
        assert_eq!(frames.len(), 8);
        assert_eq!(
            frames[5],
            Frame {
                function: "app::transfer",
                location: Some("./src/main.rs:12:5")
            }
        );
        assert_eq!(frames[6].location, None);
    }

    #[test]
    fn trims_to_the_users_code_and_renumbers() {
        let t = trim(TAKEN);
        assert!(
            t.starts_with("   0: app::transfer\n             at ./src/main.rs:12:5\n"),
            "{t}"
        );
        assert!(t.contains("   1: __rust_try\n   2: app::main\n"), "{t}");
        assert!(!t.contains("kernsync") && !t.contains("lock_api"), "{t}");
    }

    #[test]
    fn unparsable_text_is_kept_whole() {
        for text in [
            "disabled backtrace",
            "unsupported backtrace",
            "",
            "   0: app::f\n             at a.rs:1:1\nsomething else\n",
            "             at a.rs:1:1\n   0: app::f\n",
            "   x: app::f\n",
        ] {
            assert_eq!(trim(text), text);
        }
        let mut store = Store::default();
        let id = store.insert("unsupported backtrace", None);
        assert_eq!(&*store.get(id), "unsupported backtrace");
        assert_eq!(store.first_function(id), None);
    }

    #[test]
    fn without_user_frames_keeps_what_follows_the_validator() {
        let t = trim("   0: kernsync_lockdep::x\n   1: std::thread::start\n   2: clone3\n");
        assert_eq!(t, "   0: clone3\n");
        let t = trim("   0: kernsync_lockdep::x\n   1: std::sys::exit\n");
        assert_eq!(t, "   0: std::sys::exit\n");
        let all_ours = "   0: kernsync_lockdep::x\n   1: kernsync_lockdep::y\n";
        assert_eq!(trim(all_ours), all_ours);
    }

    #[test]
    fn stops_at_the_users_entry_point() {
        let t = trim(
            "   0: kernsync_lockdep::x\n   1: app::f\n   2: core::ops::function::FnOnce::call_once\n   3: std::sys::backtrace::__rust_begin_short_backtrace\n   4: std::rt::lang_start\n   5: main\n",
        );
        assert_eq!(
            t,
            "   0: app::f\n   1: core::ops::function::FnOnce::call_once\n      (3 more frames)\n"
        );
    }

    #[test]
    fn keeps_at_most_max_frames() {
        let text: String = (0..40).map(|i| format!("  {i}: app::f{i}\n")).collect();
        let t = trim(&text);
        assert_eq!(t.lines().count(), MAX_FRAMES + 1);
        assert!(t.ends_with("      (24 more frames)\n"), "{t}");
        assert!(t.contains("  15: app::f15\n"), "{t}");
    }

    #[test]
    fn matches_sites_by_file_and_line() {
        let f = Frame {
            function: "app::transfer",
            location: Some("./tests/main.rs:12:5"),
        };
        let here = Location::caller();
        assert!(!f.is_at(here));
        assert!(same_file("./tests/main.rs", "crates/app/tests/main.rs"));
        assert!(same_file(
            "/w/crates/app/tests/main.rs",
            "crates/app/tests/main.rs"
        ));
        assert!(!same_file("./tests/xmain.rs", "crates/app/tests/main.rs"));
        let frame_here = format!("{}:{}:1", here.file(), here.line());
        let f = Frame {
            function: "f",
            location: Some(&frame_here),
        };
        assert!(f.is_at(here));
    }

    #[test]
    fn store_dedups_frames_and_traces_and_learns_sites() {
        static SITE: &Location<'static> = Location::caller();
        let text = format!(
            "   0: kernsync_lockdep::x\n   1: app::f\n             at {}:{}:3\n   2: app::main\n",
            SITE.file(),
            SITE.line()
        );
        let mut store = Store::default();
        let a = store.insert(&text, Some(SITE));
        let b = store.insert(&text, Some(SITE));
        assert_eq!(a, b);
        let c = store.insert("   0: app::g\n   1: app::main\n", None);
        assert_ne!(a, c);
        // app::f (with its location), app::main, app::g.
        assert_eq!(store.texts.len(), 3);
        assert_eq!(store.first_function(a).as_deref(), Some("app::f"));
        assert_eq!(store.function(Some(SITE)).as_deref(), Some("app::f"));
        assert!(store.get(a).starts_with("   0: app::f\n"));
        assert_eq!(&*store.get(c), "   0: app::g\n   1: app::main\n");
    }
}
