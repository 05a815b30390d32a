//! tokio's poll hooks (`--cfg tokio_unstable`): every task of a hooked
//! runtime is tracked, however it was spawned. CI runs this binary with
//! `RUSTFLAGS="--cfg tokio_unstable"`; without it, it is empty.
#![cfg(all(
    not(loom),
    tokio_unstable,
    feature = "tokio",
    any(debug_assertions, feature = "lockdep")
))]

use kernsync_async::{rt, Mutex};
use kernsync_lockdep::{capture_all, ReportKind};
use std::sync::Arc;

fn hooked_runtime() -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2);
    rt::tokio::install_poll_hooks(&mut builder);
    builder.build().unwrap()
}

#[test]
fn plain_spawned_tasks_of_a_hooked_runtime_are_tracked() {
    let rt = hooked_runtime();
    let a = Arc::new(Mutex::named("hook_a", 0));
    let b = Arc::new(Mutex::named("hook_b", 0));
    let ((), reports) = capture_all(|| {
        rt.block_on(async {
            // Interleaved tasks holding one lock each across awaits: no
            // false edge between them.
            let mut joins = Vec::new();
            for i in 0..8 {
                let (a, b) = (a.clone(), b.clone());
                joins.push(tokio::spawn(async move {
                    if i % 2 == 0 {
                        let _a = a.lock().await;
                        tokio::task::yield_now().await;
                    } else {
                        let _b = b.lock().await;
                        tokio::task::yield_now().await;
                    }
                }));
            }
            for j in joins {
                j.await.unwrap();
            }
        })
    });
    assert!(reports.is_empty(), "{reports:?}");
    let ((), reports) = capture_all(|| {
        rt.block_on(async {
            let (a1, b1) = (a.clone(), b.clone());
            tokio::spawn(async move {
                let _a = a1.lock().await;
                tokio::task::yield_now().await;
                let _b = b1.lock().await;
            })
            .await
            .unwrap();
            let (a2, b2) = (a.clone(), b.clone());
            tokio::spawn(async move {
                let _b = b2.lock().await;
                tokio::task::yield_now().await;
                let _a = a2.lock().await;
            })
            .await
            .unwrap();
        })
    });
    assert_eq!(
        reports.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        [ReportKind::CircularDependency],
        "{reports:?}"
    );
}

#[test]
fn a_hooked_task_holding_a_sync_guard_across_an_await_is_reported() {
    let rt = hooked_runtime();
    // A thread-bound lock's validator handle, held the way a sync guard
    // holds it (the guards of kernsync's sync locks are not `Send`, so a
    // multi-thread runtime's task cannot hold one across an await at all).
    static SYNC: kernsync_lockdep::LockMap = kernsync_lockdep::LockMap::named("hook_sync");
    let ((), reports) = capture_all(|| {
        rt.block_on(async {
            tokio::spawn(async move {
                let held = SYNC.acquire(kernsync_lockdep::Mode::Write);
                tokio::task::yield_now().await;
                SYNC.release(held);
            })
            .await
            .unwrap();
        })
    });
    assert!(
        reports
            .iter()
            .any(|r| r.kind() == ReportKind::HeldAcrossAwait),
        "{reports:?}"
    );
}

#[test]
fn shutting_down_with_a_task_holding_an_async_guard() {
    let rt = hooked_runtime();
    // The runtime drops the idle task's future outside any poll hook.
    let a = Arc::new(Mutex::named("hook_shutdown", 0));
    let ((), reports) = capture_all(|| {
        let a1 = a.clone();
        rt.block_on(async move {
            let (tx, rx) = tokio::sync::oneshot::channel();
            tokio::spawn(async move {
                let _a = a1.lock().await;
                tx.send(()).unwrap();
                std::future::pending::<()>().await;
            });
            rx.await.unwrap();
        });
        assert!(a.try_lock().is_none(), "the task holds it");
        drop(rt);
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert!(a.try_lock().is_some());
}
