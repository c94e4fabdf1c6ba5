//! `xelion-cti sim`: the simulators as a standalone process.

use std::process::ExitCode;

/// Arguments of `xelion-cti sim`.
#[derive(clap::Args)]
pub struct SimArgs {}

/// Runs the subcommand.
pub fn run(_args: SimArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
