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

/// The server's metrics in the Prometheus text format.
///
/// The gauges read from the database and the tenants are set first; a fact that could not be
/// had in time keeps its previous value.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format",
        content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)))]
pub async fn metrics(
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
