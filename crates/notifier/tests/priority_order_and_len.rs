//! The order callbacks run in and what `len` counts: equal priorities keep
//! registration order across unregister and re-register, `len` does not
//! count deferred removals, and unsized events with extreme priorities.
#![cfg(not(loom))]

mod common;

use common::*;
use kernsync_notifier::{AtomicNotifierChain, Ended, NotifierChain, Verdict};
use std::sync::{Arc, Mutex};

both!(
    equal_priorities_keep_registration_order_across_unregister_and_reregister,
    len_does_not_count_deferred_removals,
);

// ---------------------------------------------------------------------------
// Order, len, leaks
// ---------------------------------------------------------------------------

fn equal_priorities_keep_registration_order_across_unregister_and_reregister<C: Chain>() {
    let chain = C::leaked();
    let token = Arc::new(());
    let c_slot: Slot<C::Reg> = slot();
    let h = {
        let (c_slot, token) = (c_slot.clone(), token.clone());
        chain.sub(
            move |e: &u32| {
                let _held = &token;
                log(format!("h:{e}"));
                if *e == 9 {
                    take_and_drop(&c_slot);
                }
                Verdict::Continue
            },
            5,
        )
    };
    let a = chain.sub(step("a", Verdict::Continue, &token), 0);
    let b = chain.sub(step("b", Verdict::Continue, &token), 0);
    *lock(&c_slot) = Some(chain.sub(step("c", Verdict::Continue, &token), 0));
    let l = chain.sub(step("l", Verdict::Continue, &token), -5);
    chain.call(&PLAIN);
    assert_eq!(take_log(), ["h:0", "a:0", "b:0", "c:0", "l:0"]);

    drop(b);
    let d = chain.sub(step("d", Verdict::Continue, &token), 0);
    let b2 = chain.sub(step("b", Verdict::Continue, &token), 0);
    chain.call(&PLAIN);
    assert_eq!(take_log(), ["h:0", "a:0", "c:0", "d:0", "b:0", "l:0"]);

    // `c` removed from inside a call (deferred, maybe still linked), then a
    // new equal-priority registration: it goes last among the zeros.
    chain.call(&9);
    take_log();
    let e = chain.sub(step("e", Verdict::Continue, &token), 0);
    let first = chain.sub(step("first", Verdict::Continue, &token), 0);
    chain.call(&PLAIN);
    assert_eq!(
        take_log(),
        ["h:0", "a:0", "d:0", "b:0", "e:0", "first:0", "l:0"]
    );
    drop((h, a, d, b2, l, e, first));
    chain.reap();
    assert_eq!(Arc::strong_count(&token), 1);
}

fn len_does_not_count_deferred_removals<C: Chain>() {
    let chain = C::leaked();
    let token = Arc::new(());
    let slots: [Slot<C::Reg>; 3] = [slot(), slot(), slot()];
    let len_inside = Arc::new(Mutex::new(Vec::new()));
    for (i, s) in slots.iter().enumerate() {
        let (all, token, len_inside) = (slots.clone(), token.clone(), len_inside.clone());
        *lock(s) = Some(chain.sub(
            move |e: &u32| {
                let _held = &token;
                // On event 5 the first callback removes itself and the last.
                if *e == 5 && i == 0 {
                    take_and_drop(&all[0]);
                    if C::LEN_INSIDE_CALL {
                        lock(&len_inside).push(chain.len());
                    }
                    take_and_drop(&all[2]);
                    if C::LEN_INSIDE_CALL {
                        lock(&len_inside).push(chain.len());
                    }
                }
                Verdict::Continue
            },
            10 - i as i32,
        ));
    }
    assert_eq!(chain.len(), 3);
    chain.call(&5);
    if C::LEN_INSIDE_CALL {
        assert_eq!(*lock(&len_inside), [2, 1], "exact inside the call too");
    }
    assert_eq!(chain.len(), 1, "deferred removals are not counted");
    assert!(!chain.is_empty_());
    assert_eq!(chain.call(&PLAIN).called, 1);
    chain.reap();
    assert_eq!(chain.len(), 1);
    take_and_drop(&slots[1]);
    assert_eq!(chain.len(), 0);
    assert!(chain.is_empty_());
    assert_eq!(Arc::strong_count(&token), 1);
}

#[test]
fn unsized_events_and_extreme_priorities() {
    let chain = NotifierChain::<str>::new();
    let atomic = AtomicNotifierChain::<[u8]>::new();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let rec = |name: &'static str| {
        let seen = seen.clone();
        move |e: &str| {
            lock(&seen).push(format!("{name}:{e}"));
            if e == "up" && name == "min" {
                Verdict::Fail(-2)
            } else {
                Verdict::Continue
            }
        }
    };
    let _r = [
        chain.subscribe(rec("zero"), 0),
        chain.subscribe(rec("min"), i32::MIN),
        chain.subscribe(rec("max"), i32::MAX),
        chain.subscribe(rec("max2"), i32::MAX),
    ];
    let out = chain.call_robust("up", "down");
    assert_eq!(out.error(), Some(-2));
    assert_eq!(
        *lock(&seen),
        [
            "max:up",
            "max2:up",
            "zero:up",
            "min:up",
            "zero:down",
            "max2:down",
            "max:down"
        ]
    );
    let _a = atomic.subscribe(
        |e: &[u8]| {
            if e.is_empty() {
                Verdict::Stop
            } else {
                Verdict::Continue
            }
        },
        0,
    );
    let _b = atomic.subscribe(|_: &[u8]| Verdict::Fail(-1), i32::MIN);
    assert_eq!(atomic.call(&[][..]).ended, Ended::Stopped);
    assert_eq!(atomic.call_robust(&[1u8, 2][..], &[][..]).error(), Some(-1));
}
