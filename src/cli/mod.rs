//! Subcommands of the `xelion-cti` binary, one module each.

pub mod el;
pub mod serve;
pub mod sim;
