//! The bench's result: one JSON object of stable shape (every key always present, `null`
//! where a figure was not measured) and the table printed from it.

use serde::Serialize;

use super::measure::{Latency, Throughput};

/// Everything one run measured.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub machine: Machine,
    pub options: Options,
    pub throughput: Throughputs,
    pub latency: Latencies,
    pub tenants: Option<Tenants>,
    pub targets: Vec<Target>,
}

/// Where it ran.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub cpus: usize,
    pub memory_kib: Option<u64>,
    pub os: String,
    /// `release` or `debug` (a debug build's figures say little).
    pub build: String,
}

impl Machine {
    pub fn here() -> Machine {
        let memory_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        });
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_kib,
            os: std::env::consts::OS.to_string(),
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .to_string(),
        }
    }
}

/// The sizes, rates and durations used.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Options {
    pub tenants: u32,
    pub users: u32,
    pub duration_seconds: f64,
    pub in_flight: u64,
    pub rates: Vec<f64>,
    pub latency_duration_seconds: f64,
    pub idle_tenants: Vec<u32>,
    pub postgres: bool,
}

/// Deliveries per second on each backend and through the floor.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throughputs {
    pub sqlite: Option<Throughput>,
    pub postgres: Option<Throughput>,
    pub floor: Option<Throughput>,
    /// SQLite's deliveries per second as a fraction of the floor's.
    pub sqlite_of_floor: Option<f64>,
}

/// Latency at each offered rate, through the server (SQLite) and through the floor.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latencies {
    pub server: Vec<Latency>,
    pub floor: Vec<Latency>,
}

/// Memory of idle subscribed tenants and the time to subscribe them after a restart.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenants {
    pub points: Vec<TenantPoint>,
    /// Least-squares slope of resident memory over tenants.
    pub per_tenant_kib: Option<f64>,
    /// Tenants restarted (the largest count).
    pub restarted: u32,
    /// From starting the server again to all of them subscribed.
    pub subscribed_after_restart_seconds: f64,
}

/// Resident memory with `tenants` idle subscribed tenants.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantPoint {
    pub tenants: u32,
    pub rss_kib: Option<u64>,
}

/// One target of the release, with what was measured against it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// A stable key.
    pub name: String,
    /// The target in words.
    pub target: String,
    /// The figure (in `unit`), null when not measured.
    pub measured: Option<f64>,
    pub unit: String,
    /// Null when not measured.
    pub pass: Option<bool>,
}

/// The slope of `y` over `x` by least squares; none with fewer than two distinct `x`.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

impl Report {
    /// The release's targets against the figures.
    pub fn judge(&mut self) {
        let mut t = Vec::new();
        let mut add =
            |name: &str, target: &str, measured: Option<f64>, unit: &str, ok: fn(f64) -> bool| {
                t.push(Target {
                    name: name.into(),
                    target: target.into(),
                    measured,
                    unit: unit.into(),
                    pass: measured.map(ok),
                })
            };
        let dps = |x: &Option<Throughput>| x.as_ref().map(|t| t.deliveries_per_second);
        add(
            "sqliteDeliveriesPerSecond",
            ">= 10000 deliveries/s end to end on SQLite",
            dps(&self.throughput.sqlite),
            "deliveries/s",
            |v| v >= 10_000.0,
        );
        add(
            "sqliteOfFloor",
            ">= 35% of the floor on SQLite",
            self.throughput.sqlite_of_floor.map(|f| f * 100.0),
            "%",
            |v| v >= 35.0,
        );
        add(
            "postgresDeliveriesPerSecond",
            ">= 5000 deliveries/s end to end on PostgreSQL",
            dps(&self.throughput.postgres),
            "deliveries/s",
            |v| v >= 5_000.0,
        );
        let p99 = self
            .latency
            .server
            .iter()
            .find(|l| (l.events_per_second - 1000.0).abs() < 0.5)
            .map(|l| l.p99_ms);
        add(
            "p99At1000EventsPerSecond",
            "p99 < 10 ms at 1,000 events/s",
            p99,
            "ms",
            |v| v < 10.0,
        );
        let tenants = self.tenants.as_ref();
        add(
            "kibPerIdleTenant",
            "<= 100 KiB per idle tenant",
            tenants.and_then(|t| t.per_tenant_kib),
            "KiB",
            |v| v <= 100.0,
        );
        let restart = tenants
            .filter(|t| t.restarted >= 1000)
            .map(|t| t.subscribed_after_restart_seconds);
        add(
            "subscribe1000TenantsSeconds",
            "1,000 tenants subscribed within 60 s of a restart",
            restart,
            "s",
            |v| v <= 60.0,
        );
        self.targets = t;
    }

    /// Whether every run of the server found each delivery exactly once (the floor, which
    /// has no outbox and no retries, is a yardstick, not under test).
    pub fn exactly_once(&self) -> bool {
        let t = &self.throughput;
        [&t.sqlite, &t.postgres]
            .into_iter()
            .flatten()
            .all(|x| x.exactly_once)
            && self.latency.server.iter().all(|l| l.exactly_once)
    }

    /// The table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        let m = &self.machine;
        let o = &self.options;
        line(format!(
            "xelion-cti bench: {} CPUs, {} memory, {}, {} build",
            m.cpus,
            m.memory_kib.map_or("unknown".into(), |k| format!(
                "{:.1} GiB",
                k as f64 / 1048576.0
            )),
            m.os,
            m.build
        ));
        line(String::new());
        line(format!(
            "Throughput: {} tenants x {} users, load offered for {} s, at most {} events in flight",
            o.tenants, o.users, o.duration_seconds, o.in_flight
        ));
        line(format!(
            "  {:<12} {:>10} {:>10} {:>8} {:>12} {:>13}",
            "path", "events", "delivered", "seconds", "per second", "exactly once"
        ));
        for (name, t) in [
            ("SQLite", &self.throughput.sqlite),
            ("PostgreSQL", &self.throughput.postgres),
            ("floor", &self.throughput.floor),
        ] {
            match t {
                Some(t) => line(format!(
                    "  {:<12} {:>10} {:>10} {:>8.2} {:>12.0} {:>13}",
                    name,
                    t.events,
                    t.delivered,
                    t.seconds,
                    t.deliveries_per_second,
                    yes_no(t.exactly_once, t.duplicates, t.missing)
                )),
                None => line(format!("  {name:<12} not measured")),
            }
        }
        if let Some(f) = self.throughput.sqlite_of_floor {
            line(format!("  SQLite reaches {:.0}% of the floor", f * 100.0));
        }
        line(String::new());
        line(format!(
            "Latency: websocket frame written -> CRM request received, {} s per rate",
            o.latency_duration_seconds
        ));
        line(format!(
            "  {:<8} {:>9} {:>8} {:>9} {:>8} {:>8} {:>9} {:>8} {:>13}",
            "path",
            "events/s",
            "events",
            "delivered",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "exactly once"
        ));
        for (name, list) in [
            ("server", &self.latency.server),
            ("floor", &self.latency.floor),
        ] {
            if list.is_empty() {
                line(format!("  {name:<8} not measured"));
            }
            for l in list {
                line(format!(
                    "  {:<8} {:>9.0} {:>8} {:>9} {:>8.2} {:>8.2} {:>9.2} {:>8.2} {:>13}",
                    name,
                    l.events_per_second,
                    l.events,
                    l.delivered,
                    l.p50_ms,
                    l.p99_ms,
                    l.p999_ms,
                    l.max_ms,
                    yes_no(l.exactly_once, 0, l.events.saturating_sub(l.delivered))
                ));
            }
        }
        line(String::new());
        match &self.tenants {
            Some(t) => {
                line("Idle subscribed tenants: resident memory of the server".into());
                for p in &t.points {
                    line(format!(
                        "  {:>6} tenants {:>10}",
                        p.tenants,
                        p.rss_kib.map_or("unknown".into(), |k| format!(
                            "{:.1} MiB",
                            k as f64 / 1024.0
                        ))
                    ));
                }
                line(format!(
                    "  per tenant: {}; {} tenants subscribed {:.1} s after a restart",
                    t.per_tenant_kib
                        .map_or("unknown".into(), |k| format!("{k:.1} KiB")),
                    t.restarted,
                    t.subscribed_after_restart_seconds
                ));
            }
            None => line("Idle subscribed tenants: not measured".into()),
        }
        line(String::new());
        line("Targets".into());
        for t in &self.targets {
            let measured = t
                .measured
                .map_or("not measured".into(), |v| format!("{v:.1} {}", t.unit));
            let verdict = match t.pass {
                Some(true) => "pass",
                Some(false) => "miss",
                None => "-",
            };
            line(format!("  {:<52} {:>22}  {verdict}", t.target, measured));
        }
        out
    }
}

fn yes_no(ok: bool, duplicates: u64, missing: u64) -> String {
    if ok {
        "yes".into()
    } else {
        format!("NO ({duplicates} dup, {missing} missing)")
    }
}

#[cfg(test)]
mod tests {
    use super::slope;

    #[test]
    fn slope_of_a_line() {
        let s = slope(&[(1.0, 10.0), (100.0, 109.0), (1000.0, 1009.0)]).unwrap();
        assert!((s - 1.0).abs() < 1e-9);
        assert_eq!(slope(&[(1.0, 2.0)]), None);
    }
}
