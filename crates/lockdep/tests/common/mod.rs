//! Helpers shared by several test binaries of this crate. Each binary uses
//! a part of them, hence the `dead_code` allowances.

#[allow(dead_code)]
pub mod misuse;
#[allow(dead_code)]
pub mod model;
