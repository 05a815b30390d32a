//! An ABBA between two async tasks that never ran at the same time, found.
//!
//! Task "flush" takes the `journal` lock, awaits, then takes `index`; task
//! "compact", run only after "flush" has finished, takes `index`, awaits, then
//! `journal`. The two never overlap, so nothing hangs, yet two tasks running
//! them concurrently could. Both are tracked (`tracked_named`): each owns its
//! held locks across its awaits, so the validator records `journal -> index`
//! from the first and reports the cycle at the second's `journal.lock()`.
//!
//! The executor is a loop polling one future with a no-op waker: the locks
//! speak only `core::task::Waker`, and tracking needs no runtime.
//!
//! Run: `cargo run --example async_tasks` (prints the report, exits 0).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use kernsync::future::{tracked_named, Mutex};
use kernsync::lockdep::capture;

/// Returns `Pending` once, then `Ready`: an `.await` where another task
/// could run.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|_| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            Poll::Pending
        }
    })
    .await
}

/// Polls `fut` on this thread until it is done: the whole executor.
fn run<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn main() {
    let journal = Mutex::named("journal", Vec::<String>::new());
    let index = Mutex::named("index", 0_u64);

    let ((), reports) = capture(|| {
        run(tracked_named("flush", async {
            let mut journal = journal.lock().await;
            journal.push("entry".to_owned());
            yield_now().await; // `journal` stays held: the task's, not the thread's
            *index.lock().await += 1; // journal -> index
        }));
        // Later, never overlapping the first task.
        run(tracked_named("compact", async {
            let mut index = index.lock().await;
            yield_now().await;
            let journal = journal.lock().await; // index -> journal: reported here
            *index = journal.len() as u64;
        }));
    });

    if !kernsync::lockdep::COMPILED_IN {
        println!("validation is compiled out (release build without the `lockdep` feature)");
        return;
    }
    for report in &reports {
        println!("{report}");
    }
    println!(
        "{} report(s), raised in task {:?}",
        reports.len(),
        reports.first().and_then(|r| r.task())
    );
}
