//! `GET /health` (liveness) and `GET /health/ready` (database, tenants, users needing
//! re-authorisation, outbox backlog).

use std::collections::BTreeMap;
use std::time::Duration;

use actix::Addr;
use actix_web::{web, HttpResponse};
use cti_actors::clock::Timestamp;
use cti_actors::messages::{CheckReady, OutboxBacklog, ParkedUsers};
use cti_actors::store::Backlog;
use cti_actors::supervisor::ListTenants;
use cti_actors::Supervisor;
use serde_json::json;

/// How long readiness waits for the database (a `SELECT 1`, including the wait for a pooled
/// connection) before it answers 503.
pub const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the other facts of readiness and metrics may take each.
const FACT_TIMEOUT: Duration = Duration::from_secs(5);

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(live))
        .route("/health/ready", web::get().to(ready));
}

/// Liveness: the server answers.
///
/// Always `{"status": "ok"}` while the process serves requests; readiness is
/// `/health/ready`.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "the server answers", body = Object,
        example = json!({"status": "ok"}))))]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// What readiness and the metrics' gauges report; `None` where the fact could not be had in
/// time.
pub struct Snapshot {
    /// Tenants by socket state.
    pub tenants_by_state: Option<BTreeMap<&'static str, usize>>,
    /// Tenants whose actor is gone or stuck.
    pub tenants_not_running: Option<usize>,
    /// Users whose CRM credentials need re-authorisation.
    pub parked_users: Option<u64>,
    /// The outbox's open rows.
    pub backlog: Option<Backlog>,
}

async fn within<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = Option<T>>,
) -> Option<T> {
    tokio::time::timeout(limit, fut).await.ok().flatten()
}

/// Asks the supervisor for the tenants, the parked users and the backlog, each bounded in time.
pub async fn snapshot(supervisor: &Addr<Supervisor>) -> Snapshot {
    let (tenants, parked_users, backlog) = tokio::join!(
        within(FACT_TIMEOUT, async {
            supervisor.send(ListTenants).await.ok()
        }),
        within(FACT_TIMEOUT, async {
            supervisor
                .send(ParkedUsers {})
                .await
                .ok()
                .and_then(Result::ok)
        }),
        within(FACT_TIMEOUT, async {
            supervisor
                .send(OutboxBacklog {})
                .await
                .ok()
                .and_then(Result::ok)
        }),
    );
    Snapshot {
        tenants_by_state: tenants.as_ref().map(|t| {
            let mut by_state = BTreeMap::new();
            for s in t {
                *by_state.entry(s.state.as_str()).or_default() += 1;
            }
            by_state
        }),
        tenants_not_running: tenants
            .as_ref()
            .map(|t| t.iter().filter(|s| !s.state.is_running()).count()),
        parked_users,
        backlog,
    }
}

/// Readiness: the database, the tenants, the users needing re-authorisation, the outbox.
///
/// 200 when the database answers and the tenants could be listed, else 503 with the same
/// body saying which part is `unavailable`. A fact that could not be had in time is `null`.
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses(
        (status = 200, description = "ready", body = Object, example = json!({
            "status": "ready", "database": "ok", "tenants": 1, "tenantsNotRunning": 0,
            "tenantsByState": {"subscribed": 1}, "usersNeedingReauthorisation": 0,
            "outbox": {"backlog": 0, "pending": 0, "retrying": 0, "held": 0,
                       "oldestPendingAgeSeconds": null},
            "logLinesDropped": 0})),
        (status = 503, description = "not ready: the database or the tenants did not answer in time", body = Object)))]
pub async fn ready(supervisor: web::Data<Addr<Supervisor>>) -> HttpResponse {
    let (database, facts) = tokio::join!(
        within(DATABASE_TIMEOUT, async {
            supervisor
                .send(CheckReady {})
                .await
                .ok()
                .and_then(Result::ok)
        }),
        snapshot(&supervisor),
    );
    let database = database.is_some();
    let outbox = match &facts.backlog {
        Some(b) => json!({
            "backlog": b.total(),
            "pending": b.pending,
            "retrying": b.retrying,
            "held": b.held,
            // Seconds since the oldest open delivery was accepted; null when there is none.
            "oldestPendingAgeSeconds": b.oldest_created_at.map(|t| {
                (Timestamp::now().millis() - t.millis()).max(0) / 1000
            }),
        }),
        None => serde_json::Value::Null,
    };
    let ready = database && facts.tenants_by_state.is_some();
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": if database { "ok" } else { "unavailable" },
        "tenants": facts.tenants_by_state.as_ref().map(|t| t.values().sum::<usize>()),
        // Stopped or stuck tenant actors; the supervisor restarts stopped ones.
        "tenantsNotRunning": facts.tenants_not_running,
        "tenantsByState": facts.tenants_by_state,
        "usersNeedingReauthorisation": facts.parked_users,
        "outbox": outbox,
        // Log lines lost because stderr was closed or too slow (the server went on).
        "logLinesDropped": crate::logging::dropped_lines(),
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
