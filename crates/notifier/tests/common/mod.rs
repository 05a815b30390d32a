//! What the adversarial tests of both chains share: the events, a slot a
//! callback can take its own registration from, a per-thread log, a quiet
//! panic hook that records where a thread panicked, a watchdog that aborts a
//! hung test, logging callbacks, and the `Chain` trait with the `both!`
//! macro that runs a test written once against `NotifierChain` and
//! `AtomicNotifierChain`. Each test binary uses a part of them.
#![allow(dead_code)]

use kernsync_notifier::{
    AtomicNotifierChain, AtomicRegistration, NotifierChain, Outcome, Prepared, Registration,
    Verdict,
};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};
use std::thread;
use std::time::Duration;

/// An event called forward.
pub const PLAIN: u32 = 0;
/// The event of a robust call.
pub const UP: u32 = 1;
/// Its rollback.
pub const DOWN: u32 = 2;

pub type Slot<T> = Arc<Mutex<Option<T>>>;

pub fn slot<T>() -> Slot<T> {
    Arc::new(Mutex::new(None))
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Takes what `s` holds and drops it after the slot's guard is gone (so an
/// unregistration that waits does not wait under the slot's mutex).
pub fn take_and_drop<T>(s: &Mutex<Option<T>>) -> bool {
    let taken = lock(s).take();
    let had = taken.is_some();
    drop(taken);
    had
}

thread_local! {
    /// What the callbacks run on this thread logged, `name:event`.
    pub static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// The stress test's trace: (event, priority, id) of each callback run.
    pub static TRACE: RefCell<Vec<(u32, i32, usize)>> = const { RefCell::new(Vec::new()) };
    /// Where this thread last panicked.
    pub static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Whether an expected panic is being provoked (keeps the hook quiet).
    pub static QUIET: Cell<bool> = const { Cell::new(false) };
}

pub fn log(entry: String) {
    LOG.with(|l| l.borrow_mut().push(entry));
}

pub fn take_log() -> Vec<String> {
    LOG.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// The payload of the panics this file throws on purpose.
pub struct Boom;

/// A panic hook that records where each thread panicked and stays quiet for
/// `Boom` and for panics provoked under `expect_panic`.
pub fn install_hook() {
    pub static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()));
            let _ = PANIC_AT.try_with(|p| *p.borrow_mut() = at);
            let quiet = QUIET.try_with(Cell::get).unwrap_or(false);
            if !quiet && !info.payload().is::<Boom>() {
                previous(info);
            }
        }));
    });
}

pub fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Runs `f`, which must panic; returns the panic's message and location.
pub fn expect_panic<R>(f: impl FnOnce() -> R) -> (String, String) {
    install_hook();
    QUIET.with(|q| q.set(true));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    let payload = match r {
        Ok(_) => panic!("expected a panic"),
        Err(p) => p,
    };
    let at = PANIC_AT.with(|p| p.borrow_mut().take()).unwrap_or_default();
    (message(&*payload), at)
}

/// Aborts the process with a message if not dropped within 20 s: a test
/// that hangs fails loudly instead of hanging CI.
pub struct Watchdog(#[allow(dead_code)] mpsc::Sender<()>);

pub fn watchdog(what: &'static str) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(20)) {
            eprintln!("adversarial: `{what}` hung for 20 s; aborting");
            std::process::abort();
        }
    });
    Watchdog(tx)
}

/// A callback that logs `name:event`, answers `on_up` to `UP` (and
/// `Continue` to anything else), and holds a clone of `token` (so the
/// token's strong count tells whether the node is freed).
pub fn step(
    name: &'static str,
    on_up: Verdict,
    token: &Arc<()>,
) -> impl Fn(&u32) -> Verdict + Send + Sync + 'static {
    let token = token.clone();
    move |e: &u32| {
        let _held = &token;
        log(format!("{name}:{e}"));
        if *e == UP {
            on_up
        } else {
            Verdict::Continue
        }
    }
}

/// Both kinds of chain, for tests written once.
pub trait Chain: Sync + 'static {
    type Reg: Send + Sync + 'static;
    /// The blocking chain's docs promise more for a callback unregistered
    /// from inside a walk that has not reached it yet: "marked dead
    /// (skipped by every walk from then on)". The atomic chain's promise
    /// only "not called again once the calls now running end".
    const SKIPS_IN_WALK: bool;
    /// Whether `len` may be called from inside a callback (an `Srcu`
    /// section nests; a second read of the blocking chain's `PercpuRwSem`
    /// is recursive locking).
    const LEN_INSIDE_CALL: bool;
    fn leaked() -> &'static Self;
    fn reg(&'static self, p: Prepared<u32>) -> Self::Reg;
    fn sub(
        &'static self,
        f: impl Fn(&u32) -> Verdict + Send + Sync + 'static,
        priority: i32,
    ) -> Self::Reg {
        self.reg(Prepared::new(f, priority))
    }
    fn call(&self, e: &u32) -> Outcome;
    fn call_robust(&self, e: &u32, back: &u32) -> Outcome;
    fn len(&self) -> usize;
    fn is_empty_(&self) -> bool;
    /// A registration and an unregistration made outside any call: on both
    /// kinds the documented writer that unlinks and frees deferred removals.
    fn reap(&'static self) {
        drop(self.sub(|_| Verdict::Continue, i32::MIN));
    }
}

impl Chain for NotifierChain<u32> {
    type Reg = Registration<'static, u32>;
    const SKIPS_IN_WALK: bool = true;
    const LEN_INSIDE_CALL: bool = false;
    fn leaked() -> &'static Self {
        Box::leak(Box::new(NotifierChain::new()))
    }
    fn reg(&'static self, p: Prepared<u32>) -> Self::Reg {
        self.register(p)
    }
    fn call(&self, e: &u32) -> Outcome {
        NotifierChain::call(self, e)
    }
    fn call_robust(&self, e: &u32, back: &u32) -> Outcome {
        NotifierChain::call_robust(self, e, back)
    }
    fn len(&self) -> usize {
        NotifierChain::len(self)
    }
    fn is_empty_(&self) -> bool {
        NotifierChain::is_empty(self)
    }
}

impl Chain for AtomicNotifierChain<u32> {
    type Reg = AtomicRegistration<'static, u32>;
    const SKIPS_IN_WALK: bool = false;
    const LEN_INSIDE_CALL: bool = true;
    fn leaked() -> &'static Self {
        Box::leak(Box::new(AtomicNotifierChain::new()))
    }
    fn reg(&'static self, p: Prepared<u32>) -> Self::Reg {
        self.register(p)
    }
    fn call(&self, e: &u32) -> Outcome {
        AtomicNotifierChain::call(self, e)
    }
    fn call_robust(&self, e: &u32, back: &u32) -> Outcome {
        AtomicNotifierChain::call_robust(self, e, back)
    }
    fn len(&self) -> usize {
        AtomicNotifierChain::len(self)
    }
    fn is_empty_(&self) -> bool {
        AtomicNotifierChain::is_empty(self)
    }
}

/// Two tests, `name::blocking` and `name::atomic`, for a generic `fn name<C: Chain>()`.
#[allow(unused_macros)]
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn blocking() {
                super::$name::<kernsync_notifier::NotifierChain<u32>>();
            }
            #[test]
            fn atomic() {
                super::$name::<kernsync_notifier::AtomicNotifierChain<u32>>();
            }
        }
    )*};
}

#[allow(unused_imports)]
pub(crate) use both;
