//! Placeholder replaced by the validator-overhead benchmark.
fn main() {}
