//! Empty: this package exists for its tests (parking_lot 0.13.0's own,
//! extracted at build time by `build.rs`; see the README beside it).
