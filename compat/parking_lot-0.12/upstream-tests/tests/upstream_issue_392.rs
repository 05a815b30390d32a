//! parking_lot 0.12.5's `tests/issue_392.rs`, extracted by build.rs.
#![allow(dead_code, unused_imports, clippy::all)]
include!(concat!(env!("OUT_DIR"), "/tests_issue_392.rs"));
