//! `xelion-cti sim`: the simulators as a standalone process.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use cti_sim::{Sim, SimConfig};

use crate::cli::shutdown_signal;

/// Arguments of `xelion-cti sim`.
#[derive(clap::Args)]
pub struct SimArgs {
    /// Address of the Xelion simulator (REST, websocket and control API).
    #[arg(long, env = "XCTI_SIM_XELION_LISTEN", default_value = "127.0.0.1:9001")]
    pub xelion_listen: SocketAddr,
    /// Address of the CRM simulator (token endpoint, resource server and control API).
    #[arg(long, env = "XCTI_SIM_CRM_LISTEN", default_value = "127.0.0.1:9002")]
    pub crm_listen: SocketAddr,
    /// Start with no tenant, user, OAuth client or token (create them with the control API).
    #[arg(long)]
    pub empty: bool,
    /// Lifetime of Xelion sessions (validUntil), in seconds.
    #[arg(long, default_value_t = 3600)]
    pub session_lifetime: u64,
    /// Lifetime of CRM access tokens (expires_in), in seconds.
    #[arg(long, default_value_t = 3600)]
    pub access_token_lifetime: u64,
    /// Replace the refresh token on every refresh_token grant.
    #[arg(long)]
    pub rotate_refresh_tokens: bool,
    /// JSON log lines instead of text (`RUST_LOG` filters, default `info`), as for `serve`.
    #[arg(long, env = "XCTI_LOG_JSON")]
    pub log_json: Option<bool>,
}

/// Runs the subcommand until Ctrl-C (or SIGTERM).
pub fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    crate::logging::init(args.log_json.unwrap_or(false));
    let base = if args.empty {
        SimConfig::empty()
    } else {
        SimConfig::default()
    };
    let config = SimConfig {
        xelion_listen: args.xelion_listen,
        crm_listen: args.crm_listen,
        session_lifetime: Duration::from_secs(args.session_lifetime),
        access_token_lifetime: Duration::from_secs(args.access_token_lifetime),
        rotate_refresh_tokens: args.rotate_refresh_tokens,
        ..base
    };
    let sim = Sim::start(config).with_context(|| {
        format!(
            "starting the simulators on {} and {}",
            args.xelion_listen, args.crm_listen
        )
    })?;
    let x = sim.xelion_url();
    let c = sim.crm_url();
    crate::logging::stdout_line(&format!(
        "Xelion simulator: {x}   REST: {x}/api/v1/<tenant>/   control: {x}/_sim/"
    ));
    crate::logging::stdout_line(&format!(
        "CRM simulator:    {c}   token endpoint: {c}/oauth2/token   control: {c}/_sim/"
    ));
    if !args.empty {
        crate::logging::stdout_line(
            "Tenant `master`: admin/admin (administrator), alice/alice, bob/bob",
        );
        crate::logging::stdout_line("OAuth client demo-client/demo-secret; refresh tokens refresh-alice (alice), refresh-bob (bob)");
    }
    crate::logging::stdout_line("Press Ctrl-C to stop.");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a runtime to wait for Ctrl-C")?;
    runtime.block_on(shutdown_signal())?;
    sim.stop();
    Ok(ExitCode::SUCCESS)
}
