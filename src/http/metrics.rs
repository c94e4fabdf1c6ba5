//! `GET /metrics`: the server's metrics in the Prometheus text format.

use actix::Addr;
use actix_web::{web, HttpResponse};
use cti_actors::clock::Timestamp;
use cti_actors::metrics::{Metrics, CONTENT_TYPE};
use cti_actors::Supervisor;

use crate::http::health::snapshot;

/// Registers the route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

/// Sets the gauges that are read from the database and the tenants, then encodes everything.
/// A fact that could not be had in time keeps its previous value.
async fn metrics(
    supervisor: web::Data<Addr<Supervisor>>,
    metrics: web::Data<Metrics>,
) -> HttpResponse {
    let facts = snapshot(&supervisor).await;
    if let Some(by_state) = &facts.tenants_by_state {
        metrics.set_tenant_sockets(by_state.iter().map(|(s, n)| (*s, *n)));
    }
    if let Some(n) = facts.parked_users {
        metrics.set_parked_users(n);
    }
    if let Some(b) = &facts.backlog {
        metrics.set_backlog(b, Timestamp::now().millis());
    }
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(metrics.encode())
}
