//! Reports: what the validator found, in a form tests can assert on and
//! people can read.

use crate::mode::{DepKind, Mode};
use core::fmt::{self, Write as _};
use core::panic::Location;
use std::sync::Arc;

/// What kind of problem a [`Report`] describes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum ReportKind {
    /// A strong cycle in the dependency graph: a deadlock is possible.
    CircularDependency,
    /// A cycle through a declared order (`LockClass::before`): a lock was
    /// taken in the reverse of the order its class declares.
    OrderViolation,
    /// A lock of a class already held was taken again without a nesting
    /// annotation (or the same lock was taken twice).
    RecursiveLocking,
    /// A release of a lock this thread does not hold, or an executor's
    /// poll hooks out of balance (a [`task_poll_end`](crate::task_poll_end)
    /// without its [`task_poll_begin`](crate::task_poll_begin), and the like).
    BadUnlock,
    /// A sleeping lock or a `might_sleep()` point inside an atomic section or
    /// under an atomic class.
    SleepInAtomic,
    /// An allocation while a no-alloc class is held or inside `no_alloc`.
    AllocUnderNoAlloc,
    /// A thread exited while still holding locks (a leaked guard).
    LocksHeldAtExit,
    /// A lock was freed (its handle dropped) while the dropping thread held
    /// it: its guard was forgotten, or the lock was moved out from under it.
    HeldLockFreed,
    /// The held-lock stack reached its depth bound; validation is now off.
    DepthExceeded,
    /// A bound of the graph (classes, edges, chains, search queue) was
    /// reached; validation is now off.
    CapacityExhausted,
    /// `assert_held`, `assert_not_held` or `assert_no_locks_held` failed.
    AssertionFailed,
    /// A [`tracked`](crate::tracked) task's poll returned `Pending` (or a
    /// poll ended by [`task_poll_end`](crate::task_poll_end)) while the
    /// task held a thread-bound lock (one whose `LockMap` is not
    /// [`awaitable`](crate::LockMap::awaitable)): the task may resume on
    /// another thread, and this thread polls other tasks meanwhile.
    HeldAcrossAwait,
}

impl ReportKind {
    /// The headline, as in a kernel splat.
    pub const fn title(self) -> &'static str {
        match self {
            ReportKind::CircularDependency => "possible circular locking dependency detected",
            ReportKind::OrderViolation => "declared lock order violated",
            ReportKind::RecursiveLocking => "possible recursive locking detected",
            ReportKind::BadUnlock => "bad unlock balance detected",
            ReportKind::SleepInAtomic => "sleeping function called from atomic context",
            ReportKind::AllocUnderNoAlloc => "allocation in a no-alloc context",
            ReportKind::LocksHeldAtExit => "thread exited with locks held",
            ReportKind::HeldLockFreed => "held lock freed",
            ReportKind::DepthExceeded => "held-lock stack depth exceeded, validation turned off",
            ReportKind::CapacityExhausted => "validator capacity exhausted, validation turned off",
            ReportKind::AssertionFailed => "lock assertion failed",
            ReportKind::HeldAcrossAwait => "thread-bound lock held across an await",
        }
    }
}

/// Where something happened.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Site {
    /// A line of code (the caller of a lock method).
    Code(&'static Location<'static>),
    /// An allocation through `CheckedAlloc`, which has no caller location.
    Allocation,
    /// A declared order (`LockClass::before`), at the class's definition.
    Declared(&'static Location<'static>),
}

impl Site {
    /// The code location, if there is one.
    pub fn location(self) -> Option<&'static Location<'static>> {
        match self {
            Site::Code(l) | Site::Declared(l) => Some(l),
            Site::Allocation => None,
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Site::Code(l) => write!(f, "{l}"),
            Site::Allocation => f.write_str("<allocation>"),
            Site::Declared(l) => write!(f, "declared at {l}"),
        }
    }
}

/// A lock as a report shows it: class, mode and the site it was taken at.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HeldLock {
    /// The class name (with `/n` for a subclass `n` other than 0).
    pub class: String,
    /// The mode it is held or taken in.
    pub mode: Mode,
    /// Where it was taken.
    pub site: Site,
}

impl fmt::Display for HeldLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\" ({}) at {}", self.class, self.mode, self.site)
    }
}

/// One edge of a reported cycle: `to` was taken while `from` was held.
///
/// With `KERNSYNC_LOCKDEP_BACKTRACE=1` an edge also carries the backtrace
/// of the acquisition that made it ([`backtrace`](Self::backtrace)) and the
/// functions that took its two locks, where known ([`held_in`](Self::held_in),
/// [`taken_in`](Self::taken_in)).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Dependency {
    /// The class that was held.
    pub from: String,
    /// The class that was taken.
    pub to: String,
    /// How `from` was held when the edge was first seen.
    pub held_mode: Mode,
    /// How `to` was taken when the edge was first seen.
    pub taken_mode: Mode,
    /// Where `from` was acquired when the edge was first seen.
    pub held_at: Site,
    /// Where `to` was acquired when the edge was first seen.
    pub taken_at: Site,
    /// Whether the edge is a declared order rather than an observed one.
    pub declared: bool,
    pub(crate) backtrace: Option<Arc<str>>,
    pub(crate) held_in: Option<Arc<str>>,
    pub(crate) taken_in: Option<Arc<str>>,
}

impl Dependency {
    /// The edge's type, `-(EN)->` etc.
    pub fn kind(&self) -> DepKind {
        DepKind::new(self.held_mode, self.taken_mode)
    }

    /// The backtrace of the acquisition of `to` that made this edge,
    /// trimmed to start at the user's code (its frame 0 is the function
    /// that took `to`, at `taken_at`), when `KERNSYNC_LOCKDEP_BACKTRACE=1`.
    /// `None` otherwise, and for a declared order.
    pub fn backtrace(&self) -> Option<&str> {
        self.backtrace.as_deref()
    }

    /// The function that took `from` at `held_at`, when backtraces are on
    /// and it is known: a backtrace was taken at that site before (an edge
    /// was born there). `None` otherwise.
    pub fn held_in(&self) -> Option<&str> {
        self.held_in.as_deref()
    }

    /// The function that took `to` at `taken_at` (frame 0 of
    /// [`backtrace`](Self::backtrace)), when backtraces are on.
    pub fn taken_in(&self) -> Option<&str> {
        self.taken_in.as_deref()
    }
}

/// ` (in function)`, or nothing.
struct In<'a>(Option<&'a str>);

impl fmt::Display for In<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(function) => write!(f, " (in {function})"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\"{}\" {} \"{}\": \"{}\" held at {}{}, \"{}\" taken at {}{}",
            self.from,
            self.kind(),
            self.to,
            self.from,
            self.held_at,
            In(self.held_in()),
            self.to,
            self.taken_at,
            In(self.taken_in())
        )
    }
}

/// A problem the validator found.
///
/// `Display` prints it like a kernel lockdep splat, shorter and with Rust
/// paths. The default action prints it and panics (a potential deadlock fails
/// the test that found it); `capture` collects reports instead.
#[derive(Clone, Debug)]
pub struct Report {
    pub(crate) kind: ReportKind,
    pub(crate) thread: String,
    /// The tracked task being polled (or dropped), when there was one:
    /// `Some(None)` for an unnamed task.
    pub(crate) task: Option<Option<String>>,
    pub(crate) detail: String,
    pub(crate) classes: Vec<String>,
    pub(crate) acquiring: Option<HeldLock>,
    pub(crate) cycle: Vec<Dependency>,
    pub(crate) held: Vec<HeldLock>,
    /// The function that took each held lock, where known (empty when
    /// backtraces are off).
    pub(crate) held_in: Vec<Option<Arc<str>>>,
    pub(crate) backtrace: Option<String>,
    pub(crate) at: Option<Site>,
    pub(crate) hint: Option<String>,
}

impl Report {
    /// What kind of problem this is.
    pub fn kind(&self) -> ReportKind {
        self.kind
    }

    /// The headline.
    pub fn title(&self) -> &'static str {
        self.kind.title()
    }

    /// The name of the thread that raised the report.
    pub fn thread(&self) -> &str {
        &self.thread
    }

    /// The name of the [`tracked`](crate::tracked) task whose poll (or
    /// drop) raised the report, `Some("<unnamed>")` for a task made by
    /// [`tracked`](crate::tracked) without a name, and `None` outside a
    /// tracked task. A report raised in a task names the task where a sync
    /// one names the thread: `task 'name' (on thread 'x')`.
    pub fn task(&self) -> Option<&str> {
        self.task
            .as_ref()
            .map(|name| name.as_deref().unwrap_or("<unnamed>"))
    }

    /// Who raised it, as the text says: `thread 'x'`, or `task 'name' (on
    /// thread 'x')` / `an unnamed task (on thread 'x')` inside a tracked task.
    fn who(&self) -> String {
        match &self.task {
            None => format!("thread '{}'", self.thread),
            Some(Some(name)) => format!("task '{name}' (on thread '{}')", self.thread),
            Some(None) => format!("an unnamed task (on thread '{}')", self.thread),
        }
    }

    /// One or two sentences on what happened.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The classes involved, in cycle order for a cycle.
    pub fn classes(&self) -> Vec<&str> {
        self.classes.iter().map(String::as_str).collect()
    }

    /// The lock being acquired (or released) when the report was raised.
    pub fn acquiring(&self) -> Option<&HeldLock> {
        self.acquiring.as_ref()
    }

    /// The edges of the cycle (or of the violated declared order), each with
    /// the two sites where it was first seen; the last edge is the one that
    /// closed the cycle. Empty for other kinds. (Not named `cycle`, which
    /// clippy's `infinite_iter` lint takes for `Iterator::cycle`.)
    pub fn edges(&self) -> &[Dependency] {
        &self.cycle
    }

    /// The locks the thread held, outermost first.
    pub fn held_locks(&self) -> &[HeldLock] {
        &self.held
    }

    /// The function that took held lock `i` (of [`held_locks`](Self::held_locks)),
    /// when `KERNSYNC_LOCKDEP_BACKTRACE=1` and it is known: a backtrace was
    /// taken at its site (an edge born there, or this report's own stack
    /// passing through that line). `None` otherwise.
    pub fn held_in(&self, i: usize) -> Option<&str> {
        self.held_in.get(i)?.as_deref()
    }

    /// What to do about it, fitted to what the lock offers (its type's
    /// [`LockKind`](crate::LockKind)): the method to call instead, or that no
    /// annotation can help. `None` when there is no advice beyond the report.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// Where the problem was found: the lock call (acquisition, release,
    /// assertion, allocation) that raised it; for a lock freed while held
    /// or a thread exiting with locks held, where the (first) lock was
    /// taken. `None` for a bound reached or contradicting declared orders.
    pub fn site(&self) -> Option<Site> {
        self.at
    }

    /// A backtrace of where the report was raised (for a cycle: where its
    /// closing edge was born), when `KERNSYNC_LOCKDEP_BACKTRACE=1`: std's
    /// form, trimmed so that frame 0 is the user's code (the leading frames
    /// of the validator, of the `kernsync` lock crates and `lock_api`, and
    /// std's among them are left out, and so are the runtime's below the
    /// user's `main`, test or thread), renumbered from 0, at most 16 frames.
    /// A backtrace that cannot be parsed is kept whole.
    pub fn backtrace(&self) -> Option<&str> {
        self.backtrace.as_deref()
    }

    /// The "possible unsafe locking scenario" table: how threads would
    /// interleave to deadlock. Empty when the kind has none.
    pub fn scenario(&self) -> String {
        match self.kind {
            ReportKind::CircularDependency | ReportKind::OrderViolation => {
                cycle_scenario(&self.cycle)
            }
            ReportKind::RecursiveLocking => match (self.held.last(), &self.acquiring) {
                (Some(_), Some(new)) => {
                    let first = self
                        .held
                        .iter()
                        .rev()
                        .find(|h| h.class == new.class)
                        .unwrap_or(new);
                    let mut s = String::new();
                    let _ = writeln!(s, "       T0\n       ----");
                    let _ = writeln!(s, "  {}({});", first.mode.verb(), first.class);
                    let _ = writeln!(s, "  {}({});", new.mode.verb(), new.class);
                    let _ = writeln!(s, "\n *** DEADLOCK ***\n");
                    if let Some(hint) = &self.hint {
                        let _ = writeln!(s, " {hint}");
                    }
                    s
                }
                _ => String::new(),
            },
            _ => String::new(),
        }
    }
}

/// Builds the interleaving table: thread `i` takes the lock edge `i` leaves,
/// then every thread tries the lock its edge enters.
fn cycle_scenario(cycle: &[Dependency]) -> String {
    let n = cycle.len();
    if n == 0 {
        return String::new();
    }
    let mut s = String::new();
    let step = |d: &Dependency, hold: bool| {
        if hold {
            format!("{}({});", d.held_mode.verb(), d.from)
        } else {
            format!("{}({});", d.taken_mode.verb(), d.to)
        }
    };
    if n > 4 {
        for (i, d) in cycle.iter().enumerate() {
            let _ = writeln!(
                s,
                "  T{i}: {}  then  {}",
                step(d, true).trim_end_matches(';'),
                step(d, false).trim_end_matches(';')
            );
        }
    } else {
        let width = cycle
            .iter()
            .map(|d| step(d, true).len().max(step(d, false).len()))
            .max()
            .unwrap_or(0)
            + 4;
        let row = |col: usize, text: &str| format!("  {:pad$}{text}\n", "", pad = col * width);
        let mut head = String::from("  ");
        let mut rule = String::from("  ");
        for i in 0..n {
            let _ = write!(head, "{:width$}", format!("T{i}"));
            let _ = write!(rule, "{:width$}", "----");
        }
        let _ = writeln!(s, "{}", head.trim_end());
        let _ = writeln!(s, "{}", rule.trim_end());
        for (i, d) in cycle.iter().enumerate() {
            s.push_str(&row(i, &step(d, true)));
        }
        for (i, d) in cycle.iter().enumerate() {
            s.push_str(&row(i, &step(d, false)));
        }
    }
    let _ = writeln!(s, "\n *** DEADLOCK ***");
    s
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bar = "=".repeat(60);
        writeln!(f, "{bar}")?;
        writeln!(f, "WARNING: {}", self.title())?;
        writeln!(f, "{}", "-".repeat(60))?;
        let who = self.who();
        writeln!(f, "{who}: {}", self.detail)?;
        // Most details already name the lock being acquired and where.
        if let Some(a) = &self.acquiring {
            if !self.detail.contains(&a.site.to_string()) {
                writeln!(f, "\n  {a}")?;
            }
        }
        if !self.cycle.is_empty() {
            writeln!(
                f,
                "\nthe dependency chain (the last edge closes the cycle) is:\n"
            )?;
            // Two sites under each edge, so no line repeats the class names.
            for (i, d) in self.cycle.iter().enumerate() {
                writeln!(f, "-> #{i} \"{}\" {} \"{}\"", d.from, d.kind(), d.to)?;
                match d.held_at {
                    Site::Declared(l) => writeln!(f, "       declared at {l}")?,
                    held => {
                        writeln!(f, "       held at  {held}{}", In(d.held_in()))?;
                        writeln!(f, "       taken at {}{}", d.taken_at, In(d.taken_in()))?;
                    }
                }
                match d.backtrace() {
                    // The closing edge's stack is the report's own, below.
                    Some(bt) if Some(bt) == self.backtrace() => {
                        writeln!(f, "       its stack: the stack backtrace below")?
                    }
                    Some(bt) => {
                        writeln!(f, "       its stack:")?;
                        for line in bt.lines() {
                            writeln!(f, "      {line}")?;
                        }
                    }
                    None => {}
                }
            }
            let names: Vec<&str> = self.cycle.iter().map(|d| d.from.as_str()).collect();
            writeln!(
                f,
                "\nChain exists of:\n  {} --> {}",
                names.join(" --> "),
                names[0]
            )?;
        }
        let scenario = self.scenario();
        if !scenario.is_empty() {
            writeln!(f, "\n Possible unsafe locking scenario:\n")?;
            f.write_str(&scenario)?;
        }
        match self.held.len() {
            0 => writeln!(f, "\nno locks held by {who}.")?,
            n => {
                let s = if n == 1 { "" } else { "s" };
                writeln!(f, "\n{n} lock{s} held by {who}:")?;
                for (i, h) in self.held.iter().enumerate() {
                    writeln!(f, " #{i}: {h}{}", In(self.held_in(i)))?;
                }
            }
        }
        if let Some(bt) = &self.backtrace {
            writeln!(f, "\nstack backtrace:\n{bt}")?;
        }
        write!(f, "{bar}")
    }
}

impl std::error::Error for Report {}

/// What the validator does with a report (outside [`capture`](crate::capture)).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Action {
    /// Print the report and panic: a potential deadlock fails the test that
    /// found it. Where a panic cannot unwind (inside the allocator, in a
    /// thread-exit destructor, in a `Drop` during unwinding) the process
    /// aborts after printing. The default; `KERNSYNC_LOCKDEP=panic`.
    Panic = 0,
    /// Print the report and go on. `KERNSYNC_LOCKDEP=warn`.
    Warn = 1,
    /// Validate nothing: locks are not tracked. `KERNSYNC_LOCKDEP=off`.
    Off = 2,
}
