//! `RwSem`: the behaviours tokio's `RwLock` tests and async-lock's rwlock
//! tests check (readers share, writers exclude, FIFO fairness with a
//! waiting writer blocking later readers, try forms, cancellation, owned
//! guards across tasks, upgradable reads, downgrades waking readers, mapped
//! guards, blocking forms from plain threads), re-expressed against
//! kernsync's task-fair semaphore with hand-polled futures.
#![cfg(not(loom))]

mod common;

use common::{runtime, Task};
use kernsync_async::{
    block_on, MappedRwSemWriteGuard, OwnedRwSemUpgradableReadGuard, OwnedRwSemWriteGuard, RwSem,
    RwSemReadGuard, RwSemUpgradableReadGuard, RwSemWriteGuard,
};
use std::sync::Arc;

#[test]
fn readers_share_and_writers_exclude() {
    let l = RwSem::new(1);
    let r1 = block_on(l.read());
    let r2 = l.try_read().expect("readers share");
    assert!(l.try_write().is_none());
    let mut w = Task::new(l.write());
    w.pending();
    drop(r1);
    assert_eq!(w.wakes(), 0, "one reader is still in");
    drop(r2);
    assert_eq!(w.wakes(), 1);
    let mut g = w.ready();
    *g += 1;
    assert!(l.try_read().is_none());
    assert!(l.try_write().is_none());
    assert!(l.try_upgradable_read().is_none());
    drop(g);
    assert_eq!(*l.try_read().unwrap(), 2);
}

#[test]
fn a_waiting_writer_blocks_later_readers() {
    let l = RwSem::new(0);
    let r1 = block_on(l.read());
    let mut w = Task::new(l.write());
    w.pending();
    let mut r2 = Task::new(l.read());
    r2.pending(); // behind the writer, though only readers hold the lock
    assert!(l.try_read().is_none(), "try_read does not pass the writer");
    drop(r1);
    assert_eq!((w.wakes(), r2.wakes()), (1, 0));
    let g = w.ready();
    r2.pending();
    drop(g);
    assert_eq!(r2.wakes(), 1);
    drop(r2.ready());
}

/// A writer woken by the last reader's release may find a reader got in
/// first (the woken window); it waits again at the front, still ahead of
/// readers that queue meanwhile, and the next release wakes it again.
#[test]
fn a_woken_writer_that_loses_the_race_keeps_its_place() {
    for _ in 0..10 {
        let l = RwSem::new(0);
        let r1 = block_on(l.read());
        let mut w = Task::new(l.write());
        w.pending();
        drop(r1); // wakes the writer
        assert_eq!(w.wakes(), 1);
        let Some(barger) = l.try_read() else {
            drop(w.ready()); // handed over: it had waited 0.5 ms
            continue;
        };
        w.pending(); // lost: parked at the front again
        let mut late = Task::new(l.read());
        late.pending(); // behind the parked writer
        assert!(l.try_read().is_none(), "a parked writer bars readers");
        drop(barger);
        assert_eq!((w.wakes(), late.wakes()), (2, 0));
        let g = w.ready();
        late.pending();
        drop(g);
        assert_eq!(late.wakes(), 1);
        drop(late.ready());
        return;
    }
    panic!("the rwsem was never up for grabs after a release");
}

#[test]
fn readers_queued_together_are_all_let_in_up_to_the_next_writer() {
    let l = RwSem::new(0);
    let w0 = block_on(l.write());
    let mut readers: Vec<_> = (0..20).map(|_| Task::new(l.read())).collect();
    let mut w = Task::new(l.write());
    let mut late = Task::new(l.read());
    readers.iter_mut().for_each(Task::pending);
    w.pending();
    late.pending();
    drop(w0);
    let guards: Vec<_> = readers.iter_mut().map(Task::ready).collect();
    assert_eq!(w.wakes(), 0);
    late.pending();
    drop(guards);
    drop(w.ready());
    drop(late.ready());
}

#[test]
fn a_cancelled_waiting_writer_lets_the_readers_behind_it_in() {
    let l = RwSem::new(0);
    let r1 = block_on(l.read());
    let mut w = Task::new(l.write());
    let mut r2 = Task::new(l.read());
    w.pending();
    r2.pending();
    w.cancel(); // the head that blocked r2 leaves: r2 is granted at once
    assert_eq!(r2.wakes(), 1);
    let g = r2.ready();
    drop((r1, g));
    assert!(l.try_write().is_some());
}

#[test]
fn a_writer_granted_then_dropped_hands_on_to_the_readers() {
    let l = RwSem::new(0);
    let w0 = block_on(l.write());
    let mut w = Task::new(l.write());
    let mut r = Task::new(l.read());
    w.pending();
    r.pending();
    drop(w0); // wakes `w` (or grants it the lock)
    assert_eq!((w.wakes(), r.wakes()), (1, 0));
    w.cancel();
    assert_eq!(r.wakes(), 1);
    drop(r.ready());
    assert!(l.try_write().is_some(), "no permit was lost");
}

#[test]
fn downgrade_wakes_the_readers_and_keeps_writers_out() {
    let l = RwSem::new(0);
    let mut g = block_on(l.write());
    *g = 1;
    let mut r = Task::new(l.read());
    let mut w = Task::new(l.write());
    r.pending();
    w.pending();
    let read = RwSemWriteGuard::downgrade(g);
    assert_eq!(r.wakes(), 1, "downgrade wakes the waiting reader");
    let r = r.ready();
    assert_eq!((*read, *r), (1, 1));
    w.pending();
    drop(read);
    assert_eq!(w.wakes(), 0);
    drop(r);
    drop(w.ready());
}

#[test]
fn only_one_upgradable_read_at_a_time_beside_readers() {
    let l = RwSem::new(0);
    let up = block_on(l.upgradable_read());
    let r = l.try_read().expect("a reader beside the upgradable read");
    assert!(l.try_upgradable_read().is_none());
    assert!(l.try_write().is_none());
    let mut up2 = Task::new(l.upgradable_read());
    up2.pending();
    drop(r);
    up2.pending();
    drop(up);
    drop(up2.ready());
}

#[test]
fn upgrade_waits_for_readers_ahead_of_every_waiter() {
    let l = RwSem::new(0);
    let up = block_on(l.upgradable_read());
    let r = block_on(l.read());
    let mut w = Task::new(l.write());
    w.pending(); // waits for both
    let mut upgrade = Task::new(RwSemUpgradableReadGuard::upgrade(up));
    upgrade.pending(); // waits for `r`, queued ahead of `w`
    let mut late = Task::new(l.read());
    late.pending(); // behind the waiters
    drop(r);
    assert_eq!((upgrade.wakes(), w.wakes()), (1, 0));
    let mut g = upgrade.ready();
    *g = 5;
    let read = RwSemWriteGuard::downgrade(g);
    assert_eq!(*read, 5);
    late.pending(); // still behind the waiting writer
    drop(read);
    drop(w.ready());
    drop(late.ready());
}

#[test]
fn dropping_an_upgrade_future_releases_the_upgradable_read() {
    let l = RwSem::new(0);
    let up = block_on(l.upgradable_read());
    let r = block_on(l.read());
    let mut upgrade = Task::new(RwSemUpgradableReadGuard::upgrade(up));
    upgrade.pending();
    let mut up2 = Task::new(l.upgradable_read());
    up2.pending();
    upgrade.cancel();
    assert_eq!(up2.wakes(), 1);
    let up2 = up2.ready();
    drop((r, up2));
    assert!(l.try_write().is_some());
}

#[test]
fn try_upgrade_and_the_downgrades() {
    let l = RwSem::new(0);
    let up = block_on(l.upgradable_read());
    let r = block_on(l.read());
    let up = RwSemUpgradableReadGuard::try_upgrade(up).unwrap_err();
    drop(r);
    let mut w = RwSemUpgradableReadGuard::try_upgrade(up).ok().unwrap();
    *w = 3;
    let up = RwSemWriteGuard::downgrade_to_upgradable(w);
    assert!(l.try_read().is_some());
    assert!(l.try_upgradable_read().is_none());
    let r = RwSemUpgradableReadGuard::downgrade(up);
    let up2 = l
        .try_upgradable_read()
        .expect("the upgradable slot is free again");
    assert_eq!((*r, *up2), (3, 3));
    assert_eq!(
        RwSemUpgradableReadGuard::rwsem(&up2) as *const _,
        &l as *const _
    );
}

#[test]
fn guards_map_to_a_part() {
    let l = RwSem::new((1, vec![2, 3]));
    let r = RwSemReadGuard::map(block_on(l.read()), |v| &v.1);
    let r = RwSemReadGuard::try_map(r, |v| v.get(9)).unwrap_err();
    let first = RwSemReadGuard::try_map(r, |v| v.first()).unwrap();
    assert_eq!(*first, 2);
    assert!(l.try_write().is_none());
    drop(first);
    let w = RwSemWriteGuard::map(block_on(l.write()), |v| &mut v.1);
    let mut w = MappedRwSemWriteGuard::map(w, |v| &mut v[0]);
    *w = 7;
    assert!(l.try_read().is_none());
    drop(w);
    let w = RwSemWriteGuard::try_map(block_on(l.write()), |_| None::<&mut u8>).unwrap_err();
    let w = RwSemWriteGuard::try_map(w, |v| Some(&mut v.0)).unwrap();
    let w = MappedRwSemWriteGuard::try_map(w, |_| None::<&mut u8>).unwrap_err();
    assert_eq!(*w, 1);
    drop(w);
    assert_eq!(l.into_inner(), (1, vec![7, 3]));
}

#[test]
fn owned_guards_cross_spawned_tasks() {
    let rt = runtime(2);
    rt.block_on(async {
        let l = Arc::new(RwSem::new(0u32));
        let w = l.clone().write_owned().await;
        let reader = {
            let l = l.clone();
            tokio::spawn(async move { *l.read_owned().await })
        };
        let writer = tokio::spawn(async move {
            let mut w = w; // moved into this task
            tokio::task::yield_now().await;
            *w = 9;
            let r = OwnedRwSemWriteGuard::downgrade(w);
            *r
        });
        assert_eq!(writer.await.unwrap(), 9);
        assert_eq!(reader.await.unwrap(), 9);
        let up = l.clone().upgradable_read_owned().await;
        let mut w = OwnedRwSemUpgradableReadGuard::upgrade(up).await;
        *w += 1;
        let up = OwnedRwSemWriteGuard::downgrade_to_upgradable(w);
        assert!(l.try_read_owned().is_some());
        assert!(l.try_upgradable_read_owned().is_none());
        let w = OwnedRwSemUpgradableReadGuard::try_upgrade(up).ok().unwrap();
        assert!(l.try_write_owned().is_none());
        let r = OwnedRwSemUpgradableReadGuard::downgrade(
            OwnedRwSemWriteGuard::downgrade_to_upgradable(w),
        );
        assert_eq!(*r, 10);
        drop(r);
        assert!(l.try_write_owned().is_some());
    });
}

#[test]
fn blocking_reads_and_writes_from_plain_threads() {
    let l = Arc::new(RwSem::new(0));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let l = l.clone();
            std::thread::spawn(move || {
                for _ in 0..100 {
                    if i % 2 == 0 {
                        *l.blocking_write() += 1;
                    } else {
                        let r = l.blocking_read();
                        assert!(*r <= 200);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*l.blocking_read(), 200);
}

#[test]
fn get_mut_default_from_debug_and_unsized() {
    let mut l: RwSem<Vec<u8>> = RwSem::default();
    l.get_mut().push(4);
    assert_eq!(format!("{l:?}"), "RwSem { data: [4] }");
    let w = l.try_write().unwrap();
    assert_eq!(format!("{l:?}"), "RwSem { data: <locked> }");
    assert_eq!(format!("{w:?}"), "[4]");
    drop(w);
    let r = l.try_read().unwrap();
    assert_eq!(
        format!("{l:?}"),
        "RwSem { data: [4] }",
        "readers do not hide the data"
    );
    drop(r);
    assert_eq!(format!("{}", RwSem::from(2).try_read().unwrap()), "2");
    let b: Box<RwSem<[u8]>> = Box::new(RwSem::new([1u8, 2]));
    assert_eq!(block_on(b.read()).len(), 2);
}

static GLOBAL: RwSem<u32> = RwSem::named("global config", 1);

#[test]
fn an_rwsem_can_be_a_static() {
    assert_eq!(*block_on(GLOBAL.read()), 1);
    *GLOBAL.blocking_write() += 1;
    assert_eq!(*GLOBAL.blocking_read(), 2);
}

#[test]
fn guards_and_futures_have_the_auto_traits_of_tokios() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    fn unpin<T: Unpin>() {}
    send::<RwSemReadGuard<'static, u8>>();
    sync::<RwSemReadGuard<'static, u8>>();
    send::<RwSemWriteGuard<'static, u8>>();
    send::<RwSemUpgradableReadGuard<'static, u8>>();
    send::<kernsync_async::OwnedRwSemReadGuard<u8>>();
    send::<kernsync_async::UpgradeFuture<'static, u8>>();
    send::<kernsync_async::WriteOwnedFuture<u8>>();
    unpin::<kernsync_async::ReadFuture<'static, u8>>();
    unpin::<kernsync_async::UpgradeOwnedFuture<u8>>();
}
