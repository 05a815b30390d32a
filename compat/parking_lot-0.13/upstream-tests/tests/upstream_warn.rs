//! parking_lot 0.13.0's tests whose lock order kernsync's validator rightly
//! reports (listed in build.rs's `WARN` and the README), extracted by
//! build.rs. Run with `KERNSYNC_LOCKDEP=warn cargo test --test upstream_warn`
//! (ci.sh does): the report is printed and the test still checks the locks.
#![allow(unused_imports, dead_code, clippy::all)]
include!(concat!(env!("OUT_DIR"), "/warn_rwlock.rs"));
