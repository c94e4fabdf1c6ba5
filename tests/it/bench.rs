//! `xelion-cti bench` with tiny sizes and short runs: its JSON keeps its shape and every
//! delivery arrived exactly once, on SQLite and on PostgreSQL; its table prints. No figure is
//! judged: speed is what BENCHMARKS.md reports, not what a test asserts.

use std::io::Read as _;
use std::process::Stdio;

use serde_json::Value;

use crate::helpers::{wait_exit_within, xcti};

/// Runs `xelion-cti bench` with `args`; answers (success, stdout, stderr).
fn bench(args: &[&str]) -> (bool, String, String) {
    let mut child = xcti()
        .arg("bench")
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bench starts");
    // Read while it runs, so a full pipe cannot stall it.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = wait_exit_within(&mut child, std::time::Duration::from_secs(600));
    (status.success(), out.join().unwrap(), err.join().unwrap())
}

/// The keys of an object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

fn assert_exactly_once(what: &str, t: &Value) {
    assert_eq!(
        keys(t),
        [
            "calls",
            "delivered",
            "deliveriesPerSecond",
            "duplicates",
            "events",
            "exactlyOnce",
            "missing",
            "seconds"
        ],
        "{what}"
    );
    let events = t["events"].as_u64().unwrap();
    assert!(events >= 3, "{what}: {t}");
    assert_eq!(t["events"], t["delivered"], "{what}: {t}");
    assert_eq!(t["duplicates"], 0, "{what}: {t}");
    assert_eq!(t["missing"], 0, "{what}: {t}");
    assert_eq!(t["exactlyOnce"], true, "{what}: {t}");
    assert!(
        t["deliveriesPerSecond"].as_f64().unwrap() > 0.0,
        "{what}: {t}"
    );
}

#[test]
fn bench_json_keeps_its_shape_and_counts_every_delivery_once() {
    let pg = cti_actors::store::testdb::fresh_postgres_url()
        .unwrap_or_else(|e| panic!("PostgreSQL is required for the tests: {e}"));
    let (ok, out, err) = bench(&[
        "--json",
        "--database-url",
        &pg,
        "--tenants",
        "2",
        "--users",
        "2",
        "--duration",
        "1",
        "--in-flight",
        "50",
        "--rates",
        "30,60",
        "--latency-duration",
        "0.5",
        "--idle-tenants",
        "1,3",
    ]);
    assert!(ok, "{out}\n{err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(
        keys(&report),
        [
            "latency",
            "machine",
            "options",
            "targets",
            "tenants",
            "throughput"
        ]
    );
    assert_eq!(
        keys(&report["machine"]),
        ["build", "cpus", "memoryKib", "os"]
    );
    assert_eq!(report["options"]["postgres"], true);
    assert_eq!(
        keys(&report["throughput"]),
        ["floor", "postgres", "sqlite", "sqliteOfFloor"]
    );
    for backend in ["sqlite", "postgres", "floor"] {
        assert_exactly_once(backend, &report["throughput"][backend]);
    }
    assert!(report["throughput"]["sqliteOfFloor"].as_f64().unwrap() > 0.0);
    for path in ["server", "floor"] {
        let runs = report["latency"][path].as_array().unwrap();
        let rates: Vec<f64> = runs
            .iter()
            .map(|r| r["eventsPerSecond"].as_f64().unwrap())
            .collect();
        assert_eq!(rates, [30.0, 60.0], "{path}");
        for r in runs {
            assert_eq!(
                keys(r),
                [
                    "delivered",
                    "events",
                    "eventsPerSecond",
                    "exactlyOnce",
                    "maxMs",
                    "p50Ms",
                    "p999Ms",
                    "p99Ms"
                ]
            );
            assert_eq!(r["exactlyOnce"], true, "{path}: {r}");
            assert_eq!(r["events"], r["delivered"], "{path}: {r}");
            let (p50, p99, max) = (
                r["p50Ms"].as_f64().unwrap(),
                r["p99Ms"].as_f64().unwrap(),
                r["maxMs"].as_f64().unwrap(),
            );
            assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{path}: {r}");
        }
    }
    let tenants = &report["tenants"];
    assert_eq!(
        keys(tenants),
        [
            "perTenantKib",
            "points",
            "restarted",
            "subscribedAfterRestartSeconds"
        ]
    );
    let counts: Vec<u64> = tenants["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["tenants"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [1, 3]);
    assert_eq!(tenants["restarted"], 3);
    assert!(tenants["subscribedAfterRestartSeconds"].as_f64().unwrap() > 0.0);
    let names: Vec<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(keys(t), ["measured", "name", "pass", "target", "unit"]);
            t["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        names,
        [
            "sqliteDeliveriesPerSecond",
            "sqliteOfFloor",
            "postgresDeliveriesPerSecond",
            "p99At1000EventsPerSecond",
            "kibPerIdleTenant",
            "subscribe1000TenantsSeconds"
        ]
    );
    // Measured where the run measured it: no 1,000 events/s rate and no 1,000 tenants here.
    let target = |name: &str| {
        report["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()
            .clone()
    };
    assert!(target("postgresDeliveriesPerSecond")["pass"].is_boolean());
    assert!(target("p99At1000EventsPerSecond")["measured"].is_null());
    assert!(target("subscribe1000TenantsSeconds")["pass"].is_null());
}

#[test]
fn bench_prints_a_table_and_leaves_out_what_it_skips() {
    let (ok, out, err) = bench(&[
        "--tenants",
        "1",
        "--users",
        "1",
        "--duration",
        "0.5",
        "--in-flight",
        "20",
        "--skip",
        "latency,floor,tenants",
    ]);
    assert!(ok, "{out}\n{err}");
    let sqlite = out
        .lines()
        .find(|l| l.trim_start().starts_with("SQLite "))
        .unwrap_or_else(|| panic!("no SQLite row:\n{out}"));
    assert!(sqlite.trim_end().ends_with("yes"), "{sqlite}");
    for line in [
        "PostgreSQL   not measured",
        "floor        not measured",
        "server   not measured",
        "Idle subscribed tenants: not measured",
    ] {
        assert!(out.contains(line), "no {line:?}:\n{out}");
    }
    let targets: Vec<&str> = out
        .lines()
        .skip_while(|l| *l != "Targets")
        .skip(1)
        .collect();
    assert_eq!(targets.len(), 6, "{out}");
    assert!(
        targets[0].contains(">= 10000 deliveries/s end to end on SQLite")
            && (targets[0].ends_with("pass") || targets[0].ends_with("miss")),
        "{out}"
    );
    assert!(targets[1].ends_with('-'), "{out}");
}
