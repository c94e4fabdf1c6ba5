//! The `xelion-cti` command line: a thin layer over the library.

use clap::{Parser, Subcommand};
use xelion_cti::cli;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Connects the Xelion cloud PBX to CRMs.
#[derive(Parser)]
#[command(name = "xelion-cti", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Try it: the simulators and the server in one process, calls placed every few seconds.
    Demo(cli::demo::DemoArgs),
    /// Measure the server against the simulators: throughput, latency, idle tenants, and a
    /// minimal forwarder as the floor; a table, or JSON with --json.
    Bench(Box<cli::bench::BenchArgs>),
    /// Run the server (admin API, tenants, deliveries).
    Serve(Box<xelion_cti::config::ServeArgs>),
    /// Create or upgrade the database schema, then exit.
    Migrate(xelion_cti::config::MigrateArgs),
    /// Run the Xelion and CRM simulators as a standalone process.
    Sim(cli::sim::SimArgs),
    /// Evaluate EL templates from the command line.
    El(cli::el::ElArgs),
}

fn main() -> std::process::ExitCode {
    let args = Cli::parse();
    let result = match args.command {
        Command::Demo(a) => cli::demo::run(a),
        Command::Bench(a) => cli::bench::run(*a),
        Command::Serve(a) => cli::serve::serve(*a),
        Command::Migrate(a) => cli::serve::migrate(a.into()),
        Command::Sim(a) => cli::sim::run(a),
        Command::El(a) => cli::el::run(a),
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            xelion_cti::logging::stderr_line(&format!("error: {e:#}"));
            std::process::ExitCode::FAILURE
        }
    };
    xelion_cti::logging::flush(std::time::Duration::from_secs(1));
    code
}
