//! parking_lot 0.12.5's `src/rwlock.rs` test module(s), extracted by build.rs.
#![allow(dead_code, unused_imports, clippy::all)]
include!(concat!(env!("OUT_DIR"), "/src_rwlock.rs"));
