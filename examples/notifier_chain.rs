//! Notifier chains, step by step: prepare before taking a lock and register
//! under it; priority order; a callback that stops the walk; a failing
//! callback whose predecessors `call_robust` rolls back, in reverse; and a
//! callback that unregisters itself from inside a call.
//!
//! The events are a CPU's hotplug steps. `NotifierChain` callbacks may block;
//! `AtomicNotifierChain` callbacks run in an atomic section (here: a dying
//! CPU's, interrupts off). Each step prints what the callbacks saw, in
//! order, and asserts it.
//!
//! Run: `cargo run --example notifier_chain` (exits 0; in debug builds the
//! validator also checks that `register` allocates nothing under the lock).
//!
//! The steps are functions that `tests/example_scenarios.rs` runs too.

use std::cell::RefCell;
use std::sync::Arc;

use kernsync::lockdep::{capture, is_enabled, LockClass, Report};
use kernsync::notifier::{
    AtomicNotifierChain, Ended, NotifierChain, Outcome, Prepared, Registration, Verdict,
};
use kernsync::rwsem::{Mutex, RwSem};

// Every allocation is a `might_alloc()`, so an allocation inside `register`'s
// no-alloc scope (step 1) would be reported. The integration test that runs
// these steps installs its own.
#[cfg(not(test))]
#[global_allocator]
static ALLOC: kernsync::lockdep::CheckedAlloc =
    kernsync::lockdep::CheckedAlloc::new(std::alloc::System);

/// A CPU hotplug event.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Cpu {
    /// Get ready to bring this CPU up (may fail).
    UpPrepare(u32),
    /// Bringing it up failed: undo `UpPrepare`.
    UpCanceled(u32),
    /// It is up.
    Online(u32),
    /// It is going down: runs on that CPU, interrupts off.
    Dying(u32),
}

thread_local! {
    /// Which callback saw which event, in order. Callbacks run on the
    /// calling thread, so a thread's own log needs no lock; and an atomic
    /// chain's callbacks may neither take a lock that sleeps nor allocate
    /// (an allocation may sleep: the validator reports it), so the log's
    /// room is reserved before each call.
    static LOG: RefCell<Vec<(&'static str, Cpu)>> = const { RefCell::new(Vec::new()) };
}

/// Empties the log and reserves its room, before a call.
fn start_log() {
    LOG.with(|log| {
        let mut log = log.borrow_mut();
        log.clear();
        log.reserve(16);
    });
}

/// Records that callback `name` saw `event`. Allocates nothing after `start_log`.
fn log(name: &'static str, event: &Cpu) {
    LOG.with(|log| log.borrow_mut().push((name, *event)));
}

/// The log since `start_log`, as `name Event(cpu)` lines.
fn take_log() -> Vec<String> {
    LOG.with(|log| log.take())
        .into_iter()
        .map(|(name, event)| format!("{name} {event:?}"))
        .collect()
}

/// A callback that logs what it saw and answers `verdict`.
fn logger(
    name: &'static str,
    verdict: Verdict,
) -> impl Fn(&Cpu) -> Verdict + Send + Sync + 'static {
    move |event| {
        log(name, event);
        verdict
    }
}

/// Step 1: the callbacks are prepared (allocated) with no lock held and
/// registered under the lock `hotplug_state`; then one call shows their
/// order: higher priority first, registration order among equals. Returns
/// the call's outcome, the log, and what the validator reported while the
/// lock was held.
pub(crate) fn prepare_then_register() -> (Outcome, Vec<String>, Vec<Report>) {
    // A no-alloc class: any allocation while it is held is reported.
    static HOTPLUG_STATE: LockClass = LockClass::new("hotplug_state").no_alloc();
    let online = RwSem::with_class(0u32, &HOTPLUG_STATE);
    let chain = NotifierChain::new();

    // Allocates: no lock held.
    let prepared: [Prepared<Cpu>; 5] = [
        ("perf", 0),
        ("rcu", 10),
        ("timers", 0),
        ("sched", 10),
        ("late", -5),
    ]
    .map(|(name, priority)| chain.prepare(logger(name, Verdict::Continue), priority));

    // Links under the lock, allocating nothing: the class forbids it, and
    // `register` links inside the validator's `no_alloc` scope besides.
    let (_registrations, reports) = capture(|| {
        let mut online = online.write();
        *online += 1;
        prepared.map(|p| chain.register(p))
    });
    start_log();
    let outcome = chain.call(&Cpu::Online(1));
    (outcome, take_log(), reports)
}

/// Step 2: on an atomic chain, a callback answers `Stop`: the walk ends
/// there and the lower-priority callbacks are not called.
pub(crate) fn stop() -> (Outcome, Vec<String>) {
    let chain = AtomicNotifierChain::new();
    let _tick = chain.subscribe(logger("tick", Verdict::Continue), 200);
    let _stopper = chain.subscribe(logger("stopper", Verdict::Stop), 100);
    let _perf = chain.subscribe(logger("perf", Verdict::Continue), 0);
    start_log();
    let outcome = chain.call(&Cpu::Dying(3));
    (outcome, take_log())
}

/// `-EBUSY`.
pub(crate) const EBUSY: i32 = -16;

/// Step 3: `call_robust` on a chain whose third callback fails: the two
/// before it get the rollback event, last first; the failing one and those
/// after it get nothing more.
pub(crate) fn robust_rollback() -> (Outcome, Vec<String>) {
    let chain = NotifierChain::new();
    let _pages = chain.subscribe(logger("pages", Verdict::Continue), 30);
    let _kthreads = chain.subscribe(logger("kthreads", Verdict::Continue), 20);
    let _driver = chain.subscribe(logger("driver", Verdict::Fail(EBUSY)), 10);
    let _late = chain.subscribe(logger("late", Verdict::Continue), 0);
    start_log();
    let outcome = chain.call_robust(&Cpu::UpPrepare(2), &Cpu::UpCanceled(2));
    (outcome, take_log())
}

/// What step 4 saw.
#[derive(Debug)]
pub(crate) struct SelfUnregister {
    /// The first call's log: the one-shot callback ran (and unregistered itself).
    pub(crate) first_call: Vec<String>,
    /// The chain's length right after the first call.
    pub(crate) len_after: usize,
    /// Whether the one-shot callback was still allocated after the call
    /// (its removal deferred: it cannot wait for the call it is in).
    pub(crate) kept_after_call: bool,
    /// The second call's log.
    pub(crate) second_call: Vec<String>,
    /// Whether it was still allocated after the chain's next writer.
    pub(crate) kept_after_next_writer: bool,
}

/// Step 4's chain. Static, so that a callback can own its registration.
static ONLINE: NotifierChain<Cpu> = NotifierChain::new();
/// The one-shot callback's registration, which it takes and drops.
static ONE_SHOT: Mutex<Option<Registration<'static, Cpu>>> = Mutex::new(None);

/// Step 4: a one-shot callback unregisters itself from inside the call it
/// runs in; it is not called again, and the chain's next writer frees it.
pub(crate) fn self_unregister() -> SelfUnregister {
    assert!(ONLINE.is_empty(), "step 4 runs once per process");
    let _steady = ONLINE.subscribe(logger("steady", Verdict::Continue), 0);
    // Dropped with the callback: tells when the callback is freed.
    let alive = Arc::new(());
    let in_callback = Arc::clone(&alive);
    let one_shot = ONLINE.subscribe(
        move |event| {
            let _alive = &in_callback;
            log("one_shot", event);
            // Unregister (with the slot's lock released): deferred, since
            // this call cannot wait for itself.
            let me = ONE_SHOT.lock().take();
            drop(me);
            Verdict::Continue
        },
        10,
    );
    *ONE_SHOT.lock() = Some(one_shot);

    start_log();
    ONLINE.call(&Cpu::Online(4));
    let first_call = take_log();
    let len_after = ONLINE.len();
    let kept_after_call = Arc::strong_count(&alive) == 2;
    start_log();
    ONLINE.call(&Cpu::Online(5));
    let second_call = take_log();
    // The next writer (a registration, here) unlinks and frees it.
    drop(ONLINE.subscribe(logger("next", Verdict::Continue), 0));
    let kept_after_next_writer = Arc::strong_count(&alive) == 2;
    SelfUnregister {
        first_call,
        len_after,
        kept_after_call,
        second_call,
        kept_after_next_writer,
    }
}

// What each step must show: `main` checks what it printed, and
// `tests/example_scenarios.rs` runs the same steps and checks.

/// Step 1: nothing reported while registering under the lock; all five
/// called, higher priority first, registration order among equals.
pub(crate) fn check_prepare_then_register(outcome: Outcome, log: &[String], reports: &[Report]) {
    assert!(
        reports.is_empty(),
        "register allocated under the lock: {reports:?}"
    );
    assert_eq!(
        outcome,
        Outcome {
            called: 5,
            ended: Ended::Completed
        }
    );
    assert_eq!(
        log,
        [
            "rcu Online(1)",
            "sched Online(1)",
            "perf Online(1)",
            "timers Online(1)",
            "late Online(1)"
        ]
    );
}

/// Step 2: the walk ends at the callback that answered `Stop`.
pub(crate) fn check_stop(outcome: Outcome, log: &[String]) {
    assert_eq!(
        outcome,
        Outcome {
            called: 2,
            ended: Ended::Stopped
        }
    );
    assert_eq!(log, ["tick Dying(3)", "stopper Dying(3)"]);
}

/// Step 3: the failure is returned, and the callbacks that succeeded are
/// rolled back in reverse.
pub(crate) fn check_robust_rollback(outcome: Outcome, log: &[String]) {
    assert_eq!(outcome.error(), Some(EBUSY));
    assert_eq!(
        outcome,
        Outcome {
            called: 3,
            ended: Ended::Failed(EBUSY)
        }
    );
    assert_eq!(
        log,
        [
            "pages UpPrepare(2)",
            "kthreads UpPrepare(2)",
            "driver UpPrepare(2)",
            "kthreads UpCanceled(2)",
            "pages UpCanceled(2)"
        ]
    );
}

/// Step 4: the self-unregistered callback is not called again, and is
/// freed by the chain's next writer, not inside the call it ran in.
pub(crate) fn check_self_unregister(seen: &SelfUnregister) {
    assert_eq!(seen.first_call, ["one_shot Online(4)", "steady Online(4)"]);
    assert_eq!(seen.len_after, 1);
    assert!(seen.kept_after_call, "freed inside the call it ran in");
    assert_eq!(seen.second_call, ["steady Online(5)"]);
    assert!(!seen.kept_after_next_writer, "not freed by the next writer");
}

fn main() {
    println!("1. prepare five callbacks (allocates, no lock held), then register them under");
    println!(
        "   the no-alloc lock \"hotplug_state\" (links only, nothing allocated); one call shows the order"
    );
    let (outcome, log, reports) = prepare_then_register();
    println!(
        "   reports while registering under the lock: {}",
        reports.len()
    );
    for r in &reports {
        println!("{r}");
    }
    println!("   call(Online(1)) -> {outcome:?}");
    println!("   called: {}", log.join(", "));
    println!("   (priorities 10, 10, 0, 0, -5: higher first, registration order among equals)");
    check_prepare_then_register(outcome, &log, &reports);

    println!("\n2. atomic chain: tick (200), stopper (100, answers Stop), perf (0)");
    let (outcome, log) = stop();
    println!("   call(Dying(3)) -> {outcome:?}");
    println!("   called: {} (perf is not called)", log.join(", "));
    check_stop(outcome, &log);

    println!("\n3. call_robust: pages (30), kthreads (20), driver (10, fails -EBUSY), late (0)");
    let (outcome, log) = robust_rollback();
    println!("   call_robust(UpPrepare(2), rollback UpCanceled(2)) -> {outcome:?}");
    for line in &log {
        println!("     {line}");
    }
    println!("   (the callbacks that succeeded are rolled back in reverse; late never runs)");
    check_robust_rollback(outcome, &log);

    println!("\n4. one_shot (10) unregisters itself from inside its call; steady (0) stays");
    let seen = self_unregister();
    println!("   first call:  {}", seen.first_call.join(", "));
    println!(
        "   right after: {} callback registered; one_shot still allocated: {} (removal deferred)",
        seen.len_after, seen.kept_after_call
    );
    println!("   second call: {}", seen.second_call.join(", "));
    println!(
        "   after the chain's next writer: one_shot still allocated: {}",
        seen.kept_after_next_writer
    );
    check_self_unregister(&seen);

    if !is_enabled() {
        println!("\n(validation is off in this build: step 1's allocation check did not run)");
    }
}
