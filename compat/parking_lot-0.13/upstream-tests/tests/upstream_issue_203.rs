//! parking_lot 0.13.0's `tests/issue_203.rs` against the shim, copied into
//! OUT_DIR by build.rs (nothing of upstream is committed).
#![allow(unused_imports, dead_code, clippy::all)]
include!(concat!(env!("OUT_DIR"), "/tests_issue_203.rs"));
