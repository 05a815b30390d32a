//! A watchdog for scenarios that could hang: `bounded` runs one on its own
//! thread and fails the test with a message instead of hanging CI.

use std::panic::resume_unwind;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long a scenario may run before it counts as hung.
pub const LIMIT: Duration = Duration::from_secs(20);

/// Runs `f` on its own thread and fails (instead of hanging) if it does not
/// finish within [`LIMIT`]; a panic inside `f` is passed on.
pub fn bounded(what: &'static str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel::<()>();
    let t = thread::Builder::new()
        .name(what.into())
        .spawn(move || {
            f();
            let _ = tx.send(());
        })
        .unwrap();
    match rx.recv_timeout(LIMIT) {
        Ok(()) => t.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(e) = t.join() {
                resume_unwind(e)
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: still running after {LIMIT:?} (hung)")
        }
    }
}
