//! parking_lot 0.12.5's own tests, extracted at build time from the pinned
//! registry source and run against the kernsync shim. Nothing here but the
//! test targets under `tests/`; see `build.rs` and the shim's README for
//! what is extracted, how it is rewritten, and what is excluded and why.
