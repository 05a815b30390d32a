//! Bounded stress of both chains (`NotifierChain`, `AtomicNotifierChain`):
//! `WORKERS` threads each run `ITERS` iterations (a fixed count, not a time)
//! of calling, registering, unregistering, self-unregistering callbacks,
//! stealing those registrations back from outside, and preparing nodes that
//! are dropped unused; some callbacks panic now and then. A watchdog thread
//! aborts the process with a message if a test is still running after 90 s,
//! so a hang fails CI instead of hanging it.
//!
//! Every registration has an id and a record of logical times, taken from
//! one `SeqCst` counter (`Stats::tick`) just before and just after
//! `register`, `unregister` and each `call`. Ticks are read-modify-writes of
//! one atomic, so with `a < b` whatever a thread did before taking tick `a`
//! happens before whatever a thread does after taking tick `b`: that is what
//! makes the time checks below sound.
//!
//! 1. Consistent calls. Each callback appends its id and priority to a
//!    thread-local log; after each call the log must be non-increasing in
//!    priority, hold no id twice, start with the top sentinel (registered at
//!    `i32::MAX` for the whole run) and, when the call completed, end with
//!    the bottom sentinel (`i32::MIN`) and match `Outcome::called`. After
//!    the run: every registration registered before a completed call began
//!    (tick after `register` < call's start tick) and not unregistered until
//!    it ended (tick before `unregister` > call's end tick) appears in that
//!    call (sound for both chains: the blocking one excludes writers; the
//!    atomic one only ever links new nodes and unlinks nodes keeping their
//!    `next`, so a node present throughout stays reachable from wherever a
//!    walk stands); and equal priorities run in registration order (a
//!    registration that returned before another began runs first).
//! 2. No run after unregister: an external `unregister` (not from inside a
//!    call) sets the registration's `unregistered` flag right after it
//!    returns; a callback that sees it set counts a failure (it cannot read a
//!    store made after every run of it). After the run, by ticks: no call
//!    that began after an external unregister returned ran it; for a removal
//!    deferred by a callback, no call that began after every call then
//!    running had ended ran it (the README's promise).
//! 3. Nothing freed while running, and no leak: each callback owns a
//!    `Canary` counted in `created`; its drop counts `dropped`, and fails if
//!    the registration's callback is running (`running` > 0) or it was
//!    dropped before. At the end (all registrations gone, and the chain
//!    dropped or flushed by a last writer) `created == dropped` and every
//!    canary was dropped exactly once.
//! 4. Deferred removal: self-unregistering callbacks take their own
//!    registration out of an `Arc<Mutex<Option<_>>>` slot and drop it inside
//!    the call, while other threads call, register, and steal registrations
//!    from the same slots to unregister them from outside.
//! 5. Panics: "bomb" callbacks panic when the event says so; the call is
//!    wrapped in `catch_unwind`, a panic must come from a bomb (the last
//!    entry of its log) and a bomb that ran must have panicked; the chain
//!    stays usable and the counters still balance.
//!
//! The chains that hold self-unregistering callbacks are leaked (their
//! registrations are `'static`, kept inside the callbacks' slots); the
//! others live in `thread::scope`, keep a few `mem::forget`-ed registrations
//! and are dropped at the end, which must free those.
#![cfg(not(loom))]

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use kernsync_notifier::{
    AtomicNotifierChain, AtomicRegistration, Ended, NotifierChain, Outcome, Prepared, Registration,
    Verdict,
};

/// Threads calling, registering and unregistering at once.
const WORKERS: usize = 4;
/// Iterations per worker: the bound of every stress test here.
const ITERS: usize = if cfg!(debug_assertions) {
    6_000
} else {
    15_000
};
/// Registrations a worker holds at most (besides the self-unregistering).
const MAX_HELD: usize = 6;
/// A test still running after this long is hung: the process aborts.
const WATCHDOG: Duration = Duration::from_secs(90);
/// Tick of something that has not happened (yet, or ever).
const NEVER: u64 = u64::MAX;

/// The event: whether bombs explode, and how callbacks linger to widen race
/// windows.
#[derive(Clone, Copy, Debug)]
struct Ev {
    boom: bool,
    linger: Linger,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Linger {
    No,
    /// Spin a little (both chains).
    Spin,
    /// Sleep a little: the blocking chain's callbacks may block (the atomic
    /// chain's spin instead). Rare: each sleep holding the read side makes
    /// writers park, and parked threads wake slowly on busy CPUs.
    Sleep,
}

/// The payload of a bomb's panic (kept quiet by the panic hook).
struct Boom;

/// Silences the panic hook for `Boom` payloads only.
fn quiet_booms() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<Boom>() {
                previous(info);
            }
        }));
    });
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Both kinds of chain, for the generic harness.
trait Chain: Send + Sync + 'static {
    type Reg<'a>: Send
    where
        Self: 'a;
    /// Callbacks may block (sleep) rather than spin.
    const MAY_BLOCK: bool;
    fn make() -> Self;
    fn reg(&self, prepared: Prepared<Ev>) -> Self::Reg<'_>;
    fn fire(&self, ev: &Ev) -> Outcome;
    fn live(&self) -> usize;
}

impl Chain for NotifierChain<Ev> {
    type Reg<'a> = Registration<'a, Ev>;
    const MAY_BLOCK: bool = true;
    fn make() -> Self {
        NotifierChain::new()
    }
    fn reg(&self, prepared: Prepared<Ev>) -> Registration<'_, Ev> {
        self.register(prepared)
    }
    fn fire(&self, ev: &Ev) -> Outcome {
        self.call(ev)
    }
    fn live(&self) -> usize {
        self.len()
    }
}

impl Chain for AtomicNotifierChain<Ev> {
    type Reg<'a> = AtomicRegistration<'a, Ev>;
    const MAY_BLOCK: bool = false;
    fn make() -> Self {
        AtomicNotifierChain::new()
    }
    fn reg(&self, prepared: Prepared<Ev>) -> AtomicRegistration<'_, Ev> {
        self.register(prepared)
    }
    fn fire(&self, ev: &Ev) -> Outcome {
        self.call(ev)
    }
    fn live(&self) -> usize {
        self.len()
    }
}

/// What a check found; counted per kind, the first messages kept.
#[derive(Clone, Copy, Debug)]
enum Check {
    /// 1: a call's priorities increased.
    Order,
    /// 1: a call ran one registration twice.
    Duplicate,
    /// 1: equal priorities ran out of registration order.
    TieOrder,
    /// 1: a registration present throughout a completed call did not run.
    Missing,
    /// 1: the top sentinel did not run first, or the bottom one last.
    Sentinel,
    /// 1: `Outcome` disagrees with the log.
    Outcome,
    /// 5: a panic without a bomb, or a bomb without a panic.
    Panic,
    /// 2: ran after its external unregister returned.
    RanAfterUnregister,
    /// 2: ran after its deferred removal took effect.
    RanAfterDeferred,
    /// 3: freed while its callback was running.
    FreedWhileRunning,
    /// 3: its canary was dropped twice.
    FreedTwice,
    /// 3: ran after its canary was dropped.
    RanAfterFree,
    /// 3: never freed.
    NotFreed,
}
const CHECKS: usize = 13;
/// Every check, in `Check as usize` order (for the failure summary).
const ALL_CHECKS: [Check; CHECKS] = [
    Check::Order,
    Check::Duplicate,
    Check::TieOrder,
    Check::Missing,
    Check::Sentinel,
    Check::Outcome,
    Check::Panic,
    Check::RanAfterUnregister,
    Check::RanAfterDeferred,
    Check::FreedWhileRunning,
    Check::FreedTwice,
    Check::RanAfterFree,
    Check::NotFreed,
];

/// One scenario's clock, counters and failures.
struct Stats {
    clock: AtomicU64,
    next_id: AtomicU32,
    created: AtomicU64,
    dropped: AtomicU64,
    failures: [AtomicU64; CHECKS],
    messages: Mutex<Vec<String>>,
}

impl Stats {
    fn new() -> Arc<Stats> {
        Arc::new(Stats {
            clock: AtomicU64::new(1),
            next_id: AtomicU32::new(0),
            created: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failures: std::array::from_fn(|_| AtomicU64::new(0)),
            messages: Mutex::new(Vec::new()),
        })
    }

    /// The logical time: a `SeqCst` read-modify-write of one atomic, so
    /// tick order extends happens-before between the ticking threads.
    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, SeqCst)
    }

    /// Counts a failure (never panics: callbacks call it).
    fn fail(&self, check: Check, msg: impl FnOnce() -> String) {
        if self.failures[check as usize].fetch_add(1, SeqCst) < 4 {
            lock(&self.messages).push(format!("{check:?}: {}", msg()));
        }
    }

    fn failed(&self) -> u64 {
        self.failures.iter().map(|f| f.load(SeqCst)).sum()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    /// Registered for the whole run, at `i32::MAX` or `i32::MIN`.
    Sentinel,
    Plain,
    /// Panics when the event's `boom` is set.
    Bomb,
    /// Drops its own registration (deferred removal) from its `after`-th
    /// run on.
    SelfUnregister {
        after: u64,
    },
    /// Prepared and dropped, never registered.
    Unused,
}

/// One registration's identity and times.
struct RegInfo {
    id: u32,
    prio: i32,
    role: Role,
    /// Tick before `register` was called.
    reg_begin: AtomicU64,
    /// Tick after `register` returned.
    reg_at: AtomicU64,
    /// Tick before `unregister` (or the drop of the registration).
    unreg_begin: AtomicU64,
    /// Tick after it returned.
    unreg_end: AtomicU64,
    /// Unregistered from inside a call (deferred removal).
    deferred: AtomicBool,
    /// Check 2: set right after an external unregister returned.
    unregistered: AtomicBool,
    /// Runs of the callback in progress.
    running: AtomicU32,
    runs: AtomicU64,
    /// The canary was dropped (the node freed).
    freed: AtomicBool,
}

impl RegInfo {
    fn new(stats: &Stats, prio: i32, role: Role) -> Arc<RegInfo> {
        Arc::new(RegInfo {
            id: stats.next_id.fetch_add(1, SeqCst),
            prio,
            role,
            reg_begin: AtomicU64::new(NEVER),
            reg_at: AtomicU64::new(NEVER),
            unreg_begin: AtomicU64::new(NEVER),
            unreg_end: AtomicU64::new(NEVER),
            deferred: AtomicBool::new(false),
            unregistered: AtomicBool::new(false),
            running: AtomicU32::new(0),
            runs: AtomicU64::new(0),
            freed: AtomicBool::new(false),
        })
    }
}

/// Owned by a callback: counts its creation and its drop (the node's
/// free), and checks the callback is not running then.
struct Canary {
    info: Arc<RegInfo>,
    stats: Arc<Stats>,
}

impl Canary {
    fn new(info: &Arc<RegInfo>, stats: &Arc<Stats>) -> Canary {
        stats.created.fetch_add(1, SeqCst);
        Canary {
            info: info.clone(),
            stats: stats.clone(),
        }
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        let (info, stats) = (&*self.info, &*self.stats);
        let running = info.running.load(SeqCst);
        if running != 0 {
            stats.fail(Check::FreedWhileRunning, || {
                format!(
                    "registration {} freed while {running} call(s) ran it",
                    info.id
                )
            });
        }
        if info.freed.swap(true, SeqCst) {
            stats.fail(Check::FreedTwice, || format!("registration {}", info.id));
        }
        stats.dropped.fetch_add(1, SeqCst);
    }
}

/// Counts one run of a callback in progress (unwind-safe).
struct Running<'a>(&'a RegInfo);

impl<'a> Running<'a> {
    fn enter(info: &'a RegInfo) -> Running<'a> {
        info.running.fetch_add(1, SeqCst);
        Running(info)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, SeqCst);
    }
}

/// One callback run, as logged.
#[derive(Clone, Copy, Debug)]
struct Entry {
    id: u32,
    prio: i32,
    bomb: bool,
}

thread_local! {
    /// The current call's runs, on the calling thread.
    static LOG: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// A registration a callback can take out and drop.
type Slot<R> = Arc<Mutex<Option<R>>>;
/// The self-unregistering registrations of a leaked chain, for stealing.
type Pool<C> = Mutex<Vec<(Slot<<C as Chain>::Reg<'static>>, Arc<RegInfo>)>>;

fn callback<C: Chain>(
    canary: Canary,
    slot: Option<Slot<C::Reg<'static>>>,
) -> impl Fn(&Ev) -> Verdict + Send + Sync + 'static {
    move |ev: &Ev| {
        let (info, stats) = (&*canary.info, &*canary.stats);
        let _running = Running::enter(info);
        if info.freed.load(SeqCst) {
            stats.fail(Check::RanAfterFree, || format!("registration {}", info.id));
        }
        if info.unregistered.load(SeqCst) {
            stats.fail(Check::RanAfterUnregister, || {
                format!(
                    "registration {} ran with its unregistered flag set",
                    info.id
                )
            });
        }
        let runs = info.runs.fetch_add(1, SeqCst) + 1;
        LOG.with(|l| {
            l.borrow_mut().push(Entry {
                id: info.id,
                prio: info.prio,
                bomb: info.role == Role::Bomb,
            })
        });
        match ev.linger {
            Linger::No => {}
            Linger::Sleep if C::MAY_BLOCK => thread::sleep(Duration::from_micros(20)),
            Linger::Spin | Linger::Sleep => {
                for _ in 0..200 {
                    std::hint::spin_loop();
                }
            }
        }
        match info.role {
            Role::Bomb if ev.boom => panic::panic_any(Boom),
            Role::SelfUnregister { after } if runs >= after => {
                // Empty until the registering thread has stored it, and
                // after a thief has taken it.
                let mine = slot.as_ref().and_then(|s| lock(s).take());
                if let Some(reg) = mine {
                    info.deferred.store(true, SeqCst);
                    info.unreg_begin.store(stats.tick(), SeqCst);
                    drop(reg); // inside a call of its chain: deferred
                    info.unreg_end.store(stats.tick(), SeqCst);
                }
            }
            _ => {}
        }
        Verdict::Continue
    }
}

/// Prepares (no lock held) and registers a tracked callback.
fn register<'c, C: Chain>(
    chain: &'c C,
    stats: &Arc<Stats>,
    role: Role,
    prio: i32,
    slot: Option<Slot<C::Reg<'static>>>,
    infos: &mut Vec<Arc<RegInfo>>,
) -> (C::Reg<'c>, Arc<RegInfo>) {
    let info = RegInfo::new(stats, prio, role);
    infos.push(info.clone());
    let prepared = Prepared::new(callback::<C>(Canary::new(&info, stats), slot), prio);
    info.reg_begin.store(stats.tick(), SeqCst);
    let reg = chain.reg(prepared);
    info.reg_at.store(stats.tick(), SeqCst);
    (reg, info)
}

/// Unregisters from outside any call, then raises the flag of check 2.
fn unregister<R>(reg: R, info: &RegInfo, stats: &Stats) {
    info.unreg_begin.store(stats.tick(), SeqCst);
    drop(reg);
    info.unregistered.store(true, SeqCst);
    info.unreg_end.store(stats.tick(), SeqCst);
}

/// One recorded call: its ticks and where its ids are in `Trace::ids`.
struct CallRec {
    start: u64,
    end: u64,
    first: usize,
    len: usize,
    completed: bool,
}

#[derive(Default)]
struct Trace {
    calls: Vec<CallRec>,
    ids: Vec<u32>,
    scratch: Vec<u32>,
}

/// What the workers did, for the summary line.
#[derive(Default, Debug)]
struct Tally {
    calls: u64,
    panicked: u64,
    registered: u64,
    unregistered: u64,
    self_unregistering: u64,
    stolen: u64,
    unused: u64,
}

/// Calls, and checks the call's log at once (the order, duplicates,
/// sentinels, outcome and panic parts of checks 1 and 5).
fn call_and_check<C: Chain>(
    chain: &C,
    stats: &Stats,
    ev: Ev,
    (top, bottom): (u32, u32),
    trace: &mut Trace,
) -> bool {
    LOG.with(|l| l.borrow_mut().clear());
    let start = stats.tick();
    let result = panic::catch_unwind(AssertUnwindSafe(|| chain.fire(&ev)));
    let end = stats.tick();
    LOG.with(|l| {
        let log = l.borrow();
        let dump = || format!("{ev:?}: {log:?}");
        if log.windows(2).any(|w| w[0].prio < w[1].prio) {
            stats.fail(Check::Order, dump);
        }
        trace.scratch.clear();
        trace.scratch.extend(log.iter().map(|e| e.id));
        trace.scratch.sort_unstable();
        if trace.scratch.windows(2).any(|w| w[0] == w[1]) {
            stats.fail(Check::Duplicate, dump);
        }
        if log.first().map(|e| e.id) != Some(top) {
            stats.fail(Check::Sentinel, || {
                format!("top sentinel not first: {}", dump())
            });
        }
        let bomb_ran = ev.boom && log.iter().any(|e| e.bomb);
        match &result {
            Ok(outcome) => {
                if log.last().map(|e| e.id) != Some(bottom) {
                    stats.fail(Check::Sentinel, || {
                        format!("bottom sentinel not last: {}", dump())
                    });
                }
                if outcome.ended != Ended::Completed || outcome.called != log.len() {
                    stats.fail(Check::Outcome, || format!("{outcome:?} for {}", dump()));
                }
                if bomb_ran {
                    stats.fail(Check::Panic, || format!("a bomb ran, no panic: {}", dump()));
                }
            }
            Err(payload) => {
                if !payload.is::<Boom>() {
                    let what = payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()));
                    stats.fail(Check::Panic, || format!("unexpected panic {what:?}"));
                } else if !(ev.boom && log.last().is_some_and(|e| e.bomb)) {
                    stats.fail(Check::Panic, || {
                        format!("panic not from a bomb: {}", dump())
                    });
                }
            }
        }
        trace.calls.push(CallRec {
            start,
            end,
            first: trace.ids.len(),
            len: log.len(),
            completed: result.is_ok(),
        });
        trace.ids.extend(log.iter().map(|e| e.id));
    });
    result.is_err()
}

/// xorshift64*: reproducible per worker.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }

    fn prio(&mut self) -> i32 {
        // A narrow range, so equal priorities are common.
        self.below(7) as i32 - 3
    }
}

struct WorkerOut {
    trace: Trace,
    infos: Vec<Arc<RegInfo>>,
    tally: Tally,
}

/// `ITERS` random operations on `chain`. `statics` is the same chain when it
/// is leaked: then self-unregistering callbacks are registered (into
/// `pool`) and stolen back.
fn worker<'c, C: Chain>(
    chain: &'c C,
    statics: Option<&'static C>,
    pool: &Pool<C>,
    stats: &Arc<Stats>,
    sentinels: (u32, u32),
    seed: u64,
) -> WorkerOut {
    let mut rng = Rng(seed);
    let mut trace = Trace::default();
    let mut infos = Vec::new();
    let mut tally = Tally::default();
    let mut held: Vec<(C::Reg<'c>, Arc<RegInfo>)> = Vec::new();
    for _ in 0..ITERS {
        match rng.below(100) {
            0..=54 => {
                let ev = Ev {
                    boom: rng.below(20) == 0,
                    linger: match rng.below(64) {
                        0 => Linger::Sleep,
                        1..=8 => Linger::Spin,
                        _ => Linger::No,
                    },
                };
                tally.calls += 1;
                tally.panicked +=
                    u64::from(call_and_check(chain, stats, ev, sentinels, &mut trace));
            }
            55..=71 if held.len() < MAX_HELD => {
                let role = if rng.below(6) == 0 {
                    Role::Bomb
                } else {
                    Role::Plain
                };
                held.push(register(chain, stats, role, rng.prio(), None, &mut infos));
                tally.registered += 1;
            }
            55..=84 => {
                if !held.is_empty() {
                    let (reg, info) = held.swap_remove(rng.below(held.len()));
                    unregister(reg, &info, stats);
                    tally.unregistered += 1;
                }
            }
            85..=93 => match statics {
                Some(chain) => {
                    let slot: Slot<C::Reg<'static>> = Arc::default();
                    let role = Role::SelfUnregister {
                        after: 1 + rng.below(12) as u64,
                    };
                    let (reg, info) = register(
                        chain,
                        stats,
                        role,
                        rng.prio(),
                        Some(slot.clone()),
                        &mut infos,
                    );
                    *lock(&slot) = Some(reg);
                    lock(pool).push((slot, info));
                    tally.self_unregistering += 1;
                }
                None if held.len() < MAX_HELD => {
                    held.push(register(
                        chain,
                        stats,
                        Role::Plain,
                        rng.prio(),
                        None,
                        &mut infos,
                    ));
                    tally.registered += 1;
                }
                None => {}
            },
            94..=96 => {
                // Steal a recent self-unregistering registration and
                // unregister it from outside, racing its own callback.
                let victim = {
                    let p = lock(pool);
                    let n = p.len();
                    (n > 0).then(|| p[n - 1 - rng.below(n.min(16))].clone())
                };
                if let Some((slot, info)) = victim {
                    // The slot's guard is gone before unregistering (which
                    // waits for calls that may be taking that lock).
                    let taken = lock(&slot).take();
                    if let Some(reg) = taken {
                        unregister(reg, &info, stats);
                        tally.stolen += 1;
                    }
                }
            }
            _ => {
                let info = RegInfo::new(stats, rng.prio(), Role::Unused);
                infos.push(info.clone());
                let prepared =
                    Prepared::<Ev>::new(callback::<C>(Canary::new(&info, stats), None), info.prio);
                drop(prepared);
                tally.unused += 1;
            }
        }
    }
    for (reg, info) in held.drain(..) {
        unregister(reg, &info, stats);
        tally.unregistered += 1;
    }
    WorkerOut {
        trace,
        infos,
        tally,
    }
}

fn run_workers<C: Chain>(
    chain: &C,
    statics: Option<&'static C>,
    pool: &Pool<C>,
    stats: &Arc<Stats>,
    sentinels: (u32, u32),
) -> Vec<WorkerOut> {
    thread::scope(|s| {
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                let seed = 0x9E37_79B9_7F4A_7C15 ^ ((w as u64 + 1) << 32);
                s.spawn(move || worker(chain, statics, pool, stats, sentinels, seed))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a worker panicked"))
            .collect()
    })
}

/// A call from the main thread, after the workers: it runs exactly
/// `expected`.
fn final_call<C: Chain>(chain: &C, expected: &[u32]) {
    LOG.with(|l| l.borrow_mut().clear());
    let outcome = chain.fire(&Ev {
        boom: false,
        linger: Linger::No,
    });
    let ran: Vec<u32> = LOG.with(|l| l.borrow().iter().map(|e| e.id).collect());
    assert_eq!(ran, expected, "the final call ran other callbacks");
    assert_eq!(outcome.called, expected.len());
    assert_eq!(outcome.ended, Ended::Completed);
}

/// The after-the-run checks (1: present throughout, tie order; 2: by
/// ticks; 3: freed once, balanced), then every failure counted.
fn analyse(name: &str, stats: &Stats, mut infos: Vec<Arc<RegInfo>>, outs: Vec<WorkerOut>) {
    let mut tally = Tally::default();
    for out in &outs {
        infos.extend(out.infos.iter().cloned());
        let t = &out.tally;
        tally.calls += t.calls;
        tally.panicked += t.panicked;
        tally.registered += t.registered;
        tally.unregistered += t.unregistered;
        tally.self_unregistering += t.self_unregistering;
        tally.stolen += t.stolen;
        tally.unused += t.unused;
    }
    let n = stats.next_id.load(SeqCst) as usize;
    let mut by_id: Vec<Option<Arc<RegInfo>>> = vec![None; n];
    for info in infos {
        let id = info.id as usize;
        by_id[id] = Some(info);
    }
    let by_id: Vec<Arc<RegInfo>> = by_id
        .into_iter()
        .enumerate()
        .map(|(id, i)| i.unwrap_or_else(|| panic!("registration {id} not recorded")))
        .collect();
    let time = |a: &AtomicU64| a.load(SeqCst);

    struct Call<'t> {
        start: u64,
        end: u64,
        completed: bool,
        ids: &'t [u32],
    }
    let mut calls: Vec<Call<'_>> = outs
        .iter()
        .flat_map(|o| {
            o.trace.calls.iter().map(|c| Call {
                start: c.start,
                end: c.end,
                completed: c.completed,
                ids: &o.trace.ids[c.first..c.first + c.len],
            })
        })
        .collect();
    calls.sort_by_key(|c| c.start);

    // Check 2, deferred: when the calls running at the removal have all
    // ended. `latest_end[k]`: the latest end of the first k + 1 calls.
    let latest_end: Vec<u64> = calls
        .iter()
        .scan(0, |m, c| {
            *m = (*m).max(c.end);
            Some(*m)
        })
        .collect();
    let settled: Vec<u64> = by_id
        .iter()
        .map(|info| {
            if !info.deferred.load(SeqCst) {
                return NEVER;
            }
            let u = time(&info.unreg_end);
            let k = calls.partition_point(|c| c.start < u);
            latest_end[k - 1] // k >= 1: the call that removed it
        })
        .collect();

    let mut deferred = 0;
    for info in &by_id {
        deferred += u64::from(info.deferred.load(SeqCst));
        if !info.freed.load(SeqCst) {
            stats.fail(Check::NotFreed, || {
                format!("registration {} ({:?}) never freed", info.id, info.role)
            });
        }
    }

    let mut events: Vec<(u64, bool, u32)> = Vec::new();
    for info in &by_id {
        let at = time(&info.reg_at);
        if at != NEVER {
            events.push((at, true, info.id));
            let gone = time(&info.unreg_begin);
            if gone != NEVER {
                events.push((gone, false, info.id));
            }
        }
    }
    events.sort_unstable();
    let mut alive = BTreeSet::new();
    let mut next_event = 0;
    let (mut present_checked, mut ties_checked) = (0u64, 0u64);
    for call in &calls {
        for &id in call.ids {
            let info = &by_id[id as usize];
            if !info.deferred.load(SeqCst) && time(&info.unreg_end) < call.start {
                stats.fail(Check::RanAfterUnregister, || {
                    format!(
                        "registration {id} ran in a call begun at {} after its unregister returned at {}",
                        call.start,
                        time(&info.unreg_end)
                    )
                });
            }
            if settled[id as usize] < call.start {
                stats.fail(Check::RanAfterDeferred, || {
                    format!(
                        "registration {id}, removed from inside a call at {}, ran in a call begun at {} after all calls then running had ended ({})",
                        time(&info.unreg_end),
                        call.start,
                        settled[id as usize]
                    )
                });
            }
        }
        for (i, &a) in call.ids.iter().enumerate() {
            for &b in &call.ids[i + 1..] {
                let (a, b) = (&by_id[a as usize], &by_id[b as usize]);
                ties_checked += u64::from(a.prio == b.prio);
                if a.prio == b.prio && time(&b.reg_at) < time(&a.reg_begin) {
                    stats.fail(Check::TieOrder, || {
                        format!(
                            "registration {} ran before {} at priority {}, registered later",
                            a.id, b.id, a.prio
                        )
                    });
                }
            }
        }
        while next_event < events.len() && events[next_event].0 < call.start {
            let (_, added, id) = events[next_event];
            if added {
                alive.insert(id);
            } else {
                alive.remove(&id);
            }
            next_event += 1;
        }
        if call.completed {
            for &id in &alive {
                present_checked += 1;
                if time(&by_id[id as usize].unreg_begin) > call.end && !call.ids.contains(&id) {
                    stats.fail(Check::Missing, || {
                        format!(
                            "registration {id} (registered at {}, unregistered from {}) missing from the call [{}, {}]: {:?}",
                            time(&by_id[id as usize].reg_at),
                            time(&by_id[id as usize].unreg_begin),
                            call.start,
                            call.end,
                            call.ids
                        )
                    });
                }
            }
        }
    }

    let created = stats.created.load(SeqCst);
    let dropped = stats.dropped.load(SeqCst);
    println!(
        "{name}: {WORKERS} workers x {ITERS} iterations: {tally:?}, {deferred} deferred removals, \
         {n} registrations, {created} created / {dropped} dropped, {present_checked} \
         presences and {ties_checked} equal-priority pairs checked, {} ticks",
        stats.clock.load(SeqCst)
    );
    let failed = stats.failed();
    if failed != 0 {
        let counts: Vec<String> = ALL_CHECKS
            .iter()
            .map(|&c| (c, stats.failures[c as usize].load(SeqCst)))
            .filter(|&(_, n)| n != 0)
            .map(|(c, n)| format!("{c:?}: {n}"))
            .collect();
        panic!(
            "{name}: {failed} failure(s) ({}):\n{}",
            counts.join(", "),
            lock(&stats.messages).join("\n")
        );
    }
    assert_eq!(created, dropped, "{name}: canaries created vs dropped");
    assert_eq!(created, n as u64, "{name}: one canary per registration");
}

/// Aborts the process if the test is still running after `WATCHDOG`.
struct Watchdog {
    done: Arc<AtomicBool>,
    stage: Arc<Mutex<&'static str>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    fn arm(name: &'static str) -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let stage = Arc::new(Mutex::new("setup"));
        let thread = {
            let (done, stage) = (done.clone(), stage.clone());
            thread::Builder::new()
                .name(format!("watchdog:{name}"))
                .spawn(move || {
                    let deadline = Instant::now() + WATCHDOG;
                    while !done.load(SeqCst) {
                        let now = Instant::now();
                        if now >= deadline {
                            // Straight to stderr: `eprintln!` in a thread
                            // spawned by a test is captured, and lost on abort.
                            let msg = format!(
                                "\n{name}: still running after {WATCHDOG:?} (stage: {}): \
                                 a hang; aborting the process so that CI fails\n",
                                lock(&stage)
                            );
                            let _ = std::io::stderr().write_all(msg.as_bytes());
                            std::process::abort();
                        }
                        thread::park_timeout(deadline - now);
                    }
                })
                .expect("spawn the watchdog")
        };
        Watchdog {
            done,
            stage,
            thread: Some(thread),
        }
    }

    fn stage(&self, stage: &'static str) {
        *lock(&self.stage) = stage;
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, SeqCst);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// A leaked chain with self-unregistering callbacks (checks 1 to 5); at the
/// end its last writer (outside any call) has freed every node.
fn stress_leaked<C: Chain>(name: &'static str) {
    quiet_booms();
    let watchdog = Watchdog::arm(name);
    let stats = Stats::new();
    let chain: &'static C = Box::leak(Box::new(C::make()));
    let mut infos = Vec::new();
    let (top, top_info) = register(chain, &stats, Role::Sentinel, i32::MAX, None, &mut infos);
    let (bottom, bottom_info) = register(chain, &stats, Role::Sentinel, i32::MIN, None, &mut infos);
    let sentinels = (top_info.id, bottom_info.id);
    let pool: Pool<C> = Mutex::new(Vec::new());

    watchdog.stage("workers");
    let outs = run_workers(chain, Some(chain), &pool, &stats, sentinels);

    watchdog.stage("cleanup");
    for (slot, info) in pool.into_inner().unwrap_or_else(PoisonError::into_inner) {
        let taken = lock(&slot).take();
        if let Some(reg) = taken {
            unregister(reg, &info, &stats);
        }
    }
    final_call(chain, &[sentinels.0, sentinels.1]);
    unregister(top, &top_info, &stats);
    unregister(bottom, &bottom_info, &stats);
    assert_eq!(chain.live(), 0, "{name}: callbacks left");
    final_call(chain, &[]);

    watchdog.stage("analysis");
    analyse(name, &stats, infos, outs);
}

/// A chain in `thread::scope` without self-unregistration (checks 1, 2, 3,
/// 5), holding a few forgotten registrations that its drop must free.
fn stress_scoped<C: Chain>(name: &'static str) {
    quiet_booms();
    let watchdog = Watchdog::arm(name);
    let stats = Stats::new();
    let chain = C::make();
    let mut infos = Vec::new();
    let (top, top_info) = register(&chain, &stats, Role::Sentinel, i32::MAX, None, &mut infos);
    let (bottom, bottom_info) =
        register(&chain, &stats, Role::Sentinel, i32::MIN, None, &mut infos);
    let sentinels = (top_info.id, bottom_info.id);
    let mut forgotten = Vec::new();
    for prio in [2, 0, -3, 0] {
        let (reg, info) = register(&chain, &stats, Role::Plain, prio, None, &mut infos);
        std::mem::forget(reg); // left to the chain's drop
        forgotten.push(info);
    }
    let pool: Pool<C> = Mutex::new(Vec::new());

    watchdog.stage("workers");
    let outs = run_workers(&chain, None, &pool, &stats, sentinels);

    watchdog.stage("cleanup");
    // Stable sort: registration order among equal priorities.
    forgotten.sort_by_key(|i| std::cmp::Reverse(i.prio));
    let mut expected = vec![sentinels.0];
    expected.extend(forgotten.iter().map(|i| i.id));
    expected.push(sentinels.1);
    final_call(&chain, &expected);
    unregister(top, &top_info, &stats);
    unregister(bottom, &bottom_info, &stats);
    assert_eq!(chain.live(), forgotten.len(), "{name}: callbacks left");
    assert!(forgotten.iter().all(|i| !i.freed.load(SeqCst)));
    drop(chain);
    assert!(
        forgotten.iter().all(|i| i.freed.load(SeqCst)),
        "{name}: the chain's drop did not free forgotten registrations"
    );

    watchdog.stage("analysis");
    analyse(name, &stats, infos, outs);
}

#[test]
fn bounded_stress_blocking_chain_calls_registers_and_self_unregisters() {
    stress_leaked::<NotifierChain<Ev>>("blocking, leaked");
}

#[test]
fn bounded_stress_atomic_chain_calls_registers_and_self_unregisters() {
    stress_leaked::<AtomicNotifierChain<Ev>>("atomic, leaked");
}

#[test]
fn bounded_stress_blocking_chain_then_drop_frees_everything() {
    stress_scoped::<NotifierChain<Ev>>("blocking, scoped");
}

#[test]
fn bounded_stress_atomic_chain_then_drop_frees_everything() {
    stress_scoped::<AtomicNotifierChain<Ev>>("atomic, scoped");
}
