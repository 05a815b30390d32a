//! With `CheckedAlloc` as the global allocator, `register` raises no
//! allocation report: its linking runs inside the validator's `no_alloc`
//! and allocates nothing. CI also builds the crate with
//! `--cfg kernsync_mutant_alloc_in_register`, a mutation that allocates while
//! linking, and there this test expects the allocation-under-no-alloc report:
//! proof that a regression would be caught, not just that none happened.
#![cfg(all(not(loom), any(debug_assertions, feature = "lockdep")))]

use kernsync_lockdep::{capture, CheckedAlloc, ReportKind};
use kernsync_notifier::{AtomicNotifierChain, NotifierChain, Verdict};
use std::alloc::System;

#[global_allocator]
static ALLOC: CheckedAlloc<System> = CheckedAlloc::new(System);

/// What `register` must report: nothing, or in the mutant the allocation.
fn expected() -> Vec<ReportKind> {
    if cfg!(kernsync_mutant_alloc_in_register) {
        vec![ReportKind::AllocUnderNoAlloc]
    } else {
        vec![]
    }
}

#[test]
fn register_on_a_blocking_chain_raises_no_allocation_report() {
    let chain = NotifierChain::new();
    let p = chain.prepare(|_: &u32| Verdict::Continue, 0);
    let (reg, reports) = capture(|| chain.register(p));
    let kinds: Vec<_> = reports.iter().map(|r| r.kind()).collect();
    assert_eq!(kinds, expected(), "{reports:?}");
    assert_eq!(chain.call(&0).called, 1);
    drop(reg);
}

#[test]
fn register_on_an_atomic_chain_raises_no_allocation_report() {
    let chain = AtomicNotifierChain::new();
    let p = chain.prepare(|_: &u32| Verdict::Continue, 0);
    let (reg, reports) = capture(|| chain.register(p));
    let kinds: Vec<_> = reports.iter().map(|r| r.kind()).collect();
    assert_eq!(kinds, expected(), "{reports:?}");
    drop(reg);
}
