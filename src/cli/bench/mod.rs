//! `xelion-cti bench`: the real server (`xelion-cti serve` as a child process: its HTTP API,
//! websockets, storage and dispatch) against the simulators on loopback, and a minimal
//! forwarder beside it as the floor of what this machine can do. Prints a table, or with
//! `--json` one object of stable shape (see `report.rs`). BENCHMARKS.md explains the figures.
//!
//! Every scenario's load comes from the Xelion simulator's bulk generator (`/_sim/xelion/load`)
//! and every delivery is one request to the CRM simulator, which keeps only its path and
//! arrival time: the path names the call, the event and when its frame was written.

mod floor;
mod measure;
mod report;
mod server;
mod world;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use cti_sim::api::{CrmSettings, LoadSpec, NewAccessToken, RecordMode};
use cti_sim::{Control, Sim, SimConfig, SimHandle};

use crate::cli::demo::TempDir;
use measure::{Latency, Throughput};
use report::{Latencies, Machine, Options, Report, TenantPoint, Tenants, Throughputs};
use server::Server;
use world::Api;

/// Arguments of `xelion-cti bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also measure throughput on this PostgreSQL database (`postgres://user@host/db`). It
    /// must hold no integration; the bench deletes the ones it creates.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Tenants of the throughput and latency runs.
    #[arg(long, default_value_t = 4)]
    pub tenants: u32,
    /// Registered users per tenant (calls go to them in turn).
    #[arg(long, default_value_t = 10)]
    pub users: u32,
    /// Seconds the throughput runs offer load.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Events written and not yet delivered, at most, in the throughput runs.
    #[arg(long, default_value_t = 4000)]
    pub in_flight: u64,
    /// Offered rates of the latency runs, events per second (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [200.0, 1000.0])]
    pub rates: Vec<f64>,
    /// Seconds of each latency run.
    #[arg(long, default_value_t = 8.0)]
    pub latency_duration: f64,
    /// Counts of idle subscribed tenants at which the server's memory is read; the largest is
    /// also restarted (comma-separated; empty to skip).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 100, 1000])]
    pub idle_tenants: Vec<u32>,
    /// Scenarios to leave out: throughput, latency, floor, tenants (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub skip: Vec<Scenario>,
}

/// A scenario of the bench.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Throughput,
    Latency,
    Floor,
    Tenants,
}

/// Requests in flight per tenant in the floor (the server's default per crm context).
const FLOOR_IN_FLIGHT: usize = 16;
/// Limit for tenants to subscribe.
const SUBSCRIBE_LIMIT: Duration = Duration::from_secs(300);

impl BenchArgs {
    fn runs(&self, s: Scenario) -> bool {
        !self.skip.contains(&s)
    }

    fn check(&self) -> anyhow::Result<()> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if self.tenants == 0 || self.users == 0 {
            anyhow::bail!("--tenants and --users must be at least 1");
        }
        if !positive(self.duration) || !positive(self.latency_duration) {
            anyhow::bail!("--duration and --latency-duration must be seconds above 0");
        }
        if self.in_flight == 0 {
            anyhow::bail!("--in-flight must be at least 1");
        }
        if !self.rates.iter().all(|r| positive(*r)) {
            anyhow::bail!("--rates must be events per second above 0");
        }
        if self.idle_tenants.contains(&0) {
            anyhow::bail!("--idle-tenants must be counts of at least 1");
        }
        Ok(())
    }
}

/// Runs the bench and prints its report.
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    args.check()?;
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "warn");
    }
    crate::logging::init(false);
    let dir = TempDir::new()?;
    let sim = Sim::start(SimConfig::empty()).context("starting the simulators")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the bench's runtime")?;
    let report = runtime.block_on(bench(&args, &sim, &dir.0));
    drop(runtime);
    sim.stop();
    let report = report?;
    if args.json {
        let text = serde_json::to_string_pretty(&report).context("writing the JSON")?;
        crate::logging::stdout_line(&text);
    } else {
        crate::logging::stdout_line(report.table().trim_end());
    }
    Ok(if report.exactly_once() {
        ExitCode::SUCCESS
    } else {
        crate::logging::stderr_line("error: some deliveries did not arrive exactly once");
        ExitCode::FAILURE
    })
}

/// A progress line on stderr.
fn say(s: &str) {
    crate::logging::stderr_line(&format!("bench: {s}"));
}

async fn bench(args: &BenchArgs, sim: &SimHandle, dir: &Path) -> anyhow::Result<Report> {
    let control = sim.control();
    control
        .set_crm_settings(&CrmSettings {
            record: Some(RecordMode::Arrivals),
            ..Default::default()
        })
        .await?;
    control
        .add_client(world::CLIENT_ID, Some(world::CLIENT_SECRET))
        .await?;
    let mut report = Report {
        machine: Machine::here(),
        options: Options {
            tenants: args.tenants,
            users: args.users,
            duration_seconds: args.duration,
            in_flight: args.in_flight,
            rates: args.rates.clone(),
            latency_duration_seconds: args.latency_duration,
            idle_tenants: args.idle_tenants.clone(),
            postgres: args.database_url.is_some(),
        },
        throughput: Throughputs::default(),
        latency: Latencies::default(),
        tenants: None,
        targets: Vec::new(),
    };
    let loaded = args.runs(Scenario::Throughput) || args.runs(Scenario::Latency);
    let tenants = if loaded || args.runs(Scenario::Floor) {
        say(&format!(
            "{} tenants of {} users in the simulator",
            args.tenants, args.users
        ));
        world::add_tenants(&control, "bench", args.tenants, args.users, None).await?
    } else {
        Vec::new()
    };

    if loaded {
        let db = format!("sqlite://{}", dir.join("bench.db").display());
        let mut server = Server::start(&db, &dir.join("bench.key"), &dir.join("serve.log"))?;
        let api = Api::new(&server.url, &sim.xelion_addr().to_string(), &sim.crm_url());
        prepare(&api, &control, &tenants, args).await?;
        if args.runs(Scenario::Throughput) {
            say("throughput on SQLite");
            report.throughput.sqlite = Some(throughput(&control, &tenants, args).await?);
            server.check_running()?;
        }
        if args.runs(Scenario::Latency) {
            for rate in &args.rates {
                say(&format!("latency at {rate} events/s"));
                report
                    .latency
                    .server
                    .push(latency(&control, &tenants, *rate, args).await?);
            }
            server.check_running()?;
        }
        server.stop();
    }

    if args.runs(Scenario::Floor) {
        let token = control
            .add_access_token(&NewAccessToken {
                token: None,
                subject: "floor".into(),
                expires_in_seconds: Some(24 * 3600),
            })
            .await?
            .token;
        let floor = floor::start(
            &sim.xelion_url(),
            &sim.crm_url(),
            &tenants,
            &token,
            FLOOR_IN_FLIGHT,
        )
        .await?;
        for t in &tenants {
            control
                .wait_for_subscriptions(t, Some("admin"), &world::EVENTS, 1, SUBSCRIBE_LIMIT)
                .await?;
        }
        say("throughput through the floor");
        report.throughput.floor = Some(throughput(&control, &tenants, args).await?);
        for rate in &args.rates {
            say(&format!("floor latency at {rate} events/s"));
            report
                .latency
                .floor
                .push(latency(&control, &tenants, *rate, args).await?);
        }
        drop(floor);
    }

    if let (Some(url), true) = (&args.database_url, args.runs(Scenario::Throughput)) {
        let mut server = Server::start(url, &dir.join("pg.key"), &dir.join("serve-pg.log"))?;
        let api = Api::new(&server.url, &sim.xelion_addr().to_string(), &sim.crm_url());
        let existing = api.ready().await?["tenants"].as_u64().unwrap_or(0);
        if existing > 0 {
            anyhow::bail!(
                "the database {} holds {existing} integrations already; the bench needs one of its own",
                crate::app::redact_url(url)
            );
        }
        let ids = prepare(&api, &control, &tenants, args).await?;
        say("throughput on PostgreSQL");
        let result = throughput(&control, &tenants, args).await;
        server.check_running()?;
        api.delete_integrations(&tenants, &ids).await?;
        server.stop();
        report.throughput.postgres = Some(result?);
    }

    if let (Some(sqlite), Some(floor)) = (&report.throughput.sqlite, &report.throughput.floor) {
        if floor.deliveries_per_second > 0.0 {
            report.throughput.sqlite_of_floor =
                Some(sqlite.deliveries_per_second / floor.deliveries_per_second);
        }
    }

    if args.runs(Scenario::Tenants) && !args.idle_tenants.is_empty() {
        report.tenants = Some(idle_tenants(&control, sim, dir, args).await?);
    }
    report.judge();
    Ok(report)
}

/// Creates the integrations, waits for their sockets and warms up (one call per user: the
/// token grants); answers the xelion context ids.
async fn prepare(
    api: &Api,
    control: &Control,
    tenants: &[String],
    args: &BenchArgs,
) -> anyhow::Result<Vec<i64>> {
    say("creating the integrations through the API");
    let ids = api.create_integrations(tenants, args.users, None).await?;
    api.wait_subscribed(tenants.len() as u64, SUBSCRIBE_LIMIT)
        .await?;
    let calls = u64::from(args.tenants) * u64::from(args.users);
    control.clear_crm_arrivals().await?;
    let before = control.crm_counters().await?.resource_requests;
    let done = control
        .load(&LoadSpec {
            tenants: Some(tenants.to_vec()),
            calls,
            max_in_flight: Some(args.in_flight),
            ..Default::default()
        })
        .await?;
    let warm = measure::collect(control, before, done.frames).await?;
    let t = measure::throughput(&done, &warm);
    if !t.exactly_once {
        anyhow::bail!(
            "warming up: {} of {} deliveries arrived ({} duplicates)",
            t.delivered,
            t.events,
            t.duplicates
        );
    }
    Ok(ids)
}

/// Calls as fast as the pipeline takes them (a window of unanswered events) for the
/// duration; every delivery checked.
async fn throughput(
    control: &Control,
    tenants: &[String],
    args: &BenchArgs,
) -> anyhow::Result<Throughput> {
    control.clear_crm_arrivals().await?;
    let before = control.crm_counters().await?.resource_requests;
    let done = control
        .load(&LoadSpec {
            tenants: Some(tenants.to_vec()),
            calls: 1 << 40,
            duration_seconds: Some(args.duration),
            max_in_flight: Some(args.in_flight),
            ..Default::default()
        })
        .await?;
    let arrivals = measure::collect(control, before, done.frames).await?;
    Ok(measure::throughput(&done, &arrivals))
}

/// Calls at a fixed rate of events for the latency duration.
async fn latency(
    control: &Control,
    tenants: &[String],
    rate: f64,
    args: &BenchArgs,
) -> anyhow::Result<Latency> {
    control.clear_crm_arrivals().await?;
    let before = control.crm_counters().await?.resource_requests;
    let calls = ((rate * args.latency_duration) / 3.0).ceil().max(1.0) as u64;
    let done = control
        .load(&LoadSpec {
            tenants: Some(tenants.to_vec()),
            calls,
            events_per_second: Some(rate),
            ..Default::default()
        })
        .await?;
    let arrivals = measure::collect(control, before, done.frames).await?;
    Ok(measure::latency(rate, &done, &arrivals))
}

/// Resident memory with growing numbers of idle subscribed tenants, then the time for the
/// largest number to subscribe again after a restart.
async fn idle_tenants(
    control: &Control,
    sim: &SimHandle,
    dir: &Path,
    args: &BenchArgs,
) -> anyhow::Result<Tenants> {
    let mut counts = args.idle_tenants.clone();
    counts.sort_unstable();
    counts.dedup();
    let max = counts.last().copied().unwrap_or(0);
    say(&format!("{max} idle tenants in the simulator"));
    let names = world::add_tenants(control, "idle", max, 1, Some("rt-idle")).await?;
    let db = format!("sqlite://{}", dir.join("idle.db").display());
    let key = dir.join("idle.key");
    let log = dir.join("serve-idle.log");
    let mut server = Server::start(&db, &key, &log)?;
    let api = Api::new(&server.url, &sim.xelion_addr().to_string(), &sim.crm_url());
    let mut points = Vec::new();
    let mut created = 0usize;
    for n in counts {
        say(&format!("{n} idle tenants subscribed"));
        api.create_integrations(&names[created..n as usize], 1, Some("rt-idle"))
            .await?;
        created = n as usize;
        api.wait_subscribed(u64::from(n), SUBSCRIBE_LIMIT).await?;
        // Let the sockets and allocator settle before reading.
        tokio::time::sleep(Duration::from_secs(2)).await;
        server.check_running()?;
        points.push(TenantPoint {
            tenants: n,
            rss_kib: server.rss_kib(),
        });
    }
    say(&format!("restarting with {max} tenants"));
    server.stop();
    let started = std::time::Instant::now();
    let server = Server::start(&db, &key, &log)?;
    let api = Api::new(&server.url, &sim.xelion_addr().to_string(), &sim.crm_url());
    api.wait_subscribed(u64::from(max), SUBSCRIBE_LIMIT).await?;
    let seconds = started.elapsed().as_secs_f64();
    server.stop();
    let xy: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| Some((f64::from(p.tenants), p.rss_kib? as f64)))
        .collect();
    Ok(Tenants {
        per_tenant_kib: report::slope(&xy),
        points,
        restarted: max,
        subscribed_after_restart_seconds: seconds,
    })
}
