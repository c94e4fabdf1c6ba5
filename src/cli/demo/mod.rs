//! `xelion-cti demo`: the simulators and the server in one process, on a SQLite database in
//! a temporary directory, with the CTI API document's example integration created through the
//! public API and calls of every kind placed every few seconds. Each call's events and the
//! CRM requests they became are printed as they happen.

mod setup;
mod show;

pub(crate) use setup::TempDir;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cti_sim::api::{NewCall, Scenario};
use cti_sim::{Control, Sim, SimConfig};

use crate::app::Application;
use crate::cli::shutdown_signal;

/// Arguments of `xelion-cti demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Address of the server's HTTP API (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Stop after this many calls (once their CRM requests have arrived); default: until Ctrl-C.
    #[arg(long)]
    pub calls: Option<u64>,
    /// Seconds between two calls.
    #[arg(long, default_value_t = 3.0)]
    pub interval: f64,
}

/// The calls placed in turn: (what it is, from, to, scenario, transfer target).
const CALLS: [(&str, &str, &str, Scenario, Option<&str>); 4] = [
    (
        "answered",
        "+31612345678",
        "alice",
        Scenario::Answered,
        None,
    ),
    ("missed", "+31687654321", "bob", Scenario::Missed, None),
    (
        "outgoing",
        "alice",
        "+31201112233",
        Scenario::Answered,
        None,
    ),
    (
        "transferred",
        "+31655501234",
        "bob",
        Scenario::Transfer,
        Some("alice"),
    ),
];

/// How long `--calls N` waits for the last call's CRM requests.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

/// Runs the demo until Ctrl-C, or until `--calls` calls have been delivered.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    if !(args.interval.is_finite() && args.interval >= 0.0) {
        anyhow::bail!("--interval must be a number of seconds, 0 or more");
    }
    // The demo's own output is the show; the server logs only warnings unless RUST_LOG says.
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "warn");
    }
    crate::logging::init(false);
    let dir = setup::TempDir::new()?;
    let sim = Sim::start(SimConfig::default()).context("starting the simulators")?;
    let settings = setup::settings(&dir, args.listen);
    let result = actix_web::rt::System::new().block_on(async {
        let app = Application::build(settings).await?;
        let url = format!("http://{}", app.addr());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = actix_web::rt::spawn(app.run_until(async {
            let _ = stop_rx.await;
        }));
        let control = sim.control();
        let shown = tokio::select! {
            r = demo(&url, &sim, &control, &args) => r,
            r = shutdown_signal() => {
                println!("\nStopping.");
                r
            }
        };
        let _ = stop_tx.send(());
        server
            .await
            .context("the server task failed")?
            .context("the server failed")?;
        shown
    });
    sim.stop();
    drop(dir);
    result.map(|()| ExitCode::SUCCESS)
}

/// Creates the integration, waits for the socket, then places calls and prints what happens.
async fn demo(
    url: &str,
    sim: &cti_sim::SimHandle,
    control: &Control,
    args: &DemoArgs,
) -> anyhow::Result<()> {
    let api = setup::Api::new(url);
    let host = sim.xelion_addr().to_string();
    let created = api
        .create_integration(&host, &sim.token_url(), &sim.crm_url())
        .await?;
    let token = api.login(&host).await?;
    show::banner(
        url,
        created,
        &host,
        &sim.xelion_url(),
        &sim.crm_url(),
        &token,
    );
    let status = api.wait_subscribed(created, &token).await?;
    show::subscribed(&status);

    let mut printer = show::CrmPrinter::default();
    let mut placed = 0u64;
    let mut expected_events = 0u64;
    let mapped: BTreeSet<String> = status["subscribedEvents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let interval = Duration::from_secs_f64(args.interval);
    let mut next_call = Instant::now();
    loop {
        if args.calls.is_none_or(|n| placed < n) && Instant::now() >= next_call {
            let (kind, from, to, scenario, transfer_to) = CALLS[(placed % 4) as usize];
            let call = NewCall {
                transfer_to: transfer_to.map(String::from),
                ..NewCall::new(from, to, scenario)
            };
            let done = control
                .place_call("master", &call)
                .await
                .context("placing a call in the Xelion simulator")?;
            placed += 1;
            show::call(placed, kind, &call, &done);
            expected_events += done
                .events
                .iter()
                .filter(|f| {
                    f["notificationType"]
                        .as_str()
                        .is_some_and(|t| mapped.contains(t))
                })
                .count() as u64;
            next_call = Instant::now() + interval;
        }
        printer.poll(control).await?;
        if args.calls.is_some_and(|n| placed >= n) {
            let deadline = Instant::now() + SETTLE_LIMIT;
            loop {
                printer.poll(control).await?;
                if api
                    .settled(created, &token, expected_events, printer.seen())
                    .await?
                {
                    show::summary(placed, printer.seen());
                    return Ok(());
                }
                if Instant::now() > deadline {
                    anyhow::bail!(
                        "the CRM requests of the {placed} calls did not all arrive within {} s",
                        SETTLE_LIMIT.as_secs()
                    );
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
