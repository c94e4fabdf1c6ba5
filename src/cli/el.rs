//! `xelion-cti el`: evaluate templates from the command line.

use std::process::ExitCode;

/// Arguments of `xelion-cti el`.
#[derive(clap::Args)]
pub struct ElArgs {}

/// Runs the subcommand.
pub fn run(_args: ElArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
