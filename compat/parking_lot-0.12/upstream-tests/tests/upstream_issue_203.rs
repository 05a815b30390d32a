//! parking_lot 0.12.5's `tests/issue_203.rs`, extracted by build.rs.
#![allow(dead_code, unused_imports, clippy::all)]
include!(concat!(env!("OUT_DIR"), "/tests_issue_203.rs"));
