//! Run-time configuration: on/off, the action taken on a report, the handler,
//! the bounds, and the environment variables read on first use.

use super::backtrace;
use super::graph;
use super::persist;
use super::thread::{with_thread, Busy};
use crate::limits::{Limits, LimitsError};
use crate::report::{Action, Report};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Once, OnceLock, RwLock};

/// `STATE` values.
const UNINIT: u8 = 0;
/// Validating.
const ON: u8 = 1;
/// Not validating: switched off, or a bound was reached.
const OFF: u8 = 2;

/// Whether hooks validate. Relaxed everywhere: it is a switch, not a
/// publication; a thread that sees it late validates (or skips) a few more
/// acquisitions, and the held stack stays consistent either way because
/// releases of tracked tokens are always processed.
static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static ACTION: AtomicU8 = AtomicU8::new(Action::Panic as u8);
/// A bound was reached: validation stays off for the rest of the process.
static EXHAUSTED: AtomicBool = AtomicBool::new(false);
static HANDLER: RwLock<Option<fn(&Report)>> = RwLock::new(None);
static DUMP_PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
static INIT: Once = Once::new();

/// Whether acquisitions are validated now (reads the environment on first use).
#[inline]
pub(crate) fn validating() -> bool {
    match STATE.load(Ordering::Relaxed) {
        ON => true,
        UNINIT => init(),
        _ => false,
    }
}

/// Reads `KERNSYNC_LOCKDEP`, `KERNSYNC_LOCKDEP_BACKTRACE`,
/// `KERNSYNC_LOCKDEP_DUMP` and `KERNSYNC_LOCKDEP_ALLOW` once.
#[cold]
fn init() -> bool {
    // Reading the environment allocates: mark it as the validator's own work
    // so a checking allocator does not re-enter (and re-run) this.
    with_thread(|t| {
        let _busy = Busy::enter(t);
        INIT.call_once(|| {
            let action = match std::env::var("KERNSYNC_LOCKDEP").as_deref() {
                Ok("warn") => Action::Warn,
                Ok("off") | Ok("0") => Action::Off,
                Ok("panic") | Ok("") | Err(_) => Action::Panic,
                Ok(other) => {
                    eprintln!("kernsync-lockdep: KERNSYNC_LOCKDEP={other:?} is not panic|warn|off; using panic");
                    Action::Panic
                }
            };
            let on = |v: &str| std::env::var(v).is_ok_and(|s| !s.is_empty() && s != "0");
            backtrace::set_on(on("KERNSYNC_LOCKDEP_BACKTRACE"));
            let _ = DUMP_PATH.set(std::env::var_os("KERNSYNC_LOCKDEP_DUMP").map(PathBuf::from));
            if let Some(path) = std::env::var_os("KERNSYNC_LOCKDEP_ALLOW") {
                persist::load_allow_file(&PathBuf::from(path));
            }
            ACTION.store(action as u8, Ordering::Relaxed);
            let state = if action == Action::Off { OFF } else { ON };
            // Only if nothing (set_action, a bound) decided first.
            let _ = STATE.compare_exchange(UNINIT, state, Ordering::Relaxed, Ordering::Relaxed);
        });
    });
    STATE.load(Ordering::Relaxed) == ON
}

/// Sets what happens on a report (overriding `KERNSYNC_LOCKDEP`).
///
/// `Action::Off` stops validation: acquisitions made while off are not
/// tracked; releases of acquisitions tracked before are still processed, so
/// switching back on later finds a consistent held stack.
pub fn set_action(action: Action) {
    init();
    ACTION.store(action as u8, Ordering::Relaxed);
    let state = if action == Action::Off || EXHAUSTED.load(Ordering::Relaxed) {
        OFF
    } else {
        ON
    };
    STATE.store(state, Ordering::Relaxed);
}

/// What happens on a report now.
pub fn action() -> Action {
    init();
    match ACTION.load(Ordering::Relaxed) {
        0 => Action::Panic,
        1 => Action::Warn,
        _ => Action::Off,
    }
}

/// Sets a function that receives every report (outside `capture`) instead of
/// the default printing to stderr; in `Panic` mode the panic still follows.
/// `None` restores printing.
pub fn set_handler(handler: Option<fn(&Report)>) {
    *HANDLER.write().unwrap_or_else(|e| e.into_inner()) = handler;
}

pub(crate) fn handler() -> Option<fn(&Report)> {
    *HANDLER.read().unwrap_or_else(|e| e.into_inner())
}

/// Changes the bounds of the graph. Fails if a new bound is below what is
/// already in use or above what the validator can hold.
pub fn set_limits(limits: Limits) -> Result<(), LimitsError> {
    graph::check_maxima(&limits)?;
    graph::with(|g| g.set_limits(limits))
}

pub(crate) fn backtraces() -> bool {
    backtrace::on()
}

pub(crate) fn dump_path() -> Option<&'static Path> {
    DUMP_PATH.get().and_then(Option::as_deref)
}

/// Writes the graph to the file named by `KERNSYNC_LOCKDEP_DUMP` now (it is
/// also rewritten whenever the graph gains an edge). Does nothing when the
/// variable is unset.
pub fn dump() -> std::io::Result<()> {
    validating();
    match dump_path() {
        Some(path) => persist::dump_to(path),
        None => Ok(()),
    }
}

/// A bound was reached: validation is off for good.
pub(crate) fn exhausted() {
    EXHAUSTED.store(true, Ordering::Relaxed);
    STATE.store(OFF, Ordering::Relaxed);
}
