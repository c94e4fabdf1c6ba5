//! What the demo prints: the banner, each call with its events, each CRM request.

use cti_sim::api::{NewCall, PlacedCall};
use cti_sim::Control;
use serde_json::Value;

/// The addresses, the login and a first request to try.
pub fn banner(url: &str, id: i64, host: &str, xelion: &str, crm: &str, token: &str) {
    println!(
        "xelion-cti demo: the server, the Xelion simulator and the CRM simulator in one process"
    );
    println!();
    println!("  API            {url}/api   (OpenAPI: {url}/api/openapi.json)");
    println!("  Health         {url}/health/ready   metrics: {url}/metrics");
    println!(
        "  Login          adminUsername admin, adminPassword admin, host {host}, tenant master"
    );
    println!("  Status page    {url}/ui   (log in with the login above)");
    println!("  Token          Authorization: xelion {token}");
    println!("  Try            curl -s {url}/api/crm-integrations/{id}/deliveries -H 'Authorization: xelion {token}'");
    println!("  Xelion sim     {xelion}   CRM sim: {crm}");
    println!("  Database       SQLite in a temporary directory, removed at exit");
    println!();
}

/// The tenant is subscribed.
pub fn subscribed(status: &Value) {
    let events: Vec<&str> = status["subscribedEvents"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    println!(
        "Tenant {} subscribed to {}. Placing calls; Ctrl-C stops.",
        status["label"].as_str().unwrap_or("?"),
        events.join(", ")
    );
    println!();
}

/// A placed call and the events Xelion sent for it.
pub fn call(n: u64, kind: &str, call: &NewCall, placed: &PlacedCall) {
    let to = match &call.transfer_to {
        Some(t) => format!("{} (then transferred to {t})", call.to),
        None => call.to.clone(),
    };
    println!(
        "call {n}: {kind}, {} -> {to}   callId {}",
        call.from, placed.call_id
    );
    for frame in &placed.events {
        let e = &frame["notification"];
        println!(
            "  event {:<20} callId {}  {} -> {}",
            frame["notificationType"].as_str().unwrap_or("?"),
            e["callId"].as_str().unwrap_or("?"),
            party(e, "caller"),
            party(e, "callee"),
        );
    }
}

fn party(e: &Value, side: &str) -> String {
    let number = e[format!("{side}PhoneNumber")].as_str().unwrap_or("-");
    match e[format!("{side}User")].as_str() {
        Some(user) => format!("{number} ({user})"),
        None => number.to_string(),
    }
}

/// Prints the CRM simulator's recorded requests not printed yet.
#[derive(Default)]
pub struct CrmPrinter {
    last_id: u64,
    seen: u64,
}

impl CrmPrinter {
    /// Requests printed so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    pub async fn poll(&mut self, control: &Control) -> anyhow::Result<()> {
        let requests = control.crm_requests().await?;
        let after = self.last_id;
        for r in requests.iter().filter(|r| r.id > after) {
            self.last_id = r.id;
            self.seen += 1;
            let what = r.path.rsplit('/').next().unwrap_or(&r.path);
            let status = r.status.map_or("no answer".to_string(), |s| s.to_string());
            println!(
                "  CRM   {} {what:<14} as {:<6} -> {status}   {}?{}",
                r.method,
                r.subject.as_deref().unwrap_or("?"),
                r.path,
                r.query
            );
            if !r.body.is_null() {
                println!("        body {}", r.body);
            }
        }
        Ok(())
    }
}

/// The end of `--calls N`.
pub fn summary(calls: u64, requests: u64) {
    println!();
    println!("{calls} calls placed; the CRM simulator received {requests} requests.");
}
