//! parking_lot 0.13.0's `src/mutex.rs` tests against the shim, extracted by
//! build.rs (nothing of upstream is committed).
#![allow(unused_imports, dead_code, clippy::all)]
include!(concat!(env!("OUT_DIR"), "/src_mutex.rs"));
