//! `register_arc`: a registration that holds an `Arc` of its chain, on both
//! kinds of chain. A callback can unregister itself through it, it can be
//! stored in an object that outlives the `Arc` it was made from, and it keeps
//! the borrowed form's promise: dropping it returns only when no call can
//! still run the callback. The borrowed form works as before.
#![cfg(not(loom))]

mod common;

use common::*;
use kernsync_notifier::{
    ArcAtomicRegistration, ArcRegistration, AtomicNotifierChain, AtomicRegistration, NotifierChain,
    Prepared, Registration, RegistrationOn, Verdict,
};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

/// Both kinds of chain, behind an `Arc`.
trait ArcChain: Send + Sync + 'static {
    type Owned: Send + Sync + 'static;
    fn new_arc() -> Arc<Self>;
    fn reg_arc(self: &Arc<Self>, p: Prepared<u32>) -> Self::Owned;
    fn call(&self, e: &u32) -> usize;
    /// A register and unregister made outside any call (reaps deferred
    /// removals on both kinds).
    fn reap(self: &Arc<Self>) {
        drop(self.reg_arc(Prepared::new(|_| Verdict::Continue, i32::MIN)));
    }
}

impl ArcChain for NotifierChain<u32> {
    type Owned = ArcRegistration<u32>;
    fn new_arc() -> Arc<Self> {
        Arc::new(NotifierChain::new())
    }
    fn reg_arc(self: &Arc<Self>, p: Prepared<u32>) -> Self::Owned {
        self.register_arc(p)
    }
    fn call(&self, e: &u32) -> usize {
        NotifierChain::call(self, e).called
    }
}

impl ArcChain for AtomicNotifierChain<u32> {
    type Owned = ArcAtomicRegistration<u32>;
    fn new_arc() -> Arc<Self> {
        Arc::new(AtomicNotifierChain::new())
    }
    fn reg_arc(self: &Arc<Self>, p: Prepared<u32>) -> Self::Owned {
        self.register_arc(p)
    }
    fn call(&self, e: &u32) -> usize {
        AtomicNotifierChain::call(self, e).called
    }
}

macro_rules! both_arc {
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

both_arc!(
    a_callback_unregisters_itself_through_an_arc_chain,
    a_registration_in_a_struct_outlives_the_arc_it_was_made_from,
    dropping_an_owned_registration_waits_for_the_running_callback,
);

/// The callback holds its own registration (an `Arc` of the chain, in a
/// slot) and drops it on its first call: never called again, freed by the
/// next writer, and the chain is freed once the test lets go of it.
fn a_callback_unregisters_itself_through_an_arc_chain<C: ArcChain>() {
    let _wd = watchdog("self-unregistering callback on an Arc chain");
    let chain = C::new_arc();
    let weak = Arc::downgrade(&chain);
    let token = Arc::new(());
    let me: Slot<C::Owned> = slot();
    let calls = Arc::new(AtomicUsize::new(0));
    let reg = {
        let (me, token, calls) = (me.clone(), token.clone(), calls.clone());
        chain.reg_arc(Prepared::new(
            move |_| {
                let _held = &token;
                calls.fetch_add(1, Ordering::Relaxed);
                assert!(take_and_drop(&me), "its registration was in the slot");
                Verdict::Continue
            },
            0,
        ))
    };
    *lock(&me) = Some(reg);
    assert_eq!(Arc::strong_count(&chain), 2, "the registration holds one");
    assert_eq!(chain.call(&PLAIN), 1);
    assert_eq!(Arc::strong_count(&chain), 1, "dropped inside the call");
    assert_eq!(chain.call(&PLAIN), 0, "not called again");
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    chain.reap();
    assert_eq!(Arc::strong_count(&token), 1, "the node is freed");
    drop(chain);
    assert!(weak.upgrade().is_none(), "the chain is freed");
}

/// What an object that subscribes keeps: its registration, no lifetime.
struct Subscriber<R> {
    _reg: R,
}

/// The struct keeps the chain alive after the `Arc` it was registered
/// through is dropped; dropping the struct unregisters and frees both.
fn a_registration_in_a_struct_outlives_the_arc_it_was_made_from<C: ArcChain>() {
    let token = Arc::new(());
    let (weak, sub) = {
        let chain = C::new_arc();
        let sub = Subscriber {
            _reg: chain.reg_arc(Prepared::new(step("s", Verdict::Continue, &token), 0)),
        };
        (Arc::downgrade(&chain), sub)
    };
    let chain = weak
        .upgrade()
        .expect("the registration keeps the chain alive");
    assert_eq!(chain.call(&PLAIN), 1);
    assert_eq!(take_log(), ["s:0"]);
    drop(chain);
    assert!(weak.upgrade().is_some());
    drop(sub);
    assert!(
        weak.upgrade().is_none(),
        "the last Arc was the registration's"
    );
    assert_eq!(Arc::strong_count(&token), 1, "the callback is freed");
}

/// A drop on another thread blocks while a call runs the callback, and
/// returns after it: then no call can run it (so its state may be freed).
fn dropping_an_owned_registration_waits_for_the_running_callback<C: ArcChain>() {
    let _wd = watchdog("owned registration's drop waiting for a call");
    let chain = C::new_arc();
    let running = Arc::new(AtomicBool::new(false));
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    let reg = {
        let running = running.clone();
        let entered_tx = std::sync::Mutex::new(entered_tx);
        chain.reg_arc(Prepared::new(
            move |_| {
                running.store(true, Ordering::SeqCst);
                let _ = lock(&entered_tx).send(());
                // Blocks the call (spinning on a channel: the atomic
                // chain's callbacks may not sleep on a validated lock).
                let rx = lock(&release_rx);
                while rx.try_recv().is_err() {
                    thread::yield_now();
                }
                running.store(false, Ordering::SeqCst);
                Verdict::Continue
            },
            0,
        ))
    };
    let caller = {
        let chain = chain.clone();
        thread::spawn(move || chain.call(&PLAIN))
    };
    entered_rx.recv().unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    let dropper = {
        let (dropped, running) = (dropped.clone(), running.clone());
        thread::spawn(move || {
            drop(reg);
            assert!(
                !running.load(Ordering::SeqCst),
                "drop returned while the callback ran"
            );
            dropped.store(true, Ordering::SeqCst);
        })
    };
    thread::sleep(Duration::from_millis(100));
    assert!(
        !dropped.load(Ordering::SeqCst),
        "drop returned while a call was running the callback"
    );
    release_tx.send(()).unwrap();
    dropper.join().unwrap();
    assert_eq!(caller.join().unwrap(), 1);
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(chain.call(&PLAIN), 0);
    assert_eq!(
        Arc::strong_count(&chain),
        1,
        "the registration's Arc is gone"
    );
}

/// The borrowed form, unchanged: on a local chain, `register` and
/// `subscribe` give registrations that borrow it.
#[test]
fn the_borrowed_form_still_works_on_both_chains() {
    let token = Arc::new(());
    let blocking = NotifierChain::<u32>::new();
    let atomic = AtomicNotifierChain::<u32>::new();
    let b: Registration<'_, u32> =
        blocking.register(blocking.prepare(step("b", Verdict::Continue, &token), 0));
    let a: AtomicRegistration<'_, u32> = atomic.subscribe(step("a", Verdict::Continue, &token), 0);
    // One type, generic over the handle.
    let _: &RegistrationOn<&NotifierChain<u32>> = &b;
    let _: &RegistrationOn<&AtomicNotifierChain<u32>> = &a;
    assert_eq!(blocking.call(&PLAIN).called + atomic.call(&PLAIN).called, 2);
    assert_eq!(take_log(), ["b:0", "a:0"]);
    b.unregister();
    drop(a);
    assert!(blocking.is_empty() && atomic.is_empty());
    assert_eq!(Arc::strong_count(&token), 1);
}
