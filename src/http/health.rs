//! `GET /health` (liveness) and `GET /health/ready` (database, tenants, outbox backlog).

use actix::Addr;
use actix_web::{web, HttpResponse};
use cti_actors::clock::Timestamp;
use cti_actors::messages::{CheckReady, OutboxBacklog};
use cti_actors::supervisor::ListTenants;
use cti_actors::tenant::TenantState;
use cti_actors::Supervisor;
use serde_json::json;

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(live))
        .route("/health/ready", web::get().to(ready));
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn ready(supervisor: web::Data<Addr<Supervisor>>) -> HttpResponse {
    let database = matches!(supervisor.send(CheckReady {}).await, Ok(Ok(())));
    let tenants = supervisor.send(ListTenants).await.ok();
    let outbox = match supervisor.send(OutboxBacklog {}).await {
        Ok(Ok(b)) => json!({
            "backlog": b.total(),
            "pending": b.pending,
            "retrying": b.retrying,
            "held": b.held,
            // Seconds since the oldest open delivery was accepted; null when there is none.
            "oldestPendingAgeSeconds": b.oldest_created_at.map(|t| {
                (Timestamp::now().millis() - t.millis()).max(0) / 1000
            }),
        }),
        _ => serde_json::Value::Null,
    };
    let ready = database && tenants.is_some();
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": if database { "ok" } else { "unavailable" },
        "tenants": tenants.as_ref().map(Vec::len),
        // Stopped or stuck tenant actors; the supervisor restarts stopped ones.
        "tenantsNotRunning": tenants.as_ref().map(|t| {
            t.iter().filter(|s| !s.state.is_running()).count()
        }),
        "tenantsByState": tenants.as_ref().map(|t| {
            let mut by_state = std::collections::BTreeMap::<TenantState, usize>::new();
            for s in t {
                *by_state.entry(s.state).or_default() += 1;
            }
            by_state
        }),
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
